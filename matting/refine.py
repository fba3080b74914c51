"""Edge refinement and foreground colour estimation: a matte, not a cut-out.

The model sees the person at 256 px; the stream is 1080p. Upsampling its probability
gives a soft edge that ignores hair and shoulders, and compositing the original pixels
there leaves a fringe of the old room's colour on the new background (a halo). Two
cheap fixes, both computed on the grid (reduced resolution) and applied at full
resolution only over the matte's box:

* **Guided upsampling** (fast guided filter, He & Sun 2015, with the colour guide of He
  et al. 2013): per grid pixel a linear model ``α ≈ aᵀI + b`` of the matte in terms of
  the image's colour is fitted over a small window; ``a`` and ``b`` are smooth, so they
  are upsampled bilinearly and applied to the full-resolution colours, which puts the
  edge where the picture's edge is. (A brightness-only guide was tried first: it could
  not tell hair from a similar-brightness background; measured Grad −7 % vs −29 %.)
* **Foreground estimation** (blur fusion, Forte & Pitié 2021, "Approximate Fast
  Foreground Colour Estimation"): local means of foreground and background colour
  ``F̄ = blur(I·α)/blur(α)``, ``B̄ = blur(I·(1−α))/blur(1−α)``, then in the
  semi-transparent band ``F = F̄ + α(I − αF̄ − (1−α)B̄)``, and the composite uses
  ``α·F + (1−α)·B_new`` instead of ``α·I + …`` (see :mod:`matting.composite`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import prange

from .gil import kernel

from .scratch import Scratch, array


# The colour guided filter needs 13 box-filtered products per pixel and, from them, a
# 3×3 solve per pixel. As ~50 separate numpy/OpenCV calls on a ~150×180 grid it cost
# 4.4 ms CPU at 1080p (calls on small arrays are mostly overhead); two numba passes that
# build and solve per pixel, around two multi-channel cv2.boxFilter calls, do the same.
# Plain numpy reference: tests/test_kernels.py (guided_twin).
@kernel(cache=True)  # grid-sized: a parallel region's start-up costs more than it saves
def guided_moments(guide, p, out):
    """``out[y, x]`` = the 13 products the filter averages: I (3), p, I·p (3) and the six
    distinct Iᵢ·Iⱼ (rr, rg, rb, gg, gb, bb); ``I`` = ``guide`` (uint8 HxWx3+) / 255."""
    h, w = p.shape
    s = np.float32(1 / 255)
    for y in range(h):
        for x in range(w):
            r, g, b = np.float32(guide[y, x, 0]) * s, np.float32(guide[y, x, 1]) * s, np.float32(guide[y, x, 2]) * s
            q = p[y, x]
            o = out[y, x]
            o[0], o[1], o[2], o[3] = r, g, b, q
            o[4], o[5], o[6] = r * q, g * q, b * q
            o[7], o[8], o[9], o[10], o[11], o[12] = r * r, r * g, r * b, g * g, g * b, b * b
    return out


@kernel(cache=True)
def guided_solve(m, eps, out):
    """Per pixel, from the box means ``m`` of :func:`guided_moments`: the linear model
    ``p ≈ aᵀI + b`` (He et al. 2013, eq. 14; closed-form inverse of the symmetric 3×3
    covariance + eps·I) as ``out[y, x] = (a_r, a_g, a_b, b)``."""
    h, w = m.shape[:2]
    e = np.float32(eps)
    for y in range(h):
        for x in range(w):
            v = m[y, x]
            mr, mg, mb, mp = v[0], v[1], v[2], v[3]
            c0, c1, c2 = v[4] - mr * mp, v[5] - mg * mp, v[6] - mb * mp
            vrr = v[7] - mr * mr + e
            vrg = v[8] - mr * mg
            vrb = v[9] - mr * mb
            vgg = v[10] - mg * mg + e
            vgb = v[11] - mg * mb
            vbb = v[12] - mb * mb + e
            i_rr = vgg * vbb - vgb * vgb
            i_rg = vgb * vrb - vrg * vbb
            i_rb = vrg * vgb - vgg * vrb
            i_gg = vrr * vbb - vrb * vrb
            i_gb = vrb * vrg - vrr * vgb
            i_bb = vrr * vgg - vrg * vrg
            det = vrr * i_rr + vrg * i_rg + vrb * i_rb
            a0 = (i_rr * c0 + i_rg * c1 + i_rb * c2) / det
            a1 = (i_rg * c0 + i_gg * c1 + i_gb * c2) / det
            a2 = (i_rb * c0 + i_gb * c1 + i_bb * c2) / det
            o = out[y, x]
            o[0], o[1], o[2] = a0, a1, a2
            o[3] = mp - (a0 * mr + a1 * mg + a2 * mb)
    return out


def guided_coefficients_color(guide: np.ndarray, p: np.ndarray, radius: int, eps: float,
                              scratch: Scratch | None = None, nogil: bool = False):
    """Colour guided filter (He et al. 2013, eq. 14): per pixel ``p ≈ aᵀI + b`` with a
    3-vector ``a``; returns box-filtered ``ā`` (HxWx3) and ``b̄`` (HxW), views of one
    HxWx4 array (a ``scratch`` array when given: valid until the next call).
    ``guide`` is uint8 HxWx3 (colours / 255 are the guide), ``p`` float32 HxW. ``nogil``:
    the kernels' builds that release the GIL (:mod:`matting.gil`)."""
    h, w = p.shape
    k = (2 * radius + 1, 2 * radius + 1)
    moments = guided_moments.nogil if nogil else guided_moments
    solve = guided_solve.nogil if nogil else guided_solve
    m = moments(guide, np.ascontiguousarray(p, np.float32), array(scratch, "gf_moments", (h, w, 13)))
    m = cv2.boxFilter(m, -1, k, dst=array(scratch, "gf_means", (h, w, 13)), borderType=cv2.BORDER_REFLECT)
    ab = solve(m, eps, array(scratch, "gf_ab", (h, w, 4)))
    ab = cv2.boxFilter(ab, -1, k, dst=array(scratch, "gf_ab_means", (h, w, 4)), borderType=cv2.BORDER_REFLECT)
    return ab[:, :, :3], ab[:, :, 3]


