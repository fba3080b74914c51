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
* **The solve** (:func:`solve_alpha`): in a band around the model's edge, the
  person's local colour ``F̄`` (mean of clearly-foreground pixels nearby) gives the
  projection ``α = (I − B)·(F̄ − B) / |F̄ − B|²``; differences within the noise snap to
  0, and the result is trusted by how well ``F̄`` and ``B`` are separated and by the
  plate's confidence. Regions that differ from the room and touch the person (hair the
  model missed, a held object) come in; regions that do not touch the person are left
  to the model. The foreground colour for halo removal is then exact:
  ``F = (I − (1−α)B) / α``.
* **Knowing when not to** (:class:`KnownBackground`): global camera motion, a lighting
  change the gain cannot explain, or a plate that disagrees with the frame over a large
  area fade the known background out within a few frames (the model's matte is used
  unchanged) and mark the plate stale; :attr:`KnownBackground.status` says which.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit, prange

from .errors import InputError

FULL_WEIGHT = 8.0  # agreeing observations for full confidence in a plate pixel
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
BAND_IN = 0.0025  # fraction of the frame's long side inside the model's sure matte still solved
BAND_OUT = 0.035  # fraction of the frame's long side searched outside the model's matte
EDGE_SHIFT = 0.5  # pixels: how far the room's edges may seem to move (plate vs frame)
SEPARATION = 4.0  # |F − B| (grey levels) at which the projection gets half trust (measured: any
# more caution costs, the model is no better where the person has the room's colour)
SNAP_SIGMAS = 1.6  # closer to the plate than this (in σ) is the room
FRAME_NOISE = 1.6  # σ of the frame's noise = FRAME_NOISE × median plate residual (c-noisy: JPEG
# and sensor noise are correlated and heavier-tailed than Gaussian)
FOREGROUND_RADIUS = 3  # px at 720p: window of the person's local colour
ROOM_RADIUS = 3  # px at 720p: window of the room test (texture of the plate, residual of the frame)
ROOM_RESID = 4.0  # a window is the room seen unchanged if its residual |I − B|² is below this × the noise
ROOM_TEXTURE = 16.0  # … and the plate's colour variance there is above this × the noise (textured)
ROOM_PIXELS = 20  # px at 720p: such pixels a plate-matching region of the matte needs to be the room
SOLVE_ITERATIONS = 1  # steps of propagating F outwards from the pixels just solved
PROPAGATE_RADIUS = 6  # px at 720p: window over which each step spreads F (2 → 6: a-static 1.96 → 1.86)
SAMPLE_RADIUS = 10  # px at 720p: window of the opaque colours each pixel's F is chosen among …
SAMPLE_STEP = 2  # … every SAMPLE_STEP-th px of it (121 candidates; 10/2 beat 6/1 everywhere measured)
OPAQUE = 0.99  # the solve's α from which a pixel's own colour is taken for the person's


