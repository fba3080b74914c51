"""The filter's own counters, for tools/obs_bench.py and the e2e tests.

Cumulative since the filter was created (never reset), so a reader takes two snapshots
and subtracts. With ``$OBS_BG_REPLACE_STATS_DIR`` set, each filter writes its snapshot
as ``<dir>/<filter name>.json`` about twice a second (from ``video_tick``); otherwise
nothing is written. Counting costs a few dict updates per frame.
"""

from __future__ import annotations

import json
import os
import time

STATS_DIR_ENV = "OBS_BG_REPLACE_STATS_DIR"
WRITE_EVERY_S = 0.5
AGE_BINS = 32  # matte ages of 31 frames and more share the last bin


class Counters:
    """Sums (ms, counts) and a histogram of matte ages in frames."""

    def __init__(self):
        self.values: dict[str, float] = {}
        self.ages = [0] * AGE_BINS
        self._dir = os.environ.get(STATS_DIR_ENV) or None
        self._last_write = 0.0

    def add(self, **amounts: float) -> None:
        v = self.values
        for k, x in amounts.items():
            v[k] = v.get(k, 0.0) + x

    def age(self, frames: int) -> None:
        """One drawn frame whose matte came from ``frames`` frames earlier."""
        self.ages[min(max(int(frames), 0), AGE_BINS - 1)] += 1

    def snapshot(self, **extra) -> dict:
        return {"time": time.monotonic(), **self.values, "age_hist": list(self.ages), **extra}

    def maybe_write(self, name: str, **extra) -> None:
        """Write the snapshot to the stats folder (if one is set), at most every 0.5 s."""
        if self._dir is None:
            return
        now = time.monotonic()
        if now - self._last_write < WRITE_EVERY_S:
            return
        self._last_write = now
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "filter"
        path = os.path.join(self._dir, safe + ".json")
        try:
            with open(path + ".tmp", "w") as f:
                json.dump(self.snapshot(**extra), f)
            os.replace(path + ".tmp", path)  # readers never see half a file
        except OSError:
            self._dir = None  # a folder we cannot write: stop trying


def window(a: dict, b: dict) -> dict:
    """What happened between two snapshots ``a`` (earlier) and ``b``: count differences,
    seconds, and matte age mean / max over the window."""
    num = lambda v: isinstance(v, (int, float))  # noqa: E731 - values that may be None are left out
    out = {k: b[k] - a.get(k, 0.0) for k in b if num(b[k]) and num(a.get(k, 0.0))}
    hist = [y - x for x, y in zip(a.get("age_hist", [0] * AGE_BINS), b["age_hist"])]
    n = sum(hist)
    out["age_frames"] = n
    out["age_mean"] = sum(i * c for i, c in enumerate(hist)) / n if n else float("nan")
    out["age_max"] = max((i for i, c in enumerate(hist) if c > 0), default=float("nan"))
    return out
