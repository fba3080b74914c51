"""Capturing the empty room for the known background, so that it cannot swallow the
streamer: a countdown to step out, then about a second of frames recorded together with
the model's own matte of each; if the matte still finds a person in them, nothing is
kept and the panel says why.

One :class:`Capture` per button press; the worker thread feeds it (``recording`` →
``add``), OBS's threads only read its words and state.
"""

from __future__ import annotations

import math
import time

import numpy as np

COUNTDOWN_S = 3.0  # time to step out of the picture
FRAMES = 30  # frames recorded (about a second) and averaged into the plate
# A frame "shows someone" where the matte (after the pipeline's clean-up, which drops
# blobs under its minimum area, 1 % of the picture by default) covers this share of it.
PERSON_SHARE = 0.005
# The plate is the per-pixel median of the frames: someone in a minority of them leaves
# no trace, but the capture is refused from this share of frames showing someone.
REFUSE_FRAMES = 0.25


def person_share(alpha: np.ndarray) -> float:
    """Share of the picture the matte counts as person (uint8 matte, ≥ 50 %)."""
    return float(np.count_nonzero(alpha >= 128)) / max(alpha.size, 1)


class Capture:
    def __init__(self, path: str, countdown_s: float = COUNTDOWN_S, frames: int = FRAMES, now=None):
        self.path = path
        self.start = (time.monotonic() if now is None else now) + countdown_s
        self.want = frames
        self.frames: list[np.ndarray] = []
        self.shares: list[float] = []
        self.outcome = None  # None while busy, then "captured" / "refused" / "failed"
        self.message = ""

    # the worker thread
    def recording(self, now=None) -> bool:
        """Whether the next frame is recorded (the countdown is over, not enough yet)."""
        return self.outcome is None and (time.monotonic() if now is None else now) >= self.start

    def add(self, frame: np.ndarray, alpha: np.ndarray) -> bool:
        """One recorded frame (RGB, a copy) and the model's matte of it. True once enough."""
        self.frames.append(frame)
        self.shares.append(person_share(alpha))
        return len(self.frames) >= self.want

    def verdict(self) -> str | None:
        """None if the frames are of an empty room, else the refusal for the panel."""
        seen = [s for s in self.shares if s >= PERSON_SHARE]
        if len(seen) < REFUSE_FRAMES * max(len(self.shares), 1):
            return None
        return (f"Capture refused: someone is still in the picture (on {len(seen)} of {len(self.shares)} frames, "
                f"up to {100 * max(seen):.0f} % of it). Press Capture, then step out of the picture.")

    def finish(self, outcome: str, message: str) -> None:
        self.outcome, self.message = outcome, message
        self.frames = []  # the pictures are not needed any more

    # any thread
    def busy(self) -> bool:
        return self.outcome is None

    def seconds_left(self, now=None) -> int:
        return max(0, math.ceil(self.start - (time.monotonic() if now is None else now)))

    def state_key(self, now=None) -> tuple:
        if self.outcome is not None:
            return ("done", self.outcome, self.message)
        left = self.seconds_left(now)
        return ("countdown", left) if left > 0 else ("recording",)

    def words(self, now=None) -> tuple[str, str]:
        """(what the panel says, "info" / "warning" / "error")."""
        if self.outcome == "captured":
            return self.message, "info"
        if self.outcome is not None:
            return self.message, "warning" if self.outcome == "refused" else "error"
        left = self.seconds_left(now)
        if left > 0:
            return f"Capture: step out of the picture, {left}…", "warning"
        return "Capture: recording the empty room, stay out of the picture…", "warning"
