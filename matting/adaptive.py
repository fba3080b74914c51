"""Adaptive rate: run the model only when something that could change the matte moves.

Streamers mostly sit still. When the picture around the person's outline is the same as
it was when the model last ran, the matte that run produced is still right: it is carried
(the full-resolution matte and the edge colours, composited with the current frame), and
the model, the post-processing and the edge refinement are skipped. What counts:

* the *watched zone* is a band around the person's outline in the matte of the last run:
  up to ``grow`` grid pixels outside it and ``erode`` pixels inside. Inside the body (a
  mouth, eyes, a hand in front of the chest) the matte is 1 whatever moves, and far out
  in the background it is 0; only a change at the outline can change it. (Someone else
  walking in is found when the model next runs: at most ``max_skip`` frames later.)
* a grid pixel has *changed* when its grey level, lightly blurred (σ = 1: compression
  noise and a sensor's grain are not motion), differs from the frame of the last model
  run (not the previous frame: slow drift adds up) by more than ``level``.
* the model runs when more than ``share`` of the watched zone changed, and at least every
  ``max_skip + 1`` frames whatever happens (so a missed change cannot last).
* nothing is skipped while the matte is still settling after a start (the first frame,
  someone found by a whole-frame look): :func:`settle_frames`.

Modes: ``off`` (the model on every frame), ``balanced`` (default) and ``saver`` (longer
skips, a little more change tolerated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

MODES = ("off", "balanced", "saver")


@dataclass(frozen=True)
class RatePolicy:
    """How much stillness a mode needs, and how long a skip may last."""

    level: float  #: grey levels (on the grid, blurred) that count as a change
    share: float  #: fraction of the watched zone that may change and still skip
    max_skip: int  #: model-free frames in a row at most
    inside: float = 0.98  #: matte value that counts as the person's inside
    outside: float = 0.02  #: matte value below which a pixel is background
    erode: int = 4  #: grid pixels of the inside watched next to the outline
    grow: int = 5  #: grid pixels of the background watched next to the outline


POLICIES = {
    "balanced": RatePolicy(level=10.0, share=0.002, max_skip=5),
    "saver": RatePolicy(level=12.0, share=0.01, max_skip=15),
}


#: The start's share of the temporally fused matte below which it counts as settled.
SETTLED = 0.1


def settle_frames(temporal_strength: float) -> int:
    """Frames after a start during which the model runs on every frame.

    The matte of a start comes from a coarse whole-frame look; the next runs, on the
    person's own crop, are better (measured on the generated sequences: MAD 17.7 on the
    first frame, 5–7 from the fourth on). The temporal fusion weighs the past by
    ``temporal_strength`` per frame, so the start still makes up ``strength**n`` of the
    matte ``n`` frames later. A skip in that time would carry a matte that the next runs
    would still improve, and each skipped frame would delay the improvement by a frame
    (on 24-frame sequences: MAD up to +58 %). So nothing is skipped until the start's
    share is below :data:`SETTLED`: 22 frames at the default 0.9, 0 without fusion.
    """
    if temporal_strength <= 0:
        return 0
    return math.ceil(math.log(SETTLED) / math.log(temporal_strength))


class AdaptiveRate:
    """Decides per frame whether the model must run (see the module docstring)."""

    def __init__(self, mode: str = "balanced", settle: int = 0):
        self.mode = mode
        self.settle = settle  #: model runs after a start before a skip (settle_frames)
        self.reset()
        self.restart()

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"adaptive mode must be one of {', '.join(MODES)}, got {mode!r}")
        self._mode = mode
        self.policy = POLICIES.get(mode)

    def reset(self) -> None:
        """Forget the reference: the next frame runs the model."""
        self._ref = None  # blurred grey grid of the last model run, over the box
        self._watch = None  # boolean mask of the watched zone, over the box (None: not made yet)
        self._levels = None  # (matte > outside, matte >= inside) of the last run as 0/255 bytes, and its policy
        self._box = None  # grid box (x0, y0, x1, y1) of the ROI of the last run
        self._looked = None  # (grey grid, box, blurred box) of may_skip's last look
        self.skipped = 0  # model-free frames since the last run

    def restart(self) -> None:
        """The matte starts afresh (someone found on the whole frame): settle first."""
        self.runs = 0  # model runs since the start

    def ran(self, gray: np.ndarray, alpha_grid: np.ndarray, box) -> None:
        """Record a model run: its grey grid, its matte, and the grid box of the ROI."""
        if self.policy is None:
            return
        p = self.policy
        gx0, gy0, gx1, gy1 = box
        a = alpha_grid[gy0:gy1, gx0:gx1]
        # 0/255 bytes; OpenCV compares in float32, as numpy does a float32 matte with a float.
        # The watched zone itself is made from them only when a look needs it (_zone_of).
        self._levels = (cv2.compare(a, float(p.outside), cv2.CMP_GT), cv2.compare(a, float(p.inside), cv2.CMP_GE),
                        p)
        self._watch = None
        looked, self._looked = self._looked, None
        if looked is not None and looked[0] is gray and looked[1] == (gx0, gy0, gx1, gy1):
            self._ref = looked[2]  # may_skip blurred this frame's same box already
        else:
            self._ref = _smooth(gray[gy0:gy1, gx0:gx1])
        self._box = (gx0, gy0, gx1, gy1)
        self.skipped = 0
        self.runs += 1

    def _zone_of(self) -> None:
        """The watched zone of the last run's matte (the module docstring), and its size."""
        person, core, p = self._levels
        near = cv2.dilate(person, _disc(p.grow), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        core = cv2.erode(core, _disc(p.erode), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        watch = np.empty(person.shape, np.bool_)
        watched = _zone(near, core, watch)
        if watched == 0:  # nobody: any change in the box counts (someone may walk in)
            watch[...] = True
            watched = watch.size
        self._watch, self._watched = watch, max(1, watched)

    def may_skip(self, gray: np.ndarray) -> bool:
        """True if this frame may carry the last matte (and then counts it as skipped)."""
        p = self.policy
        if p is None or self._ref is None or self.skipped >= p.max_skip or self.runs < self.settle:
            return False
        gx0, gy0, gx1, gy1 = self._box
        if gx1 <= gx0 or gy1 <= gy0 or gy1 > gray.shape[0] or gx1 > gray.shape[1]:
            return False
        smooth = _smooth(gray[gy0:gy1, gx0:gx1])
        # Kept for ran() on this same frame: a frame that runs the model after this look
        # (the whole grid, a steady ROI) blurs the box once, not twice (0.17 ms on a
        # 360×640 grid in the pipeline, measured).
        self._looked = (gray, self._box, smooth)
        level = math.floor(p.level)
        if self._watch is None:
            # The zone's morphology is most of a look's cost, and the matte's soft edge
            # (outside < matte < inside) is inside the zone, which is inside the box. So
            # without the zone: more changed pixels on the edge than the whole box would
            # tolerate means run; fewer changed pixels anywhere than the edge alone would
            # tolerate means skip. The same answers as with the zone; only what falls in
            # between needs it. (liveportrait_d12, the model on 82 of 100 frames: 160 of
            # 161 looks decided so; d13: 4 of 176.)
            person, core, _ = self._levels
            edge_changed, edge, changed = _tally(smooth, self._ref, person, core, level)
            if edge_changed > p.share * person.size:
                return False
            if changed <= p.share * max(1, edge):
                self.skipped += 1
                return True
            self._zone_of()
        if _changed(smooth, self._ref, self._watch, level) > p.share * self._watched:
            return False
        self.skipped += 1
        return True


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _smooth(gray: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(gray, (5, 5), 1.0)


# ---- kernels --------------------------------------------------------------------------------
# ran() and may_skip() run on every frame with motion. On a 512×512 grid (line_profiler,
# liveportrait_d12) they cost 0.57 and 0.25 ms: the zone's morphology, and numpy's
# comparisons, masks and counts, each a pass over the box with a temporary. Each kernel
# here is one pass; the morphology and the blur stay OpenCV's. Their numpy twins are in
# tests/test_kernels.py.
@njit(inline="always")
def _moved(s, r, level):
    """Whether grey levels ``s`` and ``r`` differ by more than ``level`` (an int)."""
    d = np.int16(s) - np.int16(r)
    return (d > level) | (d < -level)


@njit(cache=True)
def _zone(near, core, watch):
    """``watch = (near != 0) & (core == 0)``; returns its number of True pixels."""
    h, w = near.shape
    n = 0
    for y in range(h):
        for x in range(w):
            z = near[y, x] != 0 and core[y, x] == 0
            watch[y, x] = z
            n += z
    return n


@njit(cache=True)
def _tally(smooth, ref, person, core, level):
    """(changed pixels on the soft edge, pixels on the soft edge, changed pixels): a pixel
    has changed when it differs by more than ``level`` (an int) grey levels; it is on the
    soft edge when ``person != 0`` and ``core == 0``."""
    h, w = smooth.shape
    edge_changed = edge = changed = 0
    for y in range(h):
        s, r, a, c = smooth[y], ref[y], person[y], core[y]
        for x in range(w):
            moved = _moved(s[x], r[x], level)
            e = (a[x] != 0) & (c[x] == 0)
            changed += moved
            edge += e
            edge_changed += moved & e
    return edge_changed, edge, changed


@njit(cache=True)
def _changed(smooth, ref, watch, level):
    """How many watched pixels differ by more than ``level`` (an int) grey levels.

    Branch-free, so numba vectorises it: stopping at the limit made it 10× slower on a
    frame that does not reach it (0.42 against 0.04 ms on 360×556, measured)."""
    h, w = smooth.shape
    n = 0
    for y in range(h):
        s, r, z = smooth[y], ref[y], watch[y]
        for x in range(w):
            n += z[x] & _moved(s[x], r[x], level)
    return n