@kernel(cache=True)  # a few thousand cells: a parallel region's start-up costs more than it saves
def flat_cells(a, b, low, high, band, trust):
    """Per grid cell (the square between grid pixels (y, x) and (y+1, x+1)): the uint8
    matte value if the output of :func:`apply_guided_color` is the same constant over the
    whole cell (no edge: ā ≈ 0, b̄ saturates to the same side, and the trust band, if
    ``band`` is not empty, allows that value; or the trust band alone forces it), else -1. Most of a person's box is flat, so
    :func:`apply_guided_color` only does the arithmetic along the edge."""
    gh, gw = b.shape
    use_band = band.shape[0] == gh and band.shape[1] == gw
    # Per grid pixel: bit 0 = every colour gives 0 here, bit 1 = every colour gives 255.
    # Exact output bounds over any colour in [0, 1] are b + Σ max(a, 0) and b + Σ min(a, 0),
    # and a bilinear mix of a cell's corners stays within the corners' bounds.
    # Bits 2 and 3: the trust band alone forces 0 (band + trust < 0) or 255 (band − trust
    # > 255), whatever the guided value: the person's inside and the room around them,
    # where texture makes ā non-zero (on the 1080p demo frame this cuts the pixels that
    # need arithmetic from 240,600 to 100,400). The margin covers float32 rounding of
    # the bilinear mix. A second loop: folded into the first it cost 0.28 ms, not 0.12.
    code = np.zeros((gh, gw), np.uint8)
    t = np.float32(trust)
    lo_forced, hi_forced = -t - np.float32(0.01), np.float32(255.01) + t
    for y in range(gh):
        for x in range(gw):
            up, dn = b[y, x], b[y, x]
            for c in range(3):
                if a[y, x, c] > 0:
                    up += a[y, x, c]
                else:
                    dn += a[y, x, c]
            zero = up <= low and not (use_band and band[y, x] > trust)
            full = dn >= high and not (use_band and band[y, x] < 255 - trust)
            code[y, x] = (1 if zero else 0) | (2 if full else 0)
    if use_band:
        for y in range(gh):
            for x in range(gw):
                r = band[y, x]
                code[y, x] |= (4 if r < lo_forced else 0) | (8 if r > hi_forced else 0)
    out = np.full((gh, gw), -1, np.int16)
    for y in range(gh):
        y1 = min(y + 1, gh - 1)
        for x in range(gw):
            x1 = min(x + 1, gw - 1)
            c = code[y, x] & code[y, x1] & code[y1, x] & code[y1, x1]
            if c & 5:
                out[y, x] = 0
            elif c & 10:
                out[y, x] = 255
    return out


