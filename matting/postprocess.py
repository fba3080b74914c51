"""Stage 3: post-processing of the model's probability map.

* Connected components (numba, on the low-resolution mask): drop stray blobs, keeping the
  largest person or everyone above a minimum area. Only foreground is labelled, so holes
  inside a person (an arm on a hip) stay holes.
* Motion mask from frame differencing, and motion-guided temporal fusion: where the
  picture is still, alpha is blended strongly with the previous frame (kills edge
  flicker); where it moves, alpha follows the current frame (no lag).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit, prange


@njit(cache=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@njit(cache=True)
def label_components(mask):
    """8-connected labels of a boolean/uint8 mask: (labels int32, count, areas).

    Union–find over each row's runs, not pixels: a run joins every run of the row above
    that touches it (overlapping or diagonal). A person is a few runs per row, so this
    is ~7× faster than the pixel-by-pixel two-pass version it replaced (0.37 → 0.05 ms
    on the model's output for a 1080p demo frame, tools/stage_timings.py). Labels are
    1..count in raster order of each component's first pixel (0 = background), the
    numbering a flood fill in raster order gives.
    """
    h, w = mask.shape
    # Runs in raster order: row, start, end (exclusive); row_first[y] = first run of row y.
    # Sized for the worst case (every other pixel): growing arrays inside the loop made
    # numba count references on every access (20× slower, measured).
    most = h * ((w + 1) // 2)
    run_y = np.empty(most, np.int32)
    run_x0 = np.empty(most, np.int32)
    run_x1 = np.empty(most, np.int32)
    row_first = np.zeros(h + 1, np.int32)
    n = 0
    for y in range(h):
        row_first[y] = n
        row = mask[y]
        inside = False
        for x in range(w):
            if row[x]:
                if not inside:
                    run_y[n], run_x0[n] = y, x
                    inside = True
            elif inside:
                run_x1[n] = x
                n += 1
                inside = False
        if inside:
            run_x1[n] = w
            n += 1
    row_first[h] = n
    parent = np.arange(n).astype(np.int32)
    for y in range(1, h):
        above = row_first[y - 1]
        for r in range(row_first[y], row_first[y + 1]):
            # Runs above touching [x0 - 1, x1]: they start before x1 + 1 and end after x0 - 1.
            while above < row_first[y] and run_x1[above] < run_x0[r]:
                above += 1
            q = above
            while q < row_first[y] and run_x0[q] <= run_x1[r]:
                ra, rb = _find(parent, r), _find(parent, q)
                if ra != rb:
                    if ra < rb:
                        parent[rb] = ra
                    else:
                        parent[ra] = rb
                q += 1
            if above < q:
                above = q - 1  # the last run above may touch the next run too
    # Renumber roots in raster order of their first run (= of their first pixel).
    remap = np.zeros(n, np.int32)
    areas = np.zeros(n + 1, np.int64)
    labels = np.zeros((h, w), np.int32)
    count = 0
    for r in range(n):
        root = _find(parent, r)
        if remap[root] == 0:
            count += 1
            remap[root] = count
        lab = remap[root]
        areas[lab] += run_x1[r] - run_x0[r]
        y = run_y[r]
        for x in range(run_x0[r], run_x1[r]):
            labels[y, x] = lab
    return labels, count, areas[: count + 1]


@njit(cache=True)
def select_components(labels, areas, min_area, keep_largest):
    """Mask (uint8 0/1) of the components to keep: the largest one if ``keep_largest``
    (if it reaches ``min_area``), else every component of at least ``min_area`` pixels."""
    n = areas.shape[0]
    keep = np.zeros(n, np.bool_)
    if keep_largest:
        best = 0
        for i in range(1, n):
            if areas[i] > areas[best] or best == 0:
                best = i
        if best > 0 and areas[best] >= min_area:
            keep[best] = True
    else:
        for i in range(1, n):
            keep[i] = areas[i] >= min_area
    h, w = labels.shape
    out = np.zeros((h, w), np.uint8)
    for y in range(h):
        for x in range(w):
            if keep[labels[y, x]]:
                out[y, x] = 1
    return out


@njit(cache=True)
def sure_counts(labels, prob, level, count):
    """Per component label (0 … count): how many of its pixels have ``prob >= level``
    (``level`` compared in float32, as numpy compares a float32 array)."""
    level = np.float32(level)
    out = np.zeros(count + 1, np.int64)
    h, w = labels.shape
    for y in range(h):
        for x in range(w):
            if prob[y, x] >= level:
                out[labels[y, x]] += 1
    return out


#: With every person kept (not ``keep_largest``), a blob other than the largest stays only
#: if at least this share of it is at ``CORE_LEVEL`` or above: the model is sure of most of
#: a real person (85–96 % of the streamers' pixels in the generated sequences), and of
#: 2–5 % of the furniture it half-takes for one (an armchair, a drum). Chosen by
#: cross-validation (docs/EVALUATION.md: 0.05 in 3 of 3 folds; 0 = off).
CORE_SHARE = 0.05
CORE_LEVEL = 0.9  #: the model's "sure" (not tuned: the share above is)
#: Parts of a person joined only through soft alpha (a leg behind spray, a pigtail) could
#: be one blob: components made of the pixels at this level or above, measured by their
#: pixels at the threshold. Tried at 0.15–0.35 (issue 32): it also joins room objects the
#: model half-believes to the person; on the person-folded validation every fold chose
#: off (J 1.319 off, 1.344 at 0.25; docs/EVALUATION.md, 2026-12-08): off (= the threshold).
LINK_LEVEL = 0.5
#: The largest blob stands below ``min_area`` when at least ``CORE_SHARE`` of it is sure
#: (a small person alone in the frame). Off (0, the old rule): on the person-folded
#: validation 2 of 3 folds chose off (J 1.312 off, 1.319 on; it kept a wrong blob on a
#: chequered wall, docs/EVALUATION.md 2026-12-08).
SMALL_ALONE = 0
_DILATE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))


def filter_components(prob: np.ndarray, threshold: float, min_area: float, keep_largest: bool,
                      prior: np.ndarray | None = None) -> np.ndarray:
    """Zero the probability of stray blobs, keeping the soft edge of kept components.

    Components are the blobs of ``prob >= LINK_LEVEL`` (parts joined through soft alpha
    are one), each measured by its pixels at ``threshold`` or above (a blob of haze alone
    measures 0 and goes); ``min_area`` is in pixels of ``prob``. A kept blob keeps its
    pixels at the threshold and everything within a few pixels of them (its soft edge). The largest blob stands even
    below ``min_area`` if at least ``CORE_SHARE`` of it is sure (a small person alone).
    With ``keep_largest``, ``prior`` (the previous frame's matte on ``prob``'s grid)
    names the person to keep: the component that overlaps it most, so that a crowd
    behind the main person does not take over when it is larger for a frame; the
    largest one when nothing overlaps. Without it, every blob of at least ``min_area``
    stays whose pixels are ``CORE_LEVEL`` or more on at least ``CORE_SHARE`` of it (the
    largest always).
    """
    link = min(LINK_LEVEL, threshold)
    labels, count, areas = label_components(prob >= link)
    if count == 0:
        return np.zeros_like(prob)
    if link < threshold:
        # Each linked blob's size is its pixels at the threshold (0: only soft haze).
        areas = sure_counts(labels, prob, threshold, count)
        areas[0] = 0
        if not areas.any():
            return np.zeros_like(prob)
    big = int(np.argmax(areas[1:])) + 1
    if SMALL_ALONE and areas[big] < min_area:
        # A small person alone in the frame (a whole body far from the camera): the largest
        # blob stands below min_area if the model is sure of part of it, as of a person.
        sure = sure_counts(labels, prob, CORE_LEVEL, count)
        if sure[big] > 0 and sure[big] >= max(CORE_SHARE, 1e-9) * areas[big]:
            areas = areas.copy()
            areas[big] = max(areas[big], int(math.ceil(min_area)))
    if keep_largest and prior is not None and count > 1:
        overlap = np.bincount(labels.ravel(), weights=prior.ravel(), minlength=count + 1)
        overlap[0] = 0
        best = int(np.argmax(overlap))
        if overlap[best] > 0 and areas[best] >= min_area:
            keep = (labels == best).astype(np.uint8)
            return prob * cv2.dilate(keep, _DILATE).astype(np.float32)
    if not keep_largest and CORE_SHARE > 0 and np.count_nonzero(areas[1:] >= min_area) > 1:
        # Another blob is another person only if the model is sure of some of it; room
        # objects it half-believes (an armchair, a drum beside the streamer) are not.
        # (Only with two blobs above min_area: the count costs 0.3 ms a frame otherwise.)
        sure = sure_counts(labels, prob, CORE_LEVEL, count)
        weak = sure < CORE_SHARE * areas
        weak[0] = weak[big] = False  # the largest always stands
        if weak.any():
            areas = np.where(weak, 0, areas)
    keep = select_components(labels, areas, min_area, keep_largest)
    if link < threshold:
        # A kept blob's parts at the threshold, and their soft edge as before: the soft
        # pixels only join parts, they are not kept for their own sake (haze a few pixels
        # off the person stays gone: MAD on the people sequences, docs/EVALUATION.md).
        keep &= (prob >= threshold).view(np.uint8)
    return prob * cv2.dilate(keep, _DILATE).astype(np.float32)


@njit(inline="always")
def _motion(d, low, scale):
    # Motion in [0, 1] of a grey-level difference: 0 below ``low``, 1 from ``high``.
    return np.float32(min(max((d - low) * scale, 0.0), 1.0))


@njit(cache=True)  # grid-sized: a parallel region's start-up costs more than it saves
def motion_mask(gray, prev_gray, low, high):
    """Per-pixel motion in [0, 1] from the absolute difference of two uint8 frames:
    0 below ``low`` (sensor noise), 1 above ``high``, linear between."""
    h, w = gray.shape
    out = np.empty((h, w), np.float32)
    scale = 1.0 / (high - low)
    for y in prange(h):
        for x in range(w):
            out[y, x] = _motion(abs(np.int32(gray[y, x]) - np.int32(prev_gray[y, x])), low, scale)
    return out


@njit(cache=True)  # grid-sized: a parallel region's start-up costs more than it saves
def temporal_fuse(current, previous, motion, strength, out, threshold=0.5, band=0.0, flush=0.0):
    """``out = w·previous + (1−w)·current`` with ``w = strength·(1 − motion)``.

    Still pixels lean on the past (flicker is averaged away), moving pixels take the
    current frame's value at once. ``out`` may be ``previous``.

    Hysteresis (``band`` > 0): where the result crosses ``threshold`` relative to
    ``previous`` while both it and the model's ``current`` value are within ``band`` of
    the threshold, the previous value is kept, so a region the model wavers on (a branch
    touching the head) does not flip in and out. Where the model is sure (``current`` far
    from the threshold) the crossing goes through: a ghost of someone who left, decaying
    towards 0 on a still picture, is not held just above the threshold.
    Results below ``flush`` become 0 (a decay never reaches 0 by itself).
    """
    h, w = current.shape
    # Each row goes through a temporary row: ``out`` is usually ``previous``, and with the
    # two aliased LLVM does not vectorise the loop (on a 1080p grid's rows: 0.29 ms aliased,
    # 0.11 through the row, measured). Contiguous (C) arrays vectorise; strided views do not.
    row = np.empty(w, np.float32)
    for y in range(h):
        for x in range(w):
            row[x] = _fuse(previous[y, x], current[y, x], motion[y, x], strength, threshold, band, flush)
        for x in range(w):
            out[y, x] = row[x]
    return out


@njit(cache=True)  # grid-sized: a parallel region's start-up costs more than it saves
def temporal_fuse_diff(current, previous, diff, low, high, strength, out, threshold=0.5, band=0.0, flush=0.0):
    """:func:`temporal_fuse` with the motion taken from grey-level differences ``diff``
    (uint8) as :func:`motion_mask` maps them. Motion is a non-decreasing function of the
    difference, so the difference can be widened (max-filtered) before it: as uint8, which
    OpenCV dilates in a fraction of the float mask's time (the result is the same)."""
    h, w = current.shape
    scale = 1.0 / (high - low)
    row = np.empty(w, np.float32)
    for y in range(h):
        # The motion of the row first (a loop numba vectorises), then the fusion on it.
        for x in range(w):
            row[x] = _motion(np.int32(diff[y, x]), low, scale)
        for x in range(w):
            row[x] = _fuse(previous[y, x], current[y, x], row[x], strength, threshold, band, flush)
        for x in range(w):
            out[y, x] = row[x]
    return out


@njit(inline="always")
def _fuse(p, c, m, strength, threshold, band, flush):
    # One pixel of temporal_fuse: the blend, the hysteresis, the flush.
    wt = strength * (1.0 - m)
    v = wt * p + (1.0 - wt) * c
    if band > 0 and (v >= threshold) != (p >= threshold) and abs(v - threshold) < band and abs(c - threshold) < band:
        v = p
    return v if v >= flush else 0.0


def spread_motion(motion: np.ndarray, radius: int) -> np.ndarray:
    """Widen the motion mask (max filter) so that a moving edge's neighbourhood, where the
    matte changes, counts as moving too, not just the pixels whose colour changed."""
    if radius <= 0:
        return motion
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(motion, k)