# ---- the plate ---------------------------------------------------------------------------
@njit(parallel=True, cache=True)
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
    for yi in prange((h - phase + step - 1) // step):
        y = phase + yi * step
        ly = min(int((y + 0.5) * fy), lh - 1)
        for x in range(w):
            if learn[ly, min(int((x + 0.5) * fx), lw - 1)] == 0:
                continue
            d2 = 0.0
            obs = np.empty(3, np.float32)
            for c in range(3):
                obs[c] = (np.float32(image[y, x, c]) - offset[c]) / gain[c]
                d = obs[c] - mean[y, x, c]
                d2 += d * d
            d2 /= 3.0
            wt = weight[y, x]
            if wt < 1.0 or d2 < MATCH_SIGMAS * MATCH_SIGMAS * (var[y, x] + floor2):
                r = 1.0 / (wt + 1.0)
                for c in range(3):
                    mean[y, x, c] += r * (obs[c] - mean[y, x, c])
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


def fit_gain(observed: np.ndarray, plate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel ``observed ≈ gain·plate + offset`` (float32 Nx3 each) by least squares,
    refitted once without the worst-fitting samples (a person's arm, a moved object).
    Returns (gain, offset, residual per sample in grey levels)."""
    gain, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
    keep = np.ones(len(observed), bool)
    for _ in range(2):
        for c in range(3):
            p, o = plate[keep, c], observed[keep, c]
            vp = p.var()
            g = float(((p - p.mean()) * (o - o.mean())).mean() / vp) if vp > 25.0 else 1.0
            g = min(max(g, 0.5), 2.0)
            gain[c], offset[c] = g, o.mean() - g * p.mean()
        resid = np.abs(observed - (plate * gain + offset)).mean(axis=1)
        keep = resid <= max(3.0 * float(np.median(resid)), NOISE_FLOOR * 2)
        if keep.sum() < 50:
            break
    return gain, offset, resid


# ---- the solve ---------------------------------------------------------------------------
def local_foreground(small: np.ndarray, alpha: np.ndarray, radius: int) -> np.ndarray:
    """The person's colour nearby (float32 HxWx3), the mean of the clearly-foreground
    pixels within ``radius`` (where there are none: 0 weight → the result is 0; the
    caller falls back to a wider scale)."""
    w = np.clip((alpha - 0.8) * 5.0, 0, 1).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    s = cv2.blur(w, k)
    return cv2.blur(small.astype(np.float32) * w[:, :, None], k) / (s[:, :, None] + 1e-6), s


@njit(parallel=True, cache=True)
def project(image, mean, gain, offset, sigma, y0, x0, todo, f, prop, wprop, alpha, sep2, fw, w):
    """One step of the known-background solve over a box (top-left ``(y0, x0)`` in the
    frame; ``image`` and the plate ``mean`` are whole frames, the rest box-sized), on the
    pixels where ``todo`` is set (elsewhere the outputs are 0).

    ``B = gain·mean + offset``; ``F`` is ``prop / wprop`` where ``wprop > 0.05`` (the
    previous step's colours, spread) if ``prop`` is box-sized, else ``f`` (``f`` is set to
    the ``F`` used). ``α`` = projection of ``I − B`` onto ``F − B`` clipped to [0, 1], 0
    where ``I`` is within ``SNAP_SIGMAS·sigma`` of ``B``; ``sep2 = |F − B|²``. For the next
    step: ``w = α²`` and ``fw = w·clip(B + (I − B)/max(α, 0.05))``: the colours come from
    the solve alone, not from the model's matte (a mixed pixel the model calls sure would
    give ``F = I``, pulled towards the room, and the next step would overestimate α)."""
    h, wd = alpha.shape
    spread = prop.shape[0] == h and prop.shape[1] == wd
    for y in prange(h):
        for x in range(wd):
            if todo[y, x] == 0:
                alpha[y, x] = 0.0
                sep2[y, x] = 0.0
                w[y, x] = 0.0
                for c in range(3):
                    fw[y, x, c] = 0.0
                continue
            use = spread and wprop[y, x] > 0.05
            dist2 = 0.0
            s2 = 0.0
            dot = 0.0
            for c in range(3):
                b = mean[y0 + y, x0 + x, c] * gain[c] + offset[c]
                d = np.float32(image[y0 + y, x0 + x, c]) - b
                fc = prop[y, x, c] / wprop[y, x] if use else f[y, x, c]
                f[y, x, c] = fc
                dist2 += d * d
                s2 += (fc - b) * (fc - b)
                dot += d * (fc - b)
            a = min(max(dot / (s2 + 1e-3), 0.0), 1.0)
            if dist2 < 3.0 * (SNAP_SIGMAS * sigma[y, x]) ** 2:
                a = 0.0
            alpha[y, x] = a
            sep2[y, x] = s2
            wt = a * a
            w[y, x] = wt
            inv = 1.0 / max(a, 0.05)
            for c in range(3):
                b = mean[y0 + y, x0 + x, c] * gain[c] + offset[c]
                d = np.float32(image[y0 + y, x0 + x, c]) - b
                fw[y, x, c] = wt * min(max(b + d * inv, 0.0), 255.0)
    return alpha


@njit(parallel=True, cache=True)
def sample_alpha(image, mean, gain, offset, sigma, y0, x0, todo, cand, radius, a_in, alpha, sep2, step):
    """The known-background matte with ``F`` chosen per pixel among the person's opaque
    colours nearby (Bayesian / sampling matting with ``B`` known), on the pixels where
    ``todo`` is set (``alpha``/``sep2`` are ``a_in``/their input elsewhere).

    Each pixel with ``cand`` set at offsets ``(−radius, −radius + step, …, radius)`` in
    both directions gives a candidate ``F = I`` there;
    with ``v = F − B`` (this pixel's ``B``) its ``α = clip((I − B)·v / |v|², 0, 1)`` and
    residual ``|I − B − α·v|²``; the candidate that best explains ``I`` on the line
    ``B → F`` wins (``sep2 = |v|²``). Its projected difference ``α·|v|`` within
    ``√3·SNAP_SIGMAS·sigma`` (the noise) is the room: ``α = 0``. Where no candidate is in
    reach, or ``|I − B|`` itself is within that noise (then ``α·|v| ≤ |I − B|`` snaps
    whatever ``F`` is, and :func:`project` gave ``a_in = 0``), ``a_in`` and ``sep2`` stay."""
    h, w = alpha.shape
    snap = np.float32(3.0 * SNAP_SIGMAS * SNAP_SIGMAS)
    for y in prange(h):
        for x in range(w):
            alpha[y, x] = a_in[y, x]
            if todo[y, x] == 0:
                continue
            b0 = mean[y0 + y, x0 + x, 0] * gain[0] + offset[0]
            b1 = mean[y0 + y, x0 + x, 1] * gain[1] + offset[1]
            b2 = mean[y0 + y, x0 + x, 2] * gain[2] + offset[2]
            d0 = np.float32(image[y0 + y, x0 + x, 0]) - b0
            d1 = np.float32(image[y0 + y, x0 + x, 1]) - b1
            d2 = np.float32(image[y0 + y, x0 + x, 2]) - b2
            if d0 * d0 + d1 * d1 + d2 * d2 < snap * sigma[y, x] * sigma[y, x]:
                continue  # the room: α·|v| ≤ |I − B| snaps whatever F is (a_in is 0 there too)
            best = np.float32(np.inf)
            ba = np.float32(0.0)
            bs2 = np.float32(0.0)
            for yy in range(y - radius, y + radius + 1, step):
                if yy < 0 or yy >= h:
                    continue
                for xx in range(x - radius, x + radius + 1, step):
                    if xx < 0 or xx >= w or cand[yy, xx] == 0:
                        continue
                    v0 = np.float32(image[y0 + yy, x0 + xx, 0]) - b0
                    v1 = np.float32(image[y0 + yy, x0 + xx, 1]) - b1
                    v2 = np.float32(image[y0 + yy, x0 + xx, 2]) - b2
                    s2 = v0 * v0 + v1 * v1 + v2 * v2
                    if s2 < 1.0:
                        continue
                    a = min(max((d0 * v0 + d1 * v1 + d2 * v2) / s2, np.float32(0.0)), np.float32(1.0))
                    r0 = d0 - a * v0
                    r1 = d1 - a * v1
                    r2 = d2 - a * v2
                    r = r0 * r0 + r1 * r1 + r2 * r2
                    if r < best:
                        best, ba, bs2 = r, a, s2
            if best < np.inf:
                if ba * ba * bs2 < snap * sigma[y, x] * sigma[y, x]:
                    ba = np.float32(0.0)
                alpha[y, x] = ba
                sep2[y, x] = bs2
    return alpha


def solve_alpha(image, mean, gain, offset, sigma, box, todo, fbar,
                iterations: int = SOLVE_ITERATIONS, radius: int = 2):
    """Known-background matte of ``box`` = (x0, y0, x1, y1): ``(α, |F − B|²)`` (float32
    HxW each).

    ``image`` (uint8) and the plate ``mean`` (float32, corrected by ``gain``/``offset``)
    are whole frames; ``sigma`` (noise per pixel, grey levels), ``todo`` (uint8: where
    to solve) and ``fbar`` (the person's colour nearby, HxWx3) cover the box. ``α`` is the projection of ``I − B`` onto ``F − B``, 0 where
    ``I`` is within ``SNAP_SIGMAS`` σ of the plate. ``F`` starts as ``fbar`` and is then
    propagated outwards from the pixels just solved, ``F = B + (I − B)/α`` weighted by
    ``α²`` over a window of ``2·radius + 1`` px, so thin hair gets the colour of the hair
    next to it rather than of the opaque mass (measured on a-static: band MAD 1.61 → 1.49
    with 2 steps). Only the solve's own α weighs these colours (issue 13: with the model's
    sure matte as a floor, a-static 2.04 → 1.96 MAD ×1e3)."""
    x0, y0, x1, y1 = box
    hw = (y1 - y0, x1 - x0)
    alpha, sep2, w = (np.empty(hw, np.float32) for _ in range(3))
    fw = np.empty((*hw, 3), np.float32)
    f = np.ascontiguousarray(fbar, np.float32)
    prop, wprop = np.zeros((0, 0, 3), np.float32), np.zeros((0, 0), np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    for it in range(iterations + 1):
        project(image, mean, gain, offset, sigma, y0, x0, todo, f, prop, wprop, alpha, sep2, fw, w)
        if it < iterations:
            prop, wprop = cv2.blur(fw, k), cv2.blur(w, k)
    return alpha, sep2


def room_regions(image, mean, gain, offset, sigma, noise2, sure_plate, prior, box, radius: int, pixels: int):
    """Where the model's matte (``prior``, 0–1, box-sized) covers the room: a bool mask
    of the box ``(x0, y0, x1, y1)``.

    A person in front of a textured stretch of the room cannot reproduce it: a smooth
    foreground ``F`` leaves a residual ``Σ|I − B|²`` over a window of at least the plate's
    own variance there. So a window where the plate is textured (variance above
    ``ROOM_TEXTURE`` × the noise ``noise2``, grey levels², HxW) and the frame matches it
    (mean ``|I − B|²`` below ``ROOM_RESID`` × ``sigma²``) is the room seen unchanged. Such
    pixels vouch for the whole connected region of the matte that matches the plate
    (each pixel within ``SNAP_SIGMAS·sigma``, as the solve snaps) once there are at least
    ``pixels`` of them: the flat seat of a chair the model took for the person goes with
    the chair's textured edges, while a shirt of the wall's colour over a flat wall has
    no texture to vouch for it and stays. Only plate pixels with ``sure_plate`` set
    count."""
    x0, y0, x1, y1 = box
    b = mean[y0:y1, x0:x1] * gain + offset
    d = image[y0:y1, x0:x1, :3].astype(np.float32) - b
    d2 = np.einsum("ijk,ijk->ij", d, d)
    k = (2 * radius + 1, 2 * radius + 1)
    mb = cv2.blur(b, k)
    texture = cv2.blur(np.einsum("ijk,ijk->ij", b, b), k) - np.einsum("ijk,ijk->ij", mb, mb)
    s2 = sigma * sigma
    vouch = (cv2.blur(d2, k) < np.float32(3 * ROOM_RESID) * cv2.blur(s2, k)) \
        & (texture > np.float32(3 * ROOM_TEXTURE) * noise2) & sure_plate
    match = (d2 < np.float32(3 * SNAP_SIGMAS ** 2) * s2) & (prior > 0.02) & sure_plate
    n, labels = cv2.connectedComponents(match.view(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(match.shape, bool)
    count = np.bincount(labels[vouch & match], minlength=n)
    room = count >= pixels
    room[0] = False
    return room[labels]


@njit(parallel=True, cache=True)
def fuse_matte(alpha, a_kb, sep2, weight, y0, x0, activity, keep, image, mean, gain, offset, fm, bm):
    """Fuse the known-background matte into the model's (``alpha``: uint8 box view of the
    frame's matte, rewritten in place) by trust ``c = confidence · |F−B|²/(|F−B|² + S²) ·
    activity`` (confidence as :meth:`Plate.confidence`) where ``keep`` is set (0 elsewhere). Where ``c ≥ 0.5`` and ``fm`` is
    box-sized, the halo-removal colours become ``F = (I − (1−α)B)/α`` and ``B`` (the band's
    composite is then ``I − (1−α)(B − B_new)``: the old room is subtracted exactly).
    Returns the number of pixels with ``c ≥ 0.5``."""
    h, w = alpha.shape
    colours = fm.shape[0] == h and fm.shape[1] == w
    s2 = np.float32(SEPARATION * SEPARATION)
    count = np.zeros(h, np.int64)
    for y in prange(h):
        for x in range(w):
            if keep[y, x] == 0:
                continue
            conf = min(max(weight[y0 + y, x0 + x] * np.float32(2 / FULL_WEIGHT) - 1, np.float32(0.0)),
                       np.float32(1.0))
            c = conf * sep2[y, x] / (sep2[y, x] + s2) * activity
            if c <= 0:
                continue
            a0 = np.float32(alpha[y, x]) * np.float32(1 / 255)
            a = a0 + c * (a_kb[y, x] - a0)
            q = np.uint8(min(max(a, 0.0), 1.0) * 255 + 0.5)
            alpha[y, x] = q
            if c >= 0.5:
                count[y] += 1
                if colours:
                    af = max(np.float32(q) * np.float32(1 / 255), np.float32(1 / 255))
                    for ch in range(3):
                        b = mean[y0 + y, x0 + x, ch] * gain[ch] + offset[ch]
                        fm[y, x, ch] = (np.float32(image[y0 + y, x0 + x, ch]) - (1 - af) * b) / af
                        bm[y, x, ch] = b
    return count.sum()


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
        self._samples = None
        self._slope = None
        self._edges = None  # (ys, xs) of textured plate pixels, for the registration check
        self._fresh = False  # a plate just given: full activity on its first healthy frame
        self._frame = 0
        self._order = None  # channel order of the plate; None = that of the frames

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
        person = grid_alpha > 0.02
        r = max(1, round(LEARN_MARGIN * max(gh, gw)))
        near = cv2.dilate(person.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        moving = None
        if self._prev_gray is not None:
            # Changed since the last frame, once a global change of brightness (auto
            # exposure, flicker) is taken out: a few % of exposure is no motion.
            room = near == 0
            prev = self._prev_gray.astype(np.float32)
            k = float(gray[room].mean() + 1) / float(prev[room].mean() + 1) if room.any() else 1.0
            moving = np.abs(gray.astype(np.float32) - np.float32(k) * prev) > 6
        self._prev_gray = gray

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
        sel = bg & (self.plate.weight[ys, xs] >= FULL_WEIGHT / 2)
        if sel.sum() < 100:
            return (False if moved else None), moved
        obs = frame[ys[sel], xs[sel], :3].astype(np.float32)
        ref = self.plate.mean[ys[sel], xs[sel]]
        gain, offset, resid = fit_gain(obs, ref)
        self.gain, self.offset = gain, offset
        self.disagree = float((resid > DISAGREE_LEVELS).mean())
        self.noise = max(NOISE_FLOOR, FRAME_NOISE * float(np.median(resid)))
        moved = moved or self._misregistered(frame, near, gh, gw, gain, offset)
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
        obs = frame[ys[bg], xs[bg], :3].astype(np.float32)
        resid = np.abs(obs - (self.plate.mean[ys[bg], xs[bg]] * gain + offset)).mean(axis=1)
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
        h, w = frame.shape[:2]
        gh, gw = grid_alpha.shape
        sy, sx = h / gh, w / gw
        pad = max(2, round(BAND_OUT * max(h, w)))
        x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
        x1, y1 = min(w, box[2] + pad), min(h, box[3] + pad)
        # Share of the model's edge (on the grid) where the plate is confident.
        band = (grid_alpha > 0.02) & (grid_alpha < 0.98)
        by, bx = np.nonzero(band)
        conf_edge = self.plate.weight[((by + 0.5) * sy).astype(np.intp), ((bx + 0.5) * sx).astype(np.intp)]
        self.edge_share = float((conf_edge >= FULL_WEIGHT / 2).mean()) if by.size else 0.0
        if self.edge_share == 0.0:  # the plate knows nothing along the model's edge: nothing to solve
            return alpha, box, foreground
        sigma = np.sqrt(self.plate.var[y0:y1, x0:x1] + np.float32(self.noise ** 2) + self._slope[y0:y1, x0:x1] ** 2)
        img = frame[y0:y1, x0:x1, :3]
        view = alpha[y0:y1, x0:x1]
        # Regions of the matte that are the room seen unchanged (a chair the model took
        # for the person) go first, then the edge band is solved against what is left.
        scale = max(h, w) / 1280
        sure_plate = self.plate.weight[y0:y1, x0:x1] >= FULL_WEIGHT
        noise2 = self.plate.var[y0:y1, x0:x1] + np.float32(self.noise ** 2)
        room = room_regions(frame, self.plate.mean, self.gain, self.offset, sigma, noise2, sure_plate,
                            view.astype(np.float32) * np.float32(1 / 255), (x0, y0, x1, y1),
                            max(1, round(ROOM_RADIUS * scale)), max(1, round(ROOM_PIXELS * scale * scale)))
        if room.any():
            view[room] = (view[room] * np.float32(1 - self.activity) + np.float32(0.5)).astype(np.uint8)
        a_cnn = view.astype(np.float32) * np.float32(1 / 255)
        # Deep inside the person the model is right and the projection is not (eyes,
        # shading: I is far from both F̄ and B): the solve works on the edge band only.
        r_in = max(1, round(BAND_IN * max(h, w)))
        inner = cv2.erode((a_cnn >= 0.98).view(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * r_in + 1, 2 * r_in + 1)))
        todo = np.ascontiguousarray(1 - inner)
        # The person's colour nearby: at full resolution close to the model's sure
        # matte, from a wide window at grid resolution further out.
        gx0, gy0 = int(x0 / sx), int(y0 / sy)
        gx1, gy1 = min(gw, int(math.ceil(x1 / sx))), min(gh, int(math.ceil(y1 / sy)))
        wide, _ = local_foreground(small[gy0:gy1, gx0:gx1], grid_alpha[gy0:gy1, gx0:gx1], 16)
        fbar = _upsample(wide, (gx0 * sx, gy0 * sy, gx1 * sx, gy1 * sy), (x0, y0, x1, y1))
        near, support = local_foreground(img, a_cnn, max(2, round(FOREGROUND_RADIUS * max(h, w) / 1280)))
        fbar = np.where((support > 1e-3)[:, :, None], near, fbar)
        a_kb, sep2 = solve_alpha(frame, self.plate.mean, self.gain, self.offset, sigma, (x0, y0, x1, y1), todo,
                                 fbar, radius=max(2, round(PROPAGATE_RADIUS * max(h, w) / 1280)))
        # Then each pixel's F among the opaque colours nearby: the pixels the solve calls
        # opaque and the sure interior (issue 13: F̄ is pulled towards the room by mixed
        # pixels, so soft pixels came out too opaque).
        cand = ((a_kb >= OPAQUE) | (todo == 0)).view(np.uint8)
        a_kb = sample_alpha(frame, self.plate.mean, self.gain, self.offset, sigma, y0, x0, todo, cand,
                            max(2, round(SAMPLE_RADIUS * max(h, w) / 1280)), a_kb, np.empty_like(a_kb), sep2,
                            max(1, round(SAMPLE_STEP * max(h, w) / 1280)))
        # Only regions that touch the person: changes elsewhere are left to the model.
        core = a_cnn >= 0.5
        cand = (a_kb >= 0.1) | core
        n, labels = cv2.connectedComponents(cand.view(np.uint8), connectivity=8)
        touching = np.zeros(n, np.uint8)
        touching[np.unique(labels[core])] = 1
        touching[0] = 0
        keep = touching[labels] & todo
        keep |= (a_kb < 0.1).view(np.uint8) & todo
        new_box = (x0, y0, x1, y1)
        if foreground is not None:
            fm, bm = (np.ascontiguousarray(_upsample(m, box, new_box)) for m in foreground)
        else:
            fm = bm = np.zeros((0, 0, 3), np.float32)
        solved = fuse_matte(view, a_kb, sep2, self.plate.weight, y0, x0, np.float32(self.activity), keep, frame,
                            self.plate.mean, self.gain, self.offset, fm, bm)
        if solved == 0:
            return alpha, box, foreground
        return alpha, new_box, (fm, bm) if foreground is not None else None


def _slope(mean: np.ndarray) -> np.ndarray:
    """How much a plate pixel may be off when the room's edges seem to move by
    ``EDGE_SHIFT`` px (grey levels): a sub-pixel shift of a sharp edge changes the colour
    by about the gradient times the shift."""
    g = cv2.cvtColor(mean, cv2.COLOR_BGR2GRAY)
    slope = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    return slope * np.float32(EDGE_SHIFT / 8)


def _upsample(m: np.ndarray, src_box, dst_box) -> np.ndarray:
    """Resample ``m`` (covering ``src_box`` in frame pixels) bilinearly onto the pixels of
    ``dst_box``; outside ``src_box`` the edge values continue."""
    sx0, sy0, sx1, sy1 = src_box
    dx0, dy0, dx1, dy1 = dst_box
    fx, fy = m.shape[1] / (sx1 - sx0), m.shape[0] / (sy1 - sy0)
    # dst pixel (x, y) → source coordinate ((x + dx0 + 0.5 − sx0)·fx − 0.5, …)
    warp = np.float64([[fx, 0, (dx0 + 0.5 - sx0) * fx - 0.5], [0, fy, (dy0 + 0.5 - sy0) * fy - 0.5]])
    return cv2.warpAffine(m, warp, (dx1 - dx0, dy1 - dy0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _check_plate(image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] not in (3, 4):
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"a background plate must be a uint8 HxWx3 or HxWx4 image, got {got}")
    return image