# fastmath: 0.41 → 0.38 ms on a 1080p demo frame's arguments (tools/stage_timings.py,
# "as in the pipeline", against 5903097, two runs each); its output was the same
# on every frame checked (tools/ab_checkouts.py), and the twin test bounds it.
@kernel(parallel=True, cache=True, fastmath=True)
def apply_guided_color(image, a, b, fy, fx, low, high, out, flat, band, trust):
    """``out = clip((āᵀI + b̄ − low) / (high − low), 0, 1)`` as uint8, with ``ā`` (HxWx3), ``b̄`` sampled
    bilinearly from the grid (grid coordinate of full-resolution pixel (y, x) is
    ``(y + 0.5)·fy − 0.5``); ``I`` = the image's first three channels / 255.

    If ``band`` (the model's matte remapped like the output, 0–255 units, on the same
    grid) is not empty, the output is clamped to ``band ± trust`` (``band`` sampled
    bilinearly, the bounds clipped to 0–255): the trust band, done in the same pass
    (as two full-resolution resizes and a min/max it cost 2.3 ms CPU at 1080p)."""
    scale = 1.0 / (high - low)
    lo32, scale32 = np.float32(low), np.float32(scale)  # float32 throughout the pixel loop
    t32 = np.float32(trust)
    h, w = out.shape
    gh, gw = b.shape
    check = flat.shape[0] == gh and flat.shape[1] == gw
    use_band = band.shape[0] == gh and band.shape[1] == gw
    # Column positions are the same on every row: compute them once.
    x0s = np.empty(w, np.int64)
    txs = np.empty(w, np.float32)
    for x in range(w):
        gx = min(max((x + 0.5) * fx - 0.5, 0.0), gw - 1.0)
        x0s[x] = min(int(gx), gw - 2) if gw > 1 else 0
        txs[x] = gx - x0s[x] if gw > 1 else 0.0
    # Runs of cells, per grid row: the first cell column after cell (gy, g) that is not
    # the same constant (or, for a non-constant cell, that is constant), and the first
    # pixel column of each cell column. A row then walks from run to run instead of from
    # cell to cell (1080p demo frame, every cell made constant: 0.30 → 0.14 ms,
    # tools/stage_timings.py).
    ncols = max(gw - 1, 1)  # cell columns that pixels use (x0s ≤ gw − 2)
    first = np.full(ncols + 1, w, np.int64)
    for x in range(w - 1, -1, -1):
        first[x0s[x]] = x
    for g in range(ncols - 1, -1, -1):
        first[g] = min(first[g], first[g + 1])
    run_end = np.empty((gh if check else 1, ncols), np.int64)
    if check:
        for gy in range(gh):
            end = ncols
            for g in range(ncols - 1, -1, -1):
                if g + 1 < ncols and not (flat[gy, g + 1] == flat[gy, g] or (flat[gy, g + 1] < 0 and flat[gy, g] < 0)):
                    end = g + 1
                run_end[gy, g] = end
    else:
        run_end[0, :] = ncols
    step = 1 if gw > 1 else 0
    # Rows in chunks, so that each chunk allocates its coefficient buffer once. numba gives
    # each thread a contiguous half of the iterations, and the edge (the work) is rarely
    # split evenly between the frame's halves: iteration k takes chunk 2k, then 2k + 1
    # from the middle on, so two threads get alternate chunks (refine at 1080p −0.16,
    # −0.16 ms, tools/ab_checkouts.py; one thread takes them in that order: +0.03, noise).
    chunk = 16
    nch = (h + chunk - 1) // chunk
    half = (nch + 1) // 2
    for k in prange(nch):
        ci = 2 * k if k < half else 2 * (k - half) + 1
        row = np.empty((gw, 5), np.float32)
        for y in range(ci * chunk, min(h, (ci + 1) * chunk)):
            gy = min(max((y + 0.5) * fy - 0.5, 0.0), gh - 1.0)
            y0 = min(int(gy), gh - 2) if gh > 1 else 0
            ty = np.float32(gy - y0 if gh > 1 else 0.0)
            y1 = y0 + 1 if gh > 1 else 0
            x = 0
            while x < w:
                x0 = x0s[x]
                v = flat[y0, x0] if check else -1
                # The run of whole cells that are all this constant, or all not constant.
                e = first[run_end[y0 if check else 0, x0]]
                # Row views from the run's start: indices from 0 are never negative, so
                # numba adds no wrap-around checks (measured: much faster loops).
                seg = out[y, x:e]
                if v >= 0:
                    c8 = np.uint8(v)
                    for j in range(seg.shape[0]):
                        seg[j] = c8
                    x = e
                    continue
                # The run's coefficients, interpolated between grid rows once per grid
                # column (b, then a / 255 per colour, then the band), so each pixel only
                # interpolates along x; flat runs need none.
                for gx in range(x0, min(x0s[e - 1] + step, gw - 1) + 1):
                    row[gx, 0] = (1 - ty) * b[y0, gx] + ty * b[y1, gx]
                    for c in range(3):
                        row[gx, c + 1] = ((1 - ty) * a[y0, gx, c] + ty * a[y1, gx, c]) * np.float32(1 / 255)
                    row[gx, 4] = (1 - ty) * band[y0, gx] + ty * band[y1, gx] if use_band else np.float32(0)
                # Cell by cell: the two columns' coefficients are loaded once per cell, not
                # gathered per pixel (the same arithmetic in the same order).
                xc = x
                while xc < e:
                    g0 = x0s[xc]
                    g1 = g0 + step
                    ce = min(first[g0 + 1], e)
                    b0, b1 = row[g0, 0], row[g1, 0]
                    r0, r1 = row[g0, 1], row[g1, 1]
                    s0, s1 = row[g0, 2], row[g1, 2]
                    u0, u1 = row[g0, 3], row[g1, 3]
                    n0, n1 = row[g0, 4], row[g1, 4]
                    segc = out[y, xc:ce]
                    img = image[y, xc:ce]
                    tx = txs[xc:ce]
                    for j in range(segc.shape[0]):
                        t = tx[j]
                        q = (1 - t) * b0 + t * b1
                        q += ((1 - t) * r0 + t * r1) * np.float32(img[j, 0])
                        q += ((1 - t) * s0 + t * s1) * np.float32(img[j, 1])
                        q += ((1 - t) * u0 + t * u1) * np.float32(img[j, 2])
                        q = min(max((q - lo32) * scale32, np.float32(0.0)), np.float32(1.0)) * np.float32(255)
                        if use_band:
                            r = (1 - t) * n0 + t * n1
                            q = min(max(q, r - t32), r + t32)
                            q = min(max(q, np.float32(0.0)), np.float32(255.0))
                        segc[j] = np.uint8(q + np.float32(0.5))
                    xc = ce
                x = e
    return out


