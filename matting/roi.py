"""Stage 1: ROI tracking — run the model only where the person is.

The person's box in frame ``t`` is taken from the matte of frame ``t-1`` (plus a margin)
and smoothed per coordinate with double exponential smoothing (Holt): a *level* and a
*trend*, weights α and β; the box used for the next frame is the forecast
``level + trend``, so a moving person is followed without lag and a jittery mask does not
make the box jump. The tracker is reset (whole-frame detection) when the person is lost.
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit


@njit(cache=True)
def des_update(level, trend, obs, alpha, beta, first):
    """One Holt step over every coordinate, in place; returns the forecast.

    ``first`` starts the series at the observation with zero trend. With α = 1 the level
    is the observation itself (no smoothing).
    """
    out = np.empty_like(obs)
    for i in range(obs.shape[0]):
        if first:
            level[i] = obs[i]
            trend[i] = 0.0
        else:
            prev = level[i]
            level[i] = alpha * obs[i] + (1.0 - alpha) * (prev + trend[i])
            trend[i] = beta * (level[i] - prev) + (1.0 - beta) * trend[i]
        out[i] = level[i] + trend[i]
    return out


@njit(cache=True)
def mask_bbox(alpha, threshold):
    """Bounding box (x0, y0, x1, y1), end-exclusive, of ``alpha >= threshold`` (alpha float32);
    x0 = -1 if empty."""
    # Compare in float32, as numpy does for a float32 array and a Python float: 0.7 stored in
    # float32 is below the float64 0.7, so a float64 comparison would drop such pixels.
    threshold = np.float32(threshold)
    h, w = alpha.shape
    x0, y0, x1, y1 = w, h, -1, -1
    for y in range(h):
        row_hit = False
        for x in range(w):
            if alpha[y, x] >= threshold:
                row_hit = True
                if x < x0:
                    x0 = x
                break
        if not row_hit:
            continue
        for x in range(w - 1, -1, -1):
            if alpha[y, x] >= threshold:
                if x > x1:
                    x1 = x
                break
        if y < y0:
            y0 = y
        y1 = y
    if x1 < 0:
        return -1, -1, -1, -1
    return x0, y0, x1 + 1, y1 + 1


def expand_box(box, margin: float):
    """Grow a box by ``margin`` × its size on every side (floats, unclamped)."""
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return np.array([x0 - mx, y0 - my, x1 + mx, y1 + my], np.float64)


# See fit_box; chosen by cross-validation (docs/EVALUATION.md). 3.0 was tried on
# 2026-12-08 (all 3 person folds chose it) and made both real full-body DAVIS sequences
# worse over all frames (parkour IoU 0.790 → 0.721): kept at 2.
MAX_STRETCH = 2.0


def fit_box(box, width: int, height: int, min_size: int, aspect: float, max_stretch: float | None = None):
    """Integer box inside the frame, at least ``min_size`` per side, and not more than
    ``max_stretch`` away from the model's aspect ratio (a very thin crop stretched to a
    square model input would distort the person beyond what the model was trained on)."""
    max_stretch = MAX_STRETCH if max_stretch is None else max_stretch
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = max(x1 - x0, min_size), max(y1 - y0, min_size)
    if w / h < aspect / max_stretch:
        w = h * aspect / max_stretch
    elif w / h > aspect * max_stretch:
        h = w / (aspect * max_stretch)
    w, h = min(w, width), min(h, height)
    x0 = int(round(min(max(cx - w / 2, 0), width - w)))
    y0 = int(round(min(max(cy - h / 2, 0), height - h)))
    return x0, y0, min(width, x0 + int(round(w))), min(height, y0 + int(round(h)))


def crop_edge_claim(whole, crop, box, grid_hw, threshold: float) -> float:
    """The largest share of one of the crop's inner sides (those inside the frame) along
    which the crop's matte calls person (≥ ``threshold``) and the whole frame's matte of
    the same frame calls background (below ``threshold``/2); 0 if no side is inside.

    ``whole`` is a probability map over the whole frame and ``crop`` one over ``box``
    (x0, y0, x1, y1 as fractions of the frame), both at any size; they are compared on a
    grid of ``grid_hw``. The crop has a margin around where the whole frame saw the
    person: a crop's person running along its inner side, where the whole frame sees
    nothing, is one the crop made up (issue 32: zoomed on a head at the frame's edge the
    model drew a body into a wall of the hair's colour, down to the crop's bottom)."""
    gh, gw = grid_hw
    x0, y0 = min(gw - 1, int(round(box[0] * gw))), min(gh - 1, int(round(box[1] * gh)))
    x1, y1 = max(x0 + 1, min(gw, int(round(box[2] * gw)))), max(y0 + 1, min(gh, int(round(box[3] * gh))))
    w = cv2.resize(whole, (gw, gh), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
    c = cv2.resize(crop, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    made_up = (c >= np.float32(threshold)) & (w < np.float32(threshold / 2))
    sides = [made_up[:, 0] if x0 > 0 else None, made_up[0] if y0 > 0 else None,
             made_up[:, -1] if x1 < gw else None, made_up[-1] if y1 < gh else None]
    return max((float(side.mean()) for side in sides if side is not None), default=0.0)


class RoiTracker:
    """Keeps the smoothed person box between frames (frame pixel coordinates)."""

    def __init__(self, alpha: float = 0.6, beta: float = 0.3, margin: float = 0.15):
        self.alpha, self.beta, self.margin = alpha, beta, margin
        self.level = np.zeros(4)
        self.trend = np.zeros(4)
        self.forecast = None  # None = nothing tracked: detect on the whole frame
        self.last = None  # the last observed box, before margin and smoothing

    def reset(self) -> None:
        self.forecast = None

    def observe(self, box) -> np.ndarray:
        """Feed the matte's bounding box of this frame; returns the forecast for the next."""
        self.last = np.asarray(box, np.float64)
        obs = expand_box(box, self.margin)
        self.forecast = des_update(self.level, self.trend, obs, self.alpha, self.beta,
                                   self.forecast is None)
        return self.forecast

    def restart(self, box) -> None:
        """Start over at ``box`` (a new person found by re-detection)."""
        self.forecast = None
        self.observe(box)
