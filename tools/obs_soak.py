"""Long session: the filter in a real headless OBS for N minutes, sampled at intervals.

    python3 tools/obs_soak.py --minutes 10            # the documented run (docs/OBS.md)
    python3 tools/obs_soak.py --minutes 2 --interval 30 --baseline 20   # the CI version

OBS 29 (Debian) under Xvfb with software OpenGL, 1280×720 at 30 fps, one looping media
source showing a moving person (an mp4 written at run time, nothing from ../shared). First
``--baseline`` seconds without the filter, then the filter (default settings: GPU path,
colour background) for ``--minutes``. Each interval it samples OBS's resident memory
(/proc), OBS's render-skipped and rendered frame counters (obs-websocket GetStats), the
filter's status line (worker frame time and fps, logged every second by
tests/obs/stats_probe.py), the filter's own counters (obs_filter/stats.py: the
synchronised picture delay, how many times it was chosen in the interval, the shedding
level and the share of frames shed, the matte age) and the machine's load average, and
prints one table row.

Criteria (the first interval after the filter is added is the warm-up):
  * RSS at the end ≤ RSS after warm-up + 20 MB;
  * render-skipped frames do not appear over time: the skipped share of frames in the
    second half of the intervals exceeds that of the first half by ≤ 2 percentage points;
  * the worker's frame time does not drift: median of the second half ≤ 1.3 × the first;
  * the synchronised picture delay, chosen once from the first mattes, holds (no further choice);
  * a clean exit, no Python traceback, OBS's leak count no higher than at the start of
    OBS without the script (a separate short run).
Exit status 0 when all hold, 1 otherwise. This machine is shared: the load column says how
busy it was.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "obs")]

import obs_harness as oh  # noqa: E402
import person_clip  # noqa: E402

from obs_filter.stats import STATS_DIR_ENV, window  # noqa: E402

PROBE = ROOT / "tests" / "obs" / "stats_probe.py"
SOURCE, FILTER = "clip", "bg"
_STATS_RE = re.compile(rf"stats-probe {SOURCE}/{FILTER}: inference ([\d.]+) ms · total ([\d.]+) ms · "
                       r"worker ([\d.]+) fps")


@dataclass
class Sample:
    t_min: float
    filter_on: bool
    rss_mb: float
    skipped: int  # render-skipped frames in this interval
    frames: int  # rendered frames in this interval
    render_ms: float  # OBS's average frame render time (its own moving average)
    worker_ms: float | None  # median of the filter's per-frame total over the interval
    worker_fps: float | None
    load: float
    delay_ms: float | None = None  # the synchronised picture delay at the sample (None: being measured)
    delay_choices: int = 0  # times the delay was chosen in the interval (log lines)
    shed_level: int = 1  # read back every n-th frame, at the sample
    shed_share: float | None = None  # share of frames not read back in the interval (None: no window yet)
    age_mean: float = float("nan")  # matte age in frames over the interval
    age_max: float = float("nan")


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    rc: int | None = None
    leaks: int | None = None
    base_leaks: int | None = None
    tracebacks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _probe_values(log: str, start: int) -> tuple[list[float], list[float]]:
    """Worker total ms and fps from the probe lines after character ``start`` of the log."""
    totals, fps = [], []
    for m in _STATS_RE.finditer(log, start):
        totals.append(float(m.group(2)))
        fps.append(float(m.group(3)))
    return totals, fps


def run_soak(minutes: float, interval: float = 60.0, baseline: float = 60.0, width: int = 1280,
             height: int = 720, fps: int = 30, workdir: Path | None = None, out=print, drift: float = 1.3,
             skip_growth: float = 0.02) -> Result:
    """Run the soak; ``out`` receives the table lines as they come. ``drift`` and
    ``skip_growth`` are the criteria's limits (see the module docstring)."""
    tmp = tempfile.TemporaryDirectory(prefix="obs-soak-") if workdir is None else None
    work = Path(tmp.name if tmp else workdir)
    res = Result()
    try:
        clip = person_clip.moving_clip(work / "moving person.mp4", width, height, fps, speed=max(2, width // 160)).path
        still = work / "still.png"
        import cv2
        import numpy as np

        cv2.imwrite(str(still), np.zeros((16, 16, 3), np.uint8))
        media = {"id": "ffmpeg_source", "name": SOURCE,
                 "settings": {"local_file": str(clip), "is_local_file": True, "looping": True,
                              "restart_on_activate": True, "hw_decode": False}}
        stats_dir = work / "stats"
        stats_dir.mkdir(exist_ok=True)
        env = {"OBS_BG_STATS_PROBE": f"{SOURCE}:{FILTER}", "OBS_BG_STATS_PROBE_MS": "1000",
               STATS_DIR_ENV: str(stats_dir)}
        home = work / "home"
        home.mkdir(exist_ok=True)
        out(f"soak: {width}x{height}@{fps}, looping media source, {baseline:.0f} s without the filter, "
            f"then {minutes:g} min with it, sampled every {interval:.0f} s")
        out("| t (min) | filter | OBS RSS (MB) | render-skipped / rendered frames | OBS render ms "
            "| worker ms (median) | worker fps | delay ms (chosen n×) | shed level, share | matte age mean / max "
            "| load avg |")
        out("|---|---|---|---|---|---|---|---|---|---|---|")
        with oh.Obs(home, still, width, height, fps, env=env, extra_sources=[media], extra_scripts=[PROBE]) as obs:
            t0 = time.monotonic()
            last = obs.ws.get_stats()
            mark = len(obs.live_log())
            counters = None

            def sample(filter_on: bool) -> Sample:
                nonlocal last, mark, counters
                st = obs.ws.get_stats()
                log = obs.live_log()
                totals, wfps = _probe_values(log, mark)
                choices = len(re.findall(r"picture delayed by \d+ ms \(\d+ frame", log[mark:]))
                mark = len(log)
                s = Sample((time.monotonic() - t0) / 60, filter_on, obs.rss_mb(),
                           st.render_skipped_frames - last.render_skipped_frames,
                           st.render_total_frames - last.render_total_frames, st.average_frame_render_time,
                           statistics.median(totals) if totals else None,
                           statistics.median(wfps) if wfps else None, os.getloadavg()[0], delay_choices=choices)
                now = _read_counters(stats_dir)
                if now:
                    s.delay_ms = now.get("delay_ms") if now.get("delay_frames") is not None else None
                    s.shed_level = now.get("shed_level", 1)
                    if counters:
                        d = window(counters, now)
                        s.shed_share = d.get("shed", 0) / max(d.get("ticks", 0), 1)
                        s.age_mean, s.age_max = d["age_mean"], d["age_max"]
                    counters = now
                last = st
                res.samples.append(s)
                age = "-" if math.isnan(s.age_mean) else f"{s.age_mean:.2f} / {s.age_max:.0f}"
                out(f"| {s.t_min:.1f} | {'on' if filter_on else 'off'} | {s.rss_mb:.1f} | {s.skipped} / {s.frames} "
                    f"| {s.render_ms:.1f} | {'-' if s.worker_ms is None else f'{s.worker_ms:.1f}'} "
                    f"| {'-' if s.worker_fps is None else f'{s.worker_fps:.1f}'} "
                    f"| {'-' if s.delay_ms is None else f'{s.delay_ms:.0f}'} ({s.delay_choices}×) "
                    f"| {s.shed_level}, {'-' if s.shed_share is None else f'{s.shed_share:.0%}'} | {age} "
                    f"| {s.load:.1f} |")
                return s

            if baseline > 0:
                time.sleep(baseline)
                sample(False)
            obs.ws.create_source_filter(SOURCE, FILTER, oh.FILTER_KIND, {})
            n = max(2, int(round(minutes * 60 / interval)))
            for _ in range(n):
                time.sleep(interval)
                sample(True)
            res.rc = obs.close()
            log = obs.log_text()
        res.leaks = oh.leak_count(log)
        res.tracebacks = oh.python_tracebacks(log)
        res.base_leaks = oh.baseline_leaks(work / "home-baseline", still, width, height, fps)[1]
        judge(res, drift, skip_growth)
    finally:
        if tmp:
            tmp.cleanup()
    return res


def _read_counters(folder: Path) -> dict | None:
    try:
        return json.loads((folder / f"{FILTER}.json").read_text())
    except (OSError, ValueError):
        return None


def judge(res: Result, drift: float = 1.3, skip_growth: float = 0.02) -> None:
    """Fill ``res.failures`` from the criteria in the module docstring."""
    on = [s for s in res.samples if s.filter_on]
    if len(on) < 2:
        res.failures.append("fewer than two samples with the filter")
        return
    warm, rest = on[0], on[1:]
    growth = rest[-1].rss_mb - warm.rss_mb
    if growth > 20:
        res.failures.append(f"RSS grew {growth:.1f} MB after warm-up (> 20)")
    if any(s.worker_ms is None for s in rest):
        res.failures.append("the filter's status showed no worker timing in some interval (stalled?)")
    half = max(1, len(rest) // 2)
    first, second = rest[:half], rest[-half:]

    def share(xs):
        return sum(s.skipped for s in xs) / max(1, sum(s.frames for s in xs))

    if share(second) - share(first) > skip_growth:
        res.failures.append(f"render-skipped share grew from {share(first):.1%} to {share(second):.1%}")
    w1 = [s.worker_ms for s in first if s.worker_ms is not None]
    w2 = [s.worker_ms for s in second if s.worker_ms is not None]
    if w1 and w2 and statistics.median(w2) > drift * statistics.median(w1):
        res.failures.append(f"worker frame time drifted {statistics.median(w1):.1f} → {statistics.median(w2):.1f} ms")
    moved = sum(s.delay_choices for s in on) - 1  # chosen once (when the first mattes came), then held
    if moved > 0:
        res.failures.append(f"the synchronised delay was chosen again {moved} time(s)")
    if any(s.frames == 0 for s in res.samples):
        res.failures.append("OBS rendered no frames in some interval (hang)")
    if res.rc != 0:
        res.failures.append(f"OBS exit code {res.rc}")
    if res.tracebacks:
        res.failures.append("Python traceback in the OBS log:\n" + "\n".join(res.tracebacks))
    if res.leaks is None or res.base_leaks is None or res.leaks > res.base_leaks:
        res.failures.append(f"memory leaks {res.leaks} vs {res.base_leaks} without the script")


def summary(res: Result) -> str:
    on = [s for s in res.samples if s.filter_on]
    lines = []
    if len(on) >= 2:
        lines.append(f"RSS after warm-up {on[0].rss_mb:.1f} MB → end {on[-1].rss_mb:.1f} MB "
                     f"({on[-1].rss_mb - on[0].rss_mb:+.1f} MB); OBS exit {res.rc}; "
                     f"leaks {res.leaks} (without the script {res.base_leaks})")
    lines.append("PASS" if res.ok else "FAIL: " + "; ".join(res.failures))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="with the filter (default 10)")
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between samples (default 60)")
    ap.add_argument("--baseline", type=float, default=60.0, help="seconds without the filter first (default 60)")
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args(argv)
    why = oh.missing_requirements()
    if why:
        print(f"error: real OBS not available: {why}", file=sys.stderr)
        return 2
    res = run_soak(args.minutes, args.interval, args.baseline, fps=args.fps, out=lambda s: print(s, flush=True))
    print(summary(res))
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