# Blur fusion's passes as three grid kernels around the two blurs. The first pass's means
# serve only as the second pass's inputs and the second pass's foreground estimate is not
# used, so neither is stored: update and next products in one kernel. Each pixel divides
# by blur(α) and blur(1 − α) once (a reciprocal) instead of once per channel. With the
# wide blur split below, foreground_means 0.99 → 0.64 ms on a 1080p frame's grid
# (tools/stage_timings.py, alternated with the code before). Plain numpy reference:
# tests/test_kernels.py.
@kernel(cache=True)  # grid-sized: a parallel region's start-up costs more than it saves
def _fusion_first(img, alpha, fa, ba):
    """What the first (wide) pass blurs, with the image itself as the first foreground and
    background estimate: ``fa[y, x]`` = (α, I·α (3)), ``ba[y, x]`` = I·(1 − α) (3)."""
    h, w = alpha.shape
    for y in range(h):
        for x in range(w):
            a = alpha[y, x]
            f, b = fa[y, x], ba[y, x]
            f[0] = a
            for c in range(3):
                v = np.float32(img[y, x, c])
                f[1 + c] = v * a
                b[c] = v * (np.float32(1) - a)


@kernel(cache=True)
def _fusion_next(img, alpha, fa, ba, out):
    """From the first pass's blurred products ``fa``, ``ba``: the means ``F̄ = blur(I·α)/
    blur(α)``, ``B̄ = blur(I·(1−α))/blur(1−α)``, the estimate ``F = clip(F̄ + α(I − αF̄ −
    (1−α)B̄), 0, 255)``, and at once what the second pass blurs, (α, F·α (3), B̄·(1 − α)
    (3)), into ``out``."""
    h, w = alpha.shape
    tiny = np.float32(1e-5)
    for y in range(h):
        for x in range(w):
            a = alpha[y, x]
            bl = fa[y, x, 0]
            inv_f, inv_b = np.float32(1) / (bl + tiny), np.float32(1) / ((np.float32(1) - bl) + tiny)
            o = out[y, x]
            o[0] = a
            for c in range(3):
                f = fa[y, x, 1 + c] * inv_f
                b = ba[y, x, c] * inv_b
                v = f + a * (np.float32(img[y, x, c]) - a * f - (np.float32(1) - a) * b)
                o[1 + c] = min(max(v, np.float32(0)), np.float32(255)) * a
                o[4 + c] = b * (np.float32(1) - a)
    return out


