"""Known background: a clean plate of the room, and the matte solved against it.

Most streamers film from a fixed webcam in the same room. With a plate ``B`` of that
room the compositing equation ``I = αF + (1−α)B`` has one unknown less, so around the
person the matte is solved from the colours instead of guessed by the 256-px model
(background matting, Sengupta et al. 2020; Lin et al. 2021):

* **The plate** (:class:`Plate`) is a per-pixel running estimate at full resolution:
  mean colour, noise variance and a weight (how many agreeing observations back it;
  confidence = weight / ``FULL_WEIGHT``). It is captured (``capture``: the per-pixel
  median of frames without the person) and/or learnt from pixels that are confidently
  background (far from the person, not moving). A pixel that keeps disagreeing with
  its plate loses weight and is learnt anew (a moved chair). A global per-channel
  gain/offset ``I ≈ g·B + o`` is fitted each frame on confident background pixels, so
  auto-exposure and lighting drifts do not read as change.
* **The solve** (:meth:`KnownBackground._refine`, kernels in :mod:`matting.plate_band`):
  in a band around the model's edge, on the pixels there the plate can change (some α,
  or not the room), the person's local colour ``F̄`` (mean of clearly-foreground pixels
  nearby) gives the projection ``α = (I − B)·(F̄ − B) / |F̄ − B|²``, then each pixel's
  ``F`` is chosen among the opaque colours nearby; differences within the noise snap to
  0, and the result is trusted by how well ``F`` and ``B`` are separated and by the
  plate's confidence. Regions that differ from the room and touch the person (hair the
  model missed, a held object) come in; regions that do not touch the person are left
  to the model. The foreground colour for halo removal is then exact:
  ``F = (I − (1−α)B) / α``.
* **Knowing when not to** (:class:`KnownBackground`): global camera motion (many moving
  background pixels, the plate's texture no longer in register, or the room's shift from
  frame to frame summed over the last second: a slow pan), a lighting change the gain
  cannot explain, or a plate that disagrees with the frame over a large
  area fade the known background out within a few frames (the model's matte is used
  unchanged) and mark the plate stale; :attr:`KnownBackground.status` says which.
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np
from numba import njit

from .errors import InputError
from .plate_band import (FULL_WEIGHT, OPAQUE, band_foreground, band_fuse, band_pixels, band_project, band_sample,
                         band_spread, band_window_mean, fill_means, label_listed, listed, region_fit, residuals,
                         room_vouch, touching_core, u8_above, u8_at_least)
from .scratch import Scratch

MAX_WEIGHT = 30.0  # the running mean's memory: 1/MAX_WEIGHT is its slowest learning rate
CAPTURE_WEIGHT = MAX_WEIGHT
NOISE_FLOOR = 2.5  # grey levels: sensor + compression noise no plate variance goes below
MATCH_SIGMAS = 3.5  # a pixel within this many σ of its plate agrees with it
MISMATCH_DECAY = 3.0  # weight lost per disagreeing observation (a change is relearnt in ~10)
LEARN_MARGIN = 0.04  # fraction of the frame's long side kept clear around the person when learning
LEARN_ROW_STEP = 2  # rows learnt per frame: 1 in LEARN_ROW_STEP (cost; full coverage every 2 frames)
SAMPLES = 4096  # pixel positions for the global gain fit and the health check
DISAGREE_LEVELS = 14.0  # a confident background sample further than this (grey levels) disagrees
DISAGREE_MAX = 0.12  # more disagreeing samples than this: the plate does not fit the frame
MOVING_MAX = 0.25  # more moving background (grid) than this: the camera moves
EDGE_SAMPLES = 1024  # positions on the plate's textured pixels for the registration check
EDGE_SLOPE = 4.0  # grey levels per EDGE_SHIFT: a textured pixel (a 1-px shift changes it by 2× this)
EDGE_MIN = 20  # textured background samples needed for the registration check to have a say
FADE_IN, FADE_OUT = 0.2, 0.34  # activity change per frame (on in 5 frames, off in 3)
STALE_FRAMES = 8  # consecutive bad frames before the plate is called stale
DRIFT_FRAMES = 30  # frames over which the view's global shift is summed (the plate's memory, MAX_WEIGHT)
DRIFT_PX = 2.0  # frame pixels of summed shift over DRIFT_FRAMES that mean the camera moves
BAND_IN = 0.0025  # fraction of the frame's long side inside the model's sure matte still solved
BAND_OUT = 0.035  # fraction of the frame's long side searched outside the model's matte
EDGE_SHIFT = 0.5  # pixels: how far the room's edges may seem to move (plate vs frame)
SEPARATION = 4.0  # |F − B| (grey levels) at which the projection gets half trust (measured: any
# more caution costs, the model is no better where the person has the room's colour)
FRAME_NOISE = 1.6  # σ of the frame's noise = FRAME_NOISE × median plate residual (c-noisy: JPEG
# and sensor noise are correlated and heavier-tailed than Gaussian)
FOREGROUND_RADIUS = 3  # px at 720p: window of the person's local colour
ROOM_RADIUS = 3  # px at 720p: window of the room test (texture of the plate, residual of the frame)
ROOM_RESID = 4.0  # a window is the room seen unchanged if its residual |I − B|² is below this × the noise
ROOM_TEXTURE = 16.0  # … and the plate's colour variance there is above this × the noise (textured)
ROOM_PIXELS = 20  # px at 720p: such pixels a plate-matching region of the matte needs to be the room
# A flat plate-matching region is the room too when it is large and fits the plate to the
# noise: held-out hole regions (generated, 720p) fit at 0.38–0.59 on clean cameras, the
# person's own plate-matching regions at 0.88–1.7 (up to 621 px); noisy-camera holes
# fit at 0.68–1.1 and are left to the model.
ROOM_FLAT_PIXELS = 300  # px at 720p
ROOM_FLAT_FIT = 0.7  # mean |I − B|² / (3σ²) over the region
SOLVE_ITERATIONS = 1  # steps of propagating F outwards from the pixels just solved
PROPAGATE_RADIUS = 6  # px at 720p: window over which each step spreads F (2 → 6: a-static 1.96 → 1.86)
SAMPLE_RADIUS = 10  # px at 720p: window of the opaque colours each pixel's F is chosen among …
SAMPLE_STEP = 2  # … every SAMPLE_STEP-th px of it (121 candidates; 10/2 beat 6/1 everywhere measured)
# FULL_WEIGHT (observations for full confidence in a plate pixel), OPAQUE (the solve's α
# from which a pixel's own colour is taken for the person's) and SNAP_SIGMAS (closer to the
# plate than this, in σ, is the room) live in matting.plate_band, whose kernels use them.
_PRIOR_MIN = u8_above(0.02)  # the model's matte (uint8) from which a region can be the room
_SURE_MIN = u8_at_least(0.98)  # … sure (the solve's inner limit)
_CORE_MIN = u8_at_least(0.5)  # … the person's core (what the solved regions must touch)
_NO_ACC = np.zeros((0, 4), np.float32)  # band_project without the propagation's colours


# ---- the plate ---------------------------------------------------------------------------
@njit(cache=True)  # serial: in OBS both cores are busy and a parallel join stalls (e6a3fcd)
def update_plate(image, learn, fy, fx, gain, offset, phase, step, mean, var, weight):
    """Running update of the plate on rows ``phase::step`` where ``learn`` (a uint8 mask
    at reduced resolution, sampled at ``((y + 0.5)·fy, (x + 0.5)·fx)``) is set.

    The observation is mapped to the plate's exposure, ``x = (I − offset) / gain``. If it
    agrees with the plate (within ``MATCH_SIGMAS`` σ) or the plate knows nothing there,
    it is averaged in with rate ``1 / (weight + 1)`` and the weight grows (up to
    ``MAX_WEIGHT``); otherwise the weight drops by ``MISMATCH_DECAY``, so a lasting change
    is relearnt while a passing one is ignored."""
    h, w = weight.shape
    lh, lw = learn.shape
    floor2 = NOISE_FLOOR * NOISE_FLOOR
    # The mask's column of each frame column, once (not an int() per pixel); the
    # observation in three scalars (a 3-array per pixel was a heap allocation each), each
    # from a table of the 256 values per channel (the same float32 values, no division per
    # pixel: 3.7 → 2.6 ms at 720p, measured).
    lut = np.empty((3, 256), np.float32)
    for c in range(3):
        for v in range(256):
            lut[c, v] = (np.float32(v) - offset[c]) / gain[c]
    lx = np.empty(w, np.int64)
    for x in range(w):
        lx[x] = min(int((x + 0.5) * fx), lw - 1)
    for yi in range((h - phase + step - 1) // step):
        y = phase + yi * step
        ly = min(int((y + 0.5) * fy), lh - 1)
        for x in range(w):
            if learn[ly, lx[x]] == 0:
                continue
            o0, o1, o2 = lut[0, image[y, x, 0]], lut[1, image[y, x, 1]], lut[2, image[y, x, 2]]
            e0, e1, e2 = o0 - mean[y, x, 0], o1 - mean[y, x, 1], o2 - mean[y, x, 2]
            d2 = 0.0
            d2 += e0 * e0
            d2 += e1 * e1
            d2 += e2 * e2
            d2 /= 3.0
            wt = weight[y, x]
            if wt < 1.0 or d2 < MATCH_SIGMAS * MATCH_SIGMAS * (var[y, x] + floor2):
                r = 1.0 / (wt + 1.0)
                mean[y, x, 0] += r * (o0 - mean[y, x, 0])
                mean[y, x, 1] += r * (o1 - mean[y, x, 1])
                mean[y, x, 2] += r * (o2 - mean[y, x, 2])
                var[y, x] += r * ((d2 if wt >= 1.0 else 0.0) - var[y, x])
                weight[y, x] = min(wt + 1.0, MAX_WEIGHT)
            else:
                weight[y, x] = max(wt - MISMATCH_DECAY, 0.0)


class Plate:
    """The room's colours at full resolution (float32 HxWx3, the frame's channel order),
    a noise variance (HxW, grey levels²) and a weight per pixel (0 = never seen)."""

    def __init__(self, height: int, width: int):
        self.mean = np.zeros((height, width, 3), np.float32)
        self.var = np.zeros((height, width), np.float32)
        self.weight = np.zeros((height, width), np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.weight.shape

    @classmethod
    def from_image(cls, image: np.ndarray, weight: float = CAPTURE_WEIGHT) -> "Plate":
        plate = cls(*image.shape[:2])
        plate.mean[...] = image[:, :, :3]
        plate.weight.fill(weight)
        return plate

    @classmethod
    def from_frames(cls, frames) -> "Plate":
        """Per-pixel median of the frames (someone passing through for a moment does not
        count) and the spread around it as noise (1.4826·MAD, the σ of Gaussian noise)."""
        stack = np.stack([np.asarray(f)[:, :, :3] for f in frames]).astype(np.float32)
        med = np.median(stack, axis=0)
        plate = cls.from_image(med)
        if len(stack) >= 3:
            mad = np.median(np.abs(stack - med).mean(axis=3), axis=0)
            plate.var[...] = (1.4826 * mad) ** 2
        return plate

    def resized(self, height: int, width: int) -> "Plate":
        """The plate at another frame size (same view, another capture resolution)."""
        out = Plate(height, width)
        out.mean[...] = cv2.resize(self.mean, (width, height), interpolation=cv2.INTER_AREA)
        out.var[...] = cv2.resize(self.var, (width, height), interpolation=cv2.INTER_AREA)
        out.weight[...] = cv2.resize(self.weight, (width, height), interpolation=cv2.INTER_NEAREST)
        return out

    def confidence(self) -> np.ndarray:
        """0 up to FULL_WEIGHT/2 observations (a few noisy looks are no plate), 1 from
        FULL_WEIGHT on."""
        return np.clip(self.weight * np.float32(2 / FULL_WEIGHT) - 1, 0, 1)

    def image(self) -> np.ndarray:
        """uint8 HxWx3 picture of the plate (black where it never saw the room)."""
        img = np.clip(self.mean + 0.5, 0, 255).astype(np.uint8)
        img[self.weight <= 0] = 0
        return img


@njit(cache=True)
def gather_colours(frame, mean, ys, xs):
    """The frame's and the plate's colours at the samples (float32 N×3 each): numpy's
    fancy indexing of the two took 0.6 ms a frame at 720p for 4096 samples, measured."""
    n = ys.size
    obs, ref = np.empty((n, 3), np.float32), np.empty((n, 3), np.float32)
    for i in range(n):
        y, x = ys[i], xs[i]
        for c in range(3):
            obs[i, c] = frame[y, x, c]
            ref[i, c] = mean[y, x, c]
    return obs, ref


@njit(cache=True)
def fit_gain(observed: np.ndarray, plate: np.ndarray):
    """Per-channel ``observed ≈ gain·plate + offset`` (float32 Nx3 each) by least squares,
    refitted once without the worst-fitting samples (a person's arm, a moved object).
    Returns (gain, offset, residual per sample in grey levels), float32.

    A numba loop over the samples (the numpy version, kept as the tests' twin, made some
    thirty small array calls: 2.0 → 0.1 ms a frame at 720p, measured)."""
    n = observed.shape[0]
    gain, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
    keep = np.ones(n, np.bool_)
    resid = np.zeros(n, np.float32)
    for _ in range(2):
        m = 0
        for i in range(n):
            m += keep[i]
        for c in range(3):
            sp = so = 0.0
            for i in range(n):
                if keep[i]:
                    sp += plate[i, c]
                    so += observed[i, c]
            mp, mo = sp / m, so / m
            vp = cov = 0.0
            for i in range(n):
                if keep[i]:
                    dp = plate[i, c] - mp
                    vp += dp * dp
                    cov += dp * (observed[i, c] - mo)
            vp /= m
            g = cov / m / vp if vp > 25.0 else 1.0
            g = min(max(g, 0.5), 2.0)
            gain[c], offset[c] = g, mo - g * mp
        for i in range(n):
            r = np.float32(0.0)
            for c in range(3):
                r += abs(observed[i, c] - (plate[i, c] * gain[c] + offset[c]))
            resid[i] = r / np.float32(3.0)
        limit = max(3.0 * np.median(resid), NOISE_FLOOR * 2)
        kept = 0
        for i in range(n):
            keep[i] = resid[i] <= limit
            kept += keep[i]
        if kept < 50:
            break
    return gain, offset, resid


# ---- the solve (kernels: matting.plate_band) ----------------------------------------------
@njit(cache=True)
def foreground_weights(small, alpha, w, fw):
    """``w = clip((α − 0.8)·5, 0, 1)`` (clearly foreground) and ``fw = w·I`` (float32, HxW
    and HxWx3) in one pass over the grid box (numpy's clip, conversions and broadcast
    product took 2.3 ms of the 720p solve's 3.8 for this, measured)."""
    h, wd = alpha.shape
    for y in range(h):
        for x in range(wd):
            v = min(max((alpha[y, x] - np.float32(0.8)) * np.float32(5.0), np.float32(0.0)), np.float32(1.0))
            w[y, x] = v
            for c in range(3):
                fw[y, x, c] = np.float32(small[y, x, c]) * v


def local_foreground(small: np.ndarray, alpha: np.ndarray, radius: int):
    """The person's colour nearby as two window means over ``radius`` (box filters):
    ``(mean of w·I, mean of w)`` with ``w = clip((α − 0.8)·5, 0, 1)`` (float32 HxWx3, HxW).
    Their ratio ``(w·I)/(w + 1e-6)`` is the mean colour of the clearly-foreground pixels
    (0 where there are none: the caller falls back to a wider scale);
    :func:`matting.plate_band.band_foreground` takes it at the few pixels it reads
    (a division over the whole box cost 0.7 ms at 720p). Used on the grid; at full
    resolution ``band_foreground`` computes the same at the band's pixels."""
    h, w = alpha.shape
    wt, fw = np.empty((h, w), np.float32), np.empty((h, w, 3), np.float32)
    foreground_weights(small, alpha, wt, fw)
    k = (2 * radius + 1, 2 * radius + 1)
    cv2.blur(wt, k, dst=wt)
    cv2.blur(fw, k, dst=fw)
    return fw, wt


@njit(cache=True)
def edge_share(grid_alpha, weight, sy, sx):
    """Share of the model's edge on the grid (0.02 < α < 0.98) whose plate pixel (the full-
    resolution pixel under the grid pixel's centre) is confident (weight ≥ FULL_WEIGHT/2);
    0 without an edge. One pass (numpy's nonzero and gathers: 1 ms at 720p)."""
    n = sure = 0
    for y in range(grid_alpha.shape[0]):
        py = int((y + 0.5) * sy)
        for x in range(grid_alpha.shape[1]):
            a = grid_alpha[y, x]
            if a > 0.02 and a < 0.98:
                n += 1
                if weight[py, int((x + 0.5) * sx)] >= FULL_WEIGHT / 2:
                    sure += 1
    return sure / n if n else 0.0


def near_person(person: np.ndarray, r: int) -> np.ndarray:
    """uint8 mask of the pixels within ``r + ½`` of a ``person`` pixel (bool HxW).

    A disk by the exact distance transform (OpenCV's elliptic structuring element to
    within its rim; the dilation with a 53×53 element cost 7 ms at 720p, the transform of
    the whole grid 2.6 ms), taken over the person's bounding box grown by ``r + 1`` only:
    the Euclidean distance is exact there and everything further out is not near (720p
    grid, a person on half of it: 1.4 ms, measured)."""
    near = np.zeros(person.shape, np.uint8)
    m = person.view(np.uint8)
    bx, by, bw, bh = cv2.boundingRect(m)
    if bw == 0:
        return near
    h, w = person.shape
    x0, y0 = max(0, bx - r - 1), max(0, by - r - 1)
    x1, y1 = min(w, bx + bw + r + 1), min(h, by + bh + r + 1)
    dist = cv2.distanceTransform(np.ascontiguousarray(1 - m[y0:y1, x0:x1]), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    near[y0:y1, x0:x1] = dist <= r + 0.5
    return near


def room_regions(match, d2, s2, noise2, mean, var, gain, offset, box, radius: int, pixels: int, index,
                 flat_pixels: int | None = None):
    """Where the model's matte covers the room: ``(ys, xs, room)``, the pixels of the box
    ``(x0, y0, x1, y1)`` to fade (a list, row order) and per pixel 1 if it is the room, or
    None where there is none. ``match`` is :func:`matting.plate_band.residuals`'s ``match``
    (the matte over a sure plate pixel that matches the plate), ``d2``/``s2`` its ``|I − B|²``
    and σ² (box-sized), ``noise2`` the frame's noise² (grey levels²); ``index`` box-sized
    int32 scratch, all −1 (and left so).

    A person in front of a textured stretch of the room cannot reproduce it: a smooth
    foreground ``F`` leaves a residual ``Σ|I − B|²`` over a window of at least the plate's
    own variance there. So a window where the plate is textured (variance above
    ``ROOM_TEXTURE`` × the noise) and the frame matches it (mean ``|I − B|²`` below
    ``ROOM_RESID`` × σ²) is the room seen unchanged. Such pixels vouch for the whole
    connected region of the matte that matches the plate (each pixel within
    ``SNAP_SIGMAS·σ``, as the solve snaps) once there are at least ``pixels`` of them: the
    flat seat of a chair the model took for the person goes with the chair's textured
    edges, while a shirt of the wall's colour over a flat wall has no texture to vouch for
    it and stays. The matching pixels are few: they are listed, labelled and tested on the
    list alone.

    A flat region is the room as well when it has at least ``flat_pixels`` pixels and fits
    the plate to the noise (mean ``|I − B|²/(3σ²)`` ≤ ``ROOM_FLAT_FIT``; a lookalike
    within the match's ``SNAP_SIGMAS`` fits worse on average) and is not mostly clipped
    (a white shirt before a white wall, both at 255, would fit): a hole through the person
    over a plain wall (issue 33)."""
    ys, xs = listed(match)
    if ys.size < pixels:  # no region can have enough pixels to vouch for it
        return None
    lab, n = label_listed(ys, xs, index)
    count = room_vouch(ys, xs, lab, n, mean, var, gain, offset, np.float32(noise2), box[1], box[0], d2, s2, radius,
                       np.float32(3 * ROOM_RESID), np.float32(3 * ROOM_TEXTURE), pixels)
    room = count >= pixels
    if flat_pixels is not None:
        size, fit, clipped = region_fit(ys, xs, lab, n, d2, s2, mean, gain, offset, box[1], box[0])
        room |= (size >= flat_pixels) & (fit <= ROOM_FLAT_FIT * size) & (2 * clipped < size)
    room[0] = False
    return (ys, xs, room[lab].view(np.uint8)) if room.any() else None


@njit(cache=True)
def fade_regions(view, ys, xs, room, keep):
    """``view = round(view·keep)`` (uint8, in place) at the listed pixels whose ``room`` is
    set: the room regions of :func:`room_regions` faded out by the stage's activity."""
    for k in range(ys.size):
        if room[k]:
            y, x = ys[k], xs[k]
            view[y, x] = np.uint8(np.float32(view[y, x]) * keep + np.float32(0.5))


def _grid_map(shape, src_box, dst_box):
    """(ax, bx, ay, by): box pixel ``(y, x)`` of ``dst_box`` sits at ``(y·ay + by, x·ax + bx)``
    in an array of ``shape`` covering ``src_box`` (frame pixels; pixel centres aligned)."""
    sx0, sy0, sx1, sy1 = src_box
    dx0, dy0 = dst_box[:2]
    fx, fy = shape[1] / (sx1 - sx0), shape[0] / (sy1 - sy0)
    return fx, (dx0 + 0.5 - sx0) * fx - 0.5, fy, (dy0 + 0.5 - sy0) * fy - 0.5


# ---- the stage ---------------------------------------------------------------------------
class KnownBackground:
    """The known-background stage of :class:`~matting.pipeline.Pipeline`: holds the
    plate, learns it, checks it against each frame and refines the matte with it."""

    def __init__(self, learn: bool = False):
        self.learn = learn
        self.plate: Plate | None = None
        self.captured = False  # the plate came from a capture (stale → "capture again")
        self.activity = 0.0
        self.state = "off"
        self.edge_share = 0.0
        self.noise = NOISE_FLOOR
        self.gain = np.ones(3, np.float32)
        self.offset = np.zeros(3, np.float32)
        self._bad = 0
        self._good = 0
        self._prev_gray = None
        self._prev_near = None
        self._drift = deque(maxlen=DRIFT_FRAMES)  # the view's shift (frame px) from each frame to the next
        self._window = None  # Hanning window of _shift, kept while the size holds
        self._samples = None
        self._slope = None
        self._edges = None  # (ys, xs) of textured plate pixels, for the registration check
        self._fresh = False  # a plate just given: full activity on its first healthy frame
        self._frame = 0
        self._order = None  # channel order of the plate; None = that of the frames
        self._scratch = Scratch()  # the solve's frame-sized temporaries (box views of them)
        self._index = None  # the pixel index of room_regions and touching_core, kept all −1

    # -- plate management --------------------------------------------------------------
    def set_plate(self, image: np.ndarray, order: str | None = None) -> None:
        """Use ``image`` (uint8 HxWx3/4) as the plate; ``order`` "BGR"/"RGB", or None =
        the order of the frames that follow."""
        self._set(Plate.from_image(_check_plate(image)), order)

    def load(self, path) -> None:
        """The plate from an image file (a capture saved by :meth:`save`, or a photo of the
        empty room from this camera)."""
        from pathlib import Path

        from .io import read_image

        self._set(Plate.from_image(read_image(Path(path).expanduser(), InputError, "background plate")), "BGR")

    def save(self, path) -> None:
        """Write the plate as an image file (PNG keeps it exact)."""
        from pathlib import Path

        from .io import write_image

        if self.plate is None:
            raise InputError("no background plate to save: capture one first")
        img = self.plate.image()
        write_image(Path(path).expanduser(), img[:, :, ::-1] if self._order == "RGB" else img)

    def capture(self, frames, order: str | None = None) -> None:
        """Plate from frames of the empty room (their per-pixel median); ``order`` as for
        :meth:`set_plate`."""
        frames = [_check_plate(f) for f in frames]
        if not frames:
            raise InputError("capture_background needs at least one frame")
        if len({f.shape[:2] for f in frames}) != 1:
            raise InputError("capture_background: frames of different sizes")
        self._set(Plate.from_frames(frames), order)

    def _set(self, plate: Plate, order: str | None) -> None:
        self.plate, self.captured, self._order = plate, True, order
        self._reset_health()

    def reset(self) -> None:
        """Forget what was learnt (a captured plate stays)."""
        if not self.captured:
            self.plate = None
        self._reset_health()

    def clear(self) -> None:
        self.plate, self.captured = None, False
        self._reset_health()

    def _reset_health(self) -> None:
        self.activity, self._bad, self._good, self.state = 0.0, 0, 0, "learning"
        # A plate just given that fits the very first frame has nothing to fade in from.
        self._fresh = self.captured
        self.gain, self.offset = np.ones(3, np.float32), np.zeros(3, np.float32)
        self._prev_gray = None
        self._prev_near = None
        self._drift.clear()
        self._slope = None
        self._edges = None

    @property
    def status(self) -> str:
        """One line for the front ends."""
        if self.plate is None and not self.learn:
            return "known background: off"
        if self.state == "moved":
            return "known background: off (camera moved)"
        if self.state == "stale":
            return "known background: stale — capture again" if self.captured and not self.learn \
                else "known background: stale — learning again"
        if self.state == "active" and self.activity > 0:
            return f"known background: active ({100 * self.edge_share:.0f} % of the edge)"
        return "known background: learning"

    # -- per frame -----------------------------------------------------------------------
    def process(self, frame: np.ndarray, small: np.ndarray, grid_alpha: np.ndarray, alpha: np.ndarray,
                box, foreground, order: str = "BGR"):
        """Refine the pipeline's full-resolution ``alpha`` (uint8, changed in place) with
        the plate, and learn from the frame. ``small`` is the frame at grid size and
        ``grid_alpha`` the model's matte there; ``box``/``foreground`` as returned by the
        pipeline's refinement. Returns the new (alpha, box, foreground)."""
        if self.plate is None and not self.learn:
            return alpha, box, foreground
        h, w = frame.shape[:2]
        if self.plate is None:
            self.plate, self.captured = Plate(h, w), False
        elif self.plate.shape != (h, w):
            self.plate, self._slope, self._edges = self.plate.resized(h, w), None, None
        if self._order not in (None, order):
            self.plate.mean[...] = self.plate.mean[:, :, ::-1].copy()
        self._order = order
        self._frame += 1
        gh, gw = grid_alpha.shape
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        near = near_person(grid_alpha > 0.02, max(1, round(LEARN_MARGIN * max(gh, gw))))
        moving = None
        if self._prev_gray is not None:
            # Changed since the last frame, once a global change of brightness (auto
            # exposure, flicker) is taken out: a few % of exposure is no motion.
            room = (near == 0).view(np.uint8)
            prev = self._prev_gray.astype(np.float32)
            # cv2.mean with a mask: the same float64 means as numpy's boolean gathers, 0.7 ms less.
            k = ((cv2.mean(gray, room)[0] + 1) / (cv2.mean(self._prev_gray, room)[0] + 1)
                 if cv2.countNonZero(room) else 1.0)
            moving = np.abs(gray.astype(np.float32) - np.float32(k) * prev) > 6
            self._drift.append(self._shift(self._prev_gray, self._prev_near, gray, near, h / gh, w / gw))
        self._prev_gray, self._prev_near = gray, near

        if self._slope is None or self._frame % 32 == 0:
            self._slope = _slope(self.plate.mean)
            self._edges = None
        healthy, moved = self._check(frame, near, moving, gh, gw)
        self._advance(healthy, moved)

        out = alpha, box, foreground
        if self.activity > 0 and box[2] > box[0]:
            out = self._refine(frame, small, grid_alpha, alpha, box, foreground)
        if self.learn or self.captured:
            learn = near == 0
            if moving is not None:
                learn &= cv2.dilate(moving.view(np.uint8), np.ones((3, 3), np.uint8)) == 0
            if self.state in ("moved",):
                learn[...] = False
            update_plate(frame, learn.view(np.uint8), gh / h, gw / w, self.gain, self.offset,
                         self._frame % LEARN_ROW_STEP, LEARN_ROW_STEP, self.plate.mean, self.plate.var,
                         self.plate.weight)
        return out

    def _shift(self, prev, prev_near, gray, near, sy, sx):
        """The room's global shift from ``prev`` to ``gray`` (grid grey images), in frame
        pixels (x, y), by phase correlation at half the grid's size. The person's
        surroundings in either frame (``prev_near``, ``near``) are set to the room's mean
        in both, so a moving person does not count. A pan too slow for the pixel tests
        (under a pixel a frame: each frame then looks like the last, and a learnt plate
        follows it) adds up over :data:`DRIFT_FRAMES` (see :meth:`_check`)."""
        person = (near != 0) | (prev_near != 0)
        a, b = cv2.pyrDown(prev), cv2.pyrDown(gray)
        person = cv2.resize(person.view(np.uint8), a.shape[::-1], interpolation=cv2.INTER_NEAREST)
        room = cv2.bitwise_not(person * np.uint8(255))
        if cv2.countNonZero(room) < 0.25 * room.size:  # too little room in view to tell
            return (0.0, 0.0)
        fill = cv2.mean(a, room)[0]
        a, b = a.astype(np.float32), b.astype(np.float32)
        a[person > 0], b[person > 0] = fill, fill
        if self._window is None or self._window.shape != a.shape:
            self._window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
        (dx, dy), _ = cv2.phaseCorrelate(a, b, self._window)
        return (2 * dx * sx, 2 * dy * sy)

    def _check(self, frame, near, moving, gh, gw):
        """(healthy, camera moved) for this frame; updates gain/offset. None = no say
        (too few confident background pixels to judge)."""
        h, w = frame.shape[:2]
        if self._samples is None or self._samples[0].max() >= h or self._samples[1].max() >= w:
            rng = np.random.default_rng(0)
            self._samples = (rng.integers(0, h, SAMPLES), rng.integers(0, w, SAMPLES))
        ys, xs = self._samples
        gy = np.minimum((ys * gh) // h, gh - 1)
        gx = np.minimum((xs * gw) // w, gw - 1)
        bg = near[gy, gx] == 0
        moved = False
        if moving is not None:
            mv = moving[gy, gx][bg]
            moved = mv.size > 100 and float(mv.mean()) > MOVING_MAX
        # A slow pan: the room's frame-to-frame shifts add up (_shift).
        drifting = bool(self._drift) and math.hypot(*np.sum(self._drift, axis=0)) > DRIFT_PX
        sel = bg & (self.plate.weight[ys, xs] >= FULL_WEIGHT / 2)
        if sel.sum() < 100:
            moved = moved or drifting
            return (False if moved else None), moved
        obs, ref = gather_colours(frame, self.plate.mean, ys[sel], xs[sel])
        gain, offset, resid = fit_gain(obs, ref)
        self.gain, self.offset = gain, offset
        self.disagree = float((resid > DISAGREE_LEVELS).mean())
        self.noise = max(NOISE_FLOOR, FRAME_NOISE * float(np.median(resid)))
        moved = moved or self._misregistered(frame, near, gh, gw, gain, offset) or drifting
        return (self.disagree <= DISAGREE_MAX and not moved), moved

    def _misregistered(self, frame, near, gh, gw, gain, offset) -> bool:
        """Whether the view has moved against the plate. Where the room is flat a shifted
        view still matches it, so the general disagreement check sees a pan late; on the
        plate's textured pixels (a 1-px shift changes them by ≥ 2·EDGE_SLOPE levels) the
        frame matches the plate to the noise while the camera holds still, and not at all
        once it moves: their median residual beyond DISAGREE_LEVELS means moved."""
        h, w = frame.shape[:2]
        if self._edges is None:
            ys, xs = np.nonzero((self._slope >= EDGE_SLOPE) & (self.plate.weight >= FULL_WEIGHT))
            if ys.size > EDGE_SAMPLES:
                pick = np.random.default_rng(1).choice(ys.size, EDGE_SAMPLES, replace=False)
                ys, xs = ys[pick], xs[pick]
            self._edges = (ys, xs)
        ys, xs = self._edges
        bg = near[np.minimum((ys * gh) // h, gh - 1), np.minimum((xs * gw) // w, gw - 1)] == 0
        if bg.sum() < EDGE_MIN:
            return False
        obs, ref = gather_colours(frame, self.plate.mean, ys[bg], xs[bg])
        resid = np.abs(obs - (ref * gain + offset)).mean(axis=1)
        return float(np.median(resid)) > DISAGREE_LEVELS

    def _advance(self, healthy, moved) -> None:
        """The on/off state machine: fade in while healthy, out while not; a run of bad
        frames marks the plate stale (in learning mode it is forgotten and relearnt)."""
        if moved:
            # A plate of another view is wrong at once: no fading out.
            self.activity = 0.0
        if healthy is None:
            if self.state == "active" and self.activity == 0:
                self.state = "learning"
            return
        if healthy:
            self._good += 1
            self._bad = 0
            if self.state in ("stale", "moved") and self._good < STALE_FRAMES:
                return
            self.state = "active"
            self.activity = 1.0 if self._fresh else min(1.0, self.activity + FADE_IN)
            self._fresh = False
            return
        self._good = 0
        self._fresh = False
        self._bad += 1
        self.activity = max(0.0, self.activity - FADE_OUT)
        if moved:
            self.state = "moved"
        elif self._bad >= STALE_FRAMES:
            self.state = "stale"
        if self._bad >= STALE_FRAMES and self.learn:
            # Learning: the view changed for good; start over from what is seen now.
            self.plate.weight.fill(0)
            self.captured = False

    def _refine(self, frame, small, grid_alpha, alpha, box, foreground):
        """The plate's part of the matte inside the box around the person (``alpha``
        changed in place): the room the model took removed, the edge band solved.
        Returns (alpha, box, foreground) for the composite."""
        h, w = frame.shape[:2]
        gh, gw = grid_alpha.shape
        sy, sx = h / gh, w / gw
        pad = max(2, round(BAND_OUT * max(h, w)))
        x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
        x1, y1 = min(w, box[2] + pad), min(h, box[3] + pad)
        # Share of the model's edge (on the grid) where the plate is confident.
        self.edge_share = edge_share(grid_alpha, self.plate.weight, sy, sx)
        if self.edge_share == 0.0:  # the plate knows nothing along the model's edge: nothing to solve
            return alpha, box, foreground
        bh, bw = y1 - y0, x1 - x0
        view = alpha[y0:y1, x0:x1]
        scale = max(h, w) / 1280
        # One dense pass over the box: |I − B|², the noise σ² and the pixels that match a
        # sure plate under the matte (frame-sized scratch, box views: no allocation a frame).
        d2, s2 = (self._scratch.get(k, (h, w))[:bh, :bw] for k in ("d2", "s2"))
        match = self._scratch.get("match", (h, w), np.uint8)[:bh, :bw]
        noise2 = np.float32(self.noise ** 2)
        residuals(frame, self.plate.mean, self.plate.var, self._slope, self.plate.weight, self.gain, self.offset,
                  noise2, _PRIOR_MIN, view, y0, x0, d2, s2, match)
        # Regions of the matte that are the room seen unchanged (a chair the model took
        # for the person) go first, then the edge band is solved against what is left.
        if self._index is None or self._index.shape != (h, w):
            self._index = np.full((h, w), -1, np.int32)  # the labelling's scratch, kept all −1
        room = room_regions(match, d2, s2, noise2, self.plate.mean, self.plate.var, self.gain, self.offset,
                            (x0, y0, x1, y1), max(1, round(ROOM_RADIUS * scale)),
                            max(1, round(ROOM_PIXELS * scale * scale)), self._index[:bh, :bw],
                            max(1, round(ROOM_FLAT_PIXELS * scale * scale)))
        if room is not None:
            fade_regions(view, *room, np.float32(1 - self.activity))
        # Deep inside the person the model is right and the projection is not (eyes,
        # shading: I is far from both F̄ and B): the solve works on the edge band only,
        # and there only where it can change something (some α, or not the room).
        r_in = max(1, round(BAND_IN * max(h, w)))
        inner = cv2.erode((view >= _SURE_MIN).view(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * r_in + 1, 2 * r_in + 1)))
        rel = self._scratch.get("rel", (h, w), np.uint8)[:bh, :bw]
        # A learnt plate is sure of only part of the box; where it is not, the fusion would
        # leave the model's α, so those pixels are not solved (on a held-out 1080p sequence
        # whose model matte is soft over a fifth of the box, that was 250 ms a frame).
        ys, xs = band_pixels(view, inner, d2, s2, self.plate.weight, y0, x0, _CORE_MIN, rel)
        new_box = (x0, y0, x1, y1)
        if foreground is not None:
            # Halo-removal colours where the composite reads them, from the grid means;
            # the fusion below overwrites the solved pixels with the exact ones.
            fmg, bmg = foreground
            # Kept buffers, two sets in turn (the pipeline may still hold the last frame's
            # colours): fresh box-sized arrays page-faulted on every first touch, 2–10 ms a
            # frame at 720p on this machine (measured).
            fm, bm = (self._buffer(f"{k}{self._frame % 2}", (bh, bw, 3)) for k in ("fm", "bm"))
            fill_means(view, rel, fmg, bmg, *_grid_map(fmg.shape, box, new_box), fm, bm)
        else:
            fm = bm = np.zeros((0, 0, 3), np.float32)
        if ys.size:
            self._solve(frame, small, grid_alpha, view, inner, d2, s2, ys, xs, new_box, fm, bm)
        return alpha, new_box, (fm, bm) if foreground is not None else None

    def _buffer(self, name, shape):
        """A C-contiguous float32 array of ``shape`` (a box of the frame, 3 channels) at the
        start of a kept frame-sized buffer."""
        n = int(np.prod(shape))
        return self._scratch.get(name, (self.plate.mean.size,))[:n].reshape(shape)

    def _solve(self, frame, small, grid_alpha, view, inner, d2, s2, ys, xs, box, fm, bm):
        """The known-background matte at the band's pixels ``(ys, xs)`` of ``box``, fused
        into ``view`` (the box of the frame's matte) and the halo-removal colours."""
        h, w = frame.shape[:2]
        gh, gw = grid_alpha.shape
        sy, sx = h / gh, w / gw
        x0, y0, x1, y1 = box
        scale = max(h, w) / 1280
        k = ys.size
        # The person's colour nearby: at full resolution close to the model's sure
        # matte, from a wide window at grid resolution further out.
        gx0, gy0 = int(x0 / sx), int(y0 / sy)
        gx1, gy1 = min(gw, int(math.ceil(x1 / sx))), min(gh, int(math.ceil(y1 / sy)))
        wide, wide_w = local_foreground(small[gy0:gy1, gx0:gx1], grid_alpha[gy0:gy1, gx0:gx1], 16)
        f = np.empty((k, 3), np.float32)
        band_foreground(frame, view, y0, x0, ys, xs, max(2, round(FOREGROUND_RADIUS * scale)), wide, wide_w,
                        *_grid_map(wide.shape, (gx0 * sx, gy0 * sy, gx1 * sx, gy1 * sy), box), f)
        a_kb, sep2 = np.empty(k, np.float32), np.empty(k, np.float32)
        # The projection, then F propagated outwards from the pixels just solved (weighted
        # by α² over a window: thin hair gets the colour of the hair next to it).
        acc, blurred = np.empty((k, 4), np.float32), np.empty((k, 4), np.float32)
        r_prop = max(2, round(PROPAGATE_RADIUS * scale))
        for it in range(SOLVE_ITERATIONS + 1):
            last = it == SOLVE_ITERATIONS
            band_project(frame, self.plate.mean, self.gain, self.offset, d2, s2, y0, x0, ys, xs, f,
                         _NO_ACC if last else acc, a_kb, sep2)
            if not last:
                band_window_mean(ys, xs, acc, y1 - y0, x1 - x0, r_prop, blurred)
                band_spread(blurred, f)
        # Then each pixel's F among the opaque colours nearby: the pixels the solve calls
        # opaque and the sure interior (issue 13: F̄ is pulled towards the room by mixed
        # pixels, so soft pixels came out too opaque).
        cand = inner.copy()
        opaque = a_kb >= OPAQUE
        cand[ys[opaque], xs[opaque]] = 1
        band_sample(frame, self.plate.mean, self.gain, self.offset, d2, s2, y0, x0, ys, xs, cand,
                    max(2, round(SAMPLE_RADIUS * scale)), max(1, round(SAMPLE_STEP * scale)), a_kb, sep2)
        # Only regions that touch the person: changes elsewhere are left to the model.
        keep = touching_core(view, ys, xs, (a_kb >= 0.1).view(np.uint8), _CORE_MIN,
                             self._index[:y1 - y0, :x1 - x0])
        band_fuse(view, ys, xs, a_kb, sep2, keep, self.plate.weight, y0, x0,
                  np.float32(self.activity), np.float32(SEPARATION), frame, self.plate.mean, self.gain,
                  self.offset, fm, bm)


def _slope(mean: np.ndarray) -> np.ndarray:
    """How much a plate pixel may be off when the room's edges seem to move by
    ``EDGE_SHIFT`` px (grey levels): a sub-pixel shift of a sharp edge changes the colour
    by about the gradient times the shift."""
    g = cv2.cvtColor(mean, cv2.COLOR_BGR2GRAY)
    slope = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    return slope * np.float32(EDGE_SHIFT / 8)


def _check_plate(image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] not in (3, 4):
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"a background plate must be a uint8 HxWx3 or HxWx4 image, got {got}")
    return image