@kernel(cache=True)
def _fusion_means(m, fm, bm):
    """The second pass's means ``F̄``, ``B̄`` from its blurred products ``m``."""
    h, w = m.shape[:2]
    tiny = np.float32(1e-5)
    for y in range(h):
        for x in range(w):
            ba = m[y, x, 0]
            inv_f, inv_b = np.float32(1) / (ba + tiny), np.float32(1) / ((np.float32(1) - ba) + tiny)
            for c in range(3):
                fm[y, x, c] = m[y, x, 1 + c] * inv_f
                bm[y, x, c] = m[y, x, 4 + c] * inv_b


def foreground_means(small: np.ndarray, alpha: np.ndarray, radius: int, scratch: Scratch | None = None,
                     nogil: bool = False):
    """Local mean foreground and background colours (float32 HxWx3, 0–255) by two passes
    of blur fusion (a wide one to reach into the band, a narrow one to stay local).

    Each pass blurs 7 channels (the wide one as 4 + 3) between numba loops (as ~30 numpy
    calls on the grid it cost 4.5 ms CPU at 1080p). Plain numpy reference:
    tests/test_kernels.py. ``nogil``: the builds that release the GIL (:mod:`matting.gil`)."""
    h, w = alpha.shape
    alpha = np.ascontiguousarray(alpha, np.float32)
    small = np.ascontiguousarray(small[:, :, :3])
    # The wide pass's 7 channels as 4 + 3: OpenCV blurs up to 4 channels with SIMD (at
    # 1080p's 149×230 grid and r = 8: 0.29 ms for 7 channels, 0.08 + 0.08 for 4 + 3;
    # the narrow pass gains nothing that way; measured). Channels are blurred
    # independently: the same values.
    first, following, means = ((_fusion_first.nogil, _fusion_next.nogil, _fusion_means.nogil) if nogil
                               else (_fusion_first, _fusion_next, _fusion_means))
    fa, ba = array(scratch, "bf_fa", (h, w, 4)), array(scratch, "bf_ba", (h, w, 3))
    first(small, alpha, fa, ba)
    k = (8 * radius + 1, 8 * radius + 1)
    fa = cv2.blur(fa, k, dst=array(scratch, "bf_fa_blurred", (h, w, 4)))
    ba = cv2.blur(ba, k, dst=array(scratch, "bf_ba_blurred", (h, w, 3)))
    k = (2 * radius + 1, 2 * radius + 1)
    m = cv2.blur(following(small, alpha, fa, ba, array(scratch, "bf_products", (h, w, 7))), k,
                 dst=array(scratch, "bf_blurred", (h, w, 7)))
    # The returned means are kept with a carried matte: never scratch.
    fm, bm = np.empty((h, w, 3), np.float32), np.empty((h, w, 3), np.float32)
    means(m, fm, bm)
    return fm, bm


# How far the picture's edges can be trusted (issue 32). The guided filter puts the matte's
# edge on the picture's edges; where the room right beside the person is as full of
# strong edges as the person's outline (a black-and-white striped wall, a chequered
# shirt on a shelf), its linear colour model takes stripes for hair and hair for
# stripes, and it cut away dark hair the model had kept. The texture measure is the
# mean absolute step between neighbouring grid pixels (|∂x| + |∂y| of the channels'
# mean, 0..1) over the room's side of the window, on the grid (long side ≈ 640 px). Measured
# there on the 38 background photos: median 0.024, 90th percentile 0.053, the busiest
# photo's 99th percentile 0.19; black-and-white stripes and checks of 10–40 px period
# 0.10–0.47 (12 drawn as matting.lab.people draws them). Up to TEXTURE_LOW the edges
# are trusted fully, from TEXTURE_HIGH not at all (linear between): the refinement then gives way to the model's own upsampled matte.
# Off (TEXTURE_HIGH = inf): measured, it did not earn its place (docs/EVALUATION.md,
# 2026-12-08). On the person-folded validation every fold chose off (J 1.363 off, 1.399
# at 0.25, 1.419 at 0.15, 1.458 at 0.1); on the green-screen person, whose truth is a
# true soft matte with hair, over stripes, checks and the other hard rooms, off was best
# too (J 1.007 off, 1.041 at 0.25): no validation here shows the refinement cutting hair.
# Kept as a switch for data that does (the maintainers' striped wall).
TEXTURE_LOW, TEXTURE_HIGH = 0.06, math.inf


def background_texture(grid_image: np.ndarray, alpha: np.ndarray, size: tuple[int, int], radius: int) -> np.ndarray:
    """Per pixel of the refinement's grid (``size`` = (w, h), ``alpha`` on it): the mean
    grey-level step of the room's side nearby, measured on ``grid_image`` (uint8 BGR,
    the grid crop before any shrink, so the scale is the grid's)."""
    # The channels' mean, not a weighted grey: the same whichever the channel order.
    g = cv2.transform(grid_image[:, :, :3].astype(np.float32), np.full((1, 3), 1 / 3, np.float32))
    step = np.zeros_like(g)
    step[:, :-1] += np.abs(np.diff(g, axis=1))
    step[:-1, :] += np.abs(np.diff(g, axis=0))
    step *= np.float32(1 / 255)
    if step.shape[::-1] != tuple(size):
        step = cv2.resize(step, tuple(size), interpolation=cv2.INTER_AREA)
    room = np.float32(1) - np.clip(alpha, 0, 1)
    k = (8 * radius + 1, 8 * radius + 1)
    return cv2.blur(step * room, k) / (cv2.blur(room, k) + np.float32(1e-3))


def edge_trust(texture: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """1 where the picture's edges can be trusted, 0 where the room is as busy as stripes
    (default levels: the module's, read at the call, so that ``tune`` can set them)."""
    low = TEXTURE_LOW if low is None else low
    high = TEXTURE_HIGH if high is None else high
    if not math.isfinite(high):
        return np.ones_like(texture, np.float32)  # the rule off: every edge trusted
    return np.clip((np.float32(high) - texture) / np.float32(high - low), 0, 1).astype(np.float32)


def fall_back(a: np.ndarray, b: np.ndarray, band: np.ndarray, alpha: np.ndarray, trust: np.ndarray,
              low: float, high: float) -> None:
    """Mix the guided filter's coefficients (in place) with those of the model's own matte
    ``alpha`` by ``trust`` (0..1 per grid pixel): with ``ā = 0`` and ``b̄ = low + α(high −
    low)`` :func:`apply_guided_color` gives back ``α`` itself, and the output is linear in
    the coefficients, so it becomes ``trust·refined + (1 − trust)·α`` before clipping. The
    trust band (if not empty) moves the same way, so it does not pull the fallback back
    to the remapped matte."""
    t = trust
    a *= t[:, :, None]
    b *= t
    b += (np.float32(1) - t) * (np.float32(low) + alpha * np.float32(high - low))
    if band.size:
        band *= t
        band += (np.float32(1) - t) * alpha * np.float32(255)
