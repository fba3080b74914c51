"""The known-background solve on the pixels where it can change the matte.

Inside the box around the person only a few per cent of the pixels can be changed by the
plate (issue 13, measured on generated static sequences at 720p: 10–14 k of 430 k): those
of the edge band (not deep inside the model's sure matte) that the model gives some α or
that differ from the room. Elsewhere the projection snaps to 0 where the model already
says 0, so nothing changes. The stage (:meth:`matting.plate.KnownBackground._refine`)
therefore makes one dense pass over the box (:func:`residuals`: ``|I − B|²``, the noise
and the room test), lists those pixels (:func:`band_pixels`) and runs the person's colour,
the projection, the choice of ``F`` among the opaque colours nearby and the fusion on the
list only. Small windows are summed directly at the listed pixels with the border rule of
OpenCV's box filter over the box (reflect-101); the propagation's wide window is summed
from the listed pixels alone (the only non-zero ones there), by prefix sums along each
row's stretch of the list. So the matte is that of the dense formulation (bit-identical
on the generated sequences compared, but for float rounding in the propagation's sums);
``tests/test_plate_band.py`` checks each kernel against a numpy/OpenCV twin.

All kernels are serial: in OBS both cores are busy and a parallel region's join stalled
the worker there (commit e6a3fcd); the listed pixels are few.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Shared with matting.plate (which imports them from here: its kernels come from here).
FULL_WEIGHT = 8.0  # agreeing observations for full confidence in a plate pixel
SNAP_SIGMAS = 1.6  # closer to the plate than this (in σ) is the room
OPAQUE = 0.99  # the solve's α from which a pixel's own colour is taken for the person's


def u8_above(t: float) -> int:
    """The smallest uint8 ``v`` with ``float32(v)·float32(1/255) > t`` (the matte's float
    thresholds, applied to its uint8 values without converting the box)."""
    return next(v for v in range(256) if np.float32(v) * np.float32(1 / 255) > t)


def u8_at_least(t: float) -> int:
    """The smallest uint8 ``v`` with ``float32(v)·float32(1/255) ≥ t``."""
    return next(v for v in range(256) if np.float32(v) * np.float32(1 / 255) >= t)


@njit(cache=True, inline="always")
def _refl(i, n):
    """OpenCV's BORDER_REFLECT_101 index (``… 2 1 | 0 1 2 … n−1 | n−2 …``)."""
    if n == 1:
        return 0
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * n - 2 - i
    return i


@njit(cache=True, inline="always")
def _taps(h, w, v, u):
    """Bilinear taps at ``(v, u)`` in an h×w array, edges continued (BORDER_REPLICATE):
    rows i0, i1, columns j0, j1 and the weights ty, tx of the second ones."""
    i, j = int(np.floor(v)), int(np.floor(u))
    ty, tx = np.float32(v - i), np.float32(u - j)
    return (min(max(i, 0), h - 1), min(max(i + 1, 0), h - 1), min(max(j, 0), w - 1), min(max(j + 1, 0), w - 1),
            ty, tx)


@njit(cache=True, inline="always")
def _lerp(m, i0, i1, j0, j1, ty, tx, c):
    top = m[i0, j0, c] + tx * (m[i0, j1, c] - m[i0, j0, c])
    bot = m[i1, j0, c] + tx * (m[i1, j1, c] - m[i1, j0, c])
    return top + ty * (bot - top)


@njit(cache=True)
def residuals(image, mean, var, slope, weight, gain, offset, noise2, prior_min, view, y0, x0, d2, s2, match):
    """One pass over the box (top-left ``(y0, x0)``; ``image``, the plate ``mean``/``var``/
    ``weight`` and ``slope`` are whole frames, ``view`` is the model's uint8 matte of the
    box): ``d2 = |I − B|²`` with ``B = gain·mean + offset``; ``s2 = σ²`` = plate variance +
    ``noise2`` + slope² (the noise the solve snaps within); ``match`` = 1 where the matte is
    above ``prior_min`` (uint8), the plate is sure (weight ≥ FULL_WEIGHT) and ``I`` is within
    ``SNAP_SIGMAS·σ`` of ``B`` (per channel: ``d2 < 3·SNAP_SIGMAS²·s2``): the candidates of
    :func:`room_vouch`."""
    h, w = d2.shape
    snap = np.float32(3.0 * SNAP_SIGMAS * SNAP_SIGMAS)
    for y in range(h):
        for x in range(w):
            fy, fx = y0 + y, x0 + x
            acc = np.float32(0.0)
            for c in range(3):
                d = np.float32(image[fy, fx, c]) - (mean[fy, fx, c] * gain[c] + offset[c])
                acc += d * d
            sl = slope[fy, fx]
            v = var[fy, fx] + noise2 + sl * sl
            d2[y, x] = acc
            s2[y, x] = v
            match[y, x] = 1 if (view[y, x] >= prior_min and weight[fy, fx] >= FULL_WEIGHT
                                and acc < snap * v) else 0


@njit(cache=True)
def listed(mask):
    """The set pixels of a uint8 mask as (ys, xs) int32, in row order."""
    h, w = mask.shape
    n = 0
    for y in range(h):
        for x in range(w):
            n += mask[y, x] != 0
    return _list_set(mask, n)


@njit(cache=True, inline="always")
def _list_set(mask, n):
    """(ys, xs) int32 of the ``n`` set pixels of ``mask``, in row order (``n`` counted by
    the caller, in the pass that made the mask)."""
    h, w = mask.shape
    ys, xs = np.empty(n, np.int32), np.empty(n, np.int32)
    k = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x]:
                ys[k], xs[k] = y, x
                k += 1
    return ys, xs


@njit(cache=True)
def label_listed(ys, xs, index):
    """4-connected components of the listed pixels: (label per pixel, 1…n−1; n). The
    partition of OpenCV's ``connectedComponents`` over the mask of those pixels, found by a
    search over the list (the match pixels are 0.5–2 % of the box: labelling the whole box
    cost 0.9 ms at 720p). ``index`` is box-sized int32 scratch, all −1 on entry and on
    return."""
    h, w = index.shape
    k_all = ys.size
    for k in range(k_all):
        index[ys[k], xs[k]] = k
    lab = np.zeros(k_all, np.int32)
    queue = np.empty(k_all, np.int64)
    n = 1
    for k0 in range(k_all):
        if lab[k0]:
            continue
        lab[k0] = n
        queue[0] = k0
        head, tail = 0, 1
        while head < tail:
            k = queue[head]
            head += 1
            y, x = ys[k], xs[k]
            for d in range(4):
                yy = y + (1 if d == 0 else -1 if d == 1 else 0)
                xx = x + (1 if d == 2 else -1 if d == 3 else 0)
                if 0 <= yy < h and 0 <= xx < w:
                    j = index[yy, xx]
                    if j >= 0 and lab[j] == 0:
                        lab[j] = n
                        queue[tail] = j
                        tail += 1
        n += 1
    for k in range(k_all):
        index[ys[k], xs[k]] = -1
    return lab, n


@njit(cache=True)
def room_vouch(ys, xs, lab, n, mean, var, gain, offset, noise2, y0, x0, d2, s2, radius, resid, texture, cap):
    """Per label of the plate-matching regions (listed pixels ``(ys, xs)`` of the box with
    their labels ``lab``, 1…n−1, from :func:`label_listed`), how many of its pixels vouch
    that it is the room seen unchanged: over the ``(2·radius + 1)²`` window (reflect-101 in
    the box) the mean ``|I − B|²`` is below ``resid`` × the mean σ², and the plate's colour
    variance ``Σ_c (E[B_c²] − E[B_c]²)`` is above ``texture`` × (plate variance + ``noise2``)
    there. A count stops at ``cap`` (the caller's threshold): the region is then decided and
    its other pixels are not tested (a large piece of room under the matte, 118 k pixels at
    720p on a generated sequence, cost 18 ms a frame when every pixel was tested)."""
    h, w = d2.shape
    count = np.zeros(n, np.int64)
    for k in range(ys.size):
        if count[lab[k]] >= cap:
            continue
        y, x = ys[k], xs[k]
        sd = ss = sb0 = sb1 = sb2 = sbb = np.float32(0.0)  # scalars: no allocation per pixel
        for dy in range(-radius, radius + 1):
            yy = _refl(y + dy, h)
            for dx in range(-radius, radius + 1):
                xx = _refl(x + dx, w)
                sd += d2[yy, xx]
                ss += s2[yy, xx]
                b0 = mean[y0 + yy, x0 + xx, 0] * gain[0] + offset[0]
                b1 = mean[y0 + yy, x0 + xx, 1] * gain[1] + offset[1]
                b2 = mean[y0 + yy, x0 + xx, 2] * gain[2] + offset[2]
                sb0 += b0
                sb1 += b1
                sb2 += b2
                sbb += b0 * b0 + b1 * b1 + b2 * b2
        inv = np.float32(1.0 / ((2 * radius + 1) ** 2))
        tex = sbb * inv - (sb0 * inv) * (sb0 * inv) - (sb1 * inv) * (sb1 * inv) - (sb2 * inv) * (sb2 * inv)
        if sd < resid * ss and tex > texture * (var[y0 + y, x0 + x] + noise2):
            count[lab[k]] += 1
    return count


@njit(cache=True)
def region_fit(ys, xs, lab, n, d2, s2, mean, gain, offset, y0, x0):
    """Per label of the listed pixels (``lab``, 1…n−1, as for :func:`room_vouch`): the pixel
    count, the sum of ``d2 / (3·s2)`` (how closely the region matches the plate, in units
    of its noise σ² per channel) and the count of its pixels where the plate is clipped
    (``B = gain·mean + offset`` ≥ 250 or ≤ 5 in every channel: there the camera's noise is
    gone and anything as bright, or as dark, fits it). ``mean`` is frame-sized, the box's
    top-left is ``(y0, x0)``."""
    count = np.zeros(n, np.int64)
    clipped = np.zeros(n, np.int64)
    fit = np.zeros(n, np.float64)
    for k in range(ys.size):
        y, x = ys[k], xs[k]
        count[lab[k]] += 1
        fit[lab[k]] += d2[y, x] / (np.float32(3.0) * s2[y, x])
        hi = lo = True
        for c in range(3):
            b = mean[y0 + y, x0 + x, c] * gain[c] + offset[c]
            hi = hi and b >= 250
            lo = lo and b <= 5
        if hi or lo:
            clipped[lab[k]] += 1
    return count, fit, clipped


@njit(cache=True)
def band_pixels(view, inner, d2, s2, weight, y0, x0, core_min, rel):
    """The pixels the solve can change, as (ys, xs) int32 in row order: not ``inner`` (the
    model's sure interior), where the plate has some confidence (``weight`` above
    FULL_WEIGHT/2: :func:`band_fuse` leaves every other pixel as it is) and either with
    some α in ``view``, or differing from the room (``d2 ≥ 3·SNAP_SIGMAS²·s2``) and
    8-connected through such pixels to one with some α or next to the model's core
    (``view`` ≥ ``core_min``). ``rel`` (uint8, box) is set to 1 there and 0 elsewhere.
    ``weight`` is frame-sized, the box's top-left is ``(y0, x0)``.

    A difference that reaches neither the matte nor the core (camera noise, a shadow on
    the wall, a bit of the room that moved) could only be kept by :func:`touching_core`
    through such a chain, so it is not solved (a noisy generated sequence at 720p: 22 k
    listed pixels → 14 k, measured)."""
    h, w = view.shape
    snap = np.float32(3.0 * SNAP_SIGMAS * SNAP_SIGMAS)
    half = np.float32(FULL_WEIGHT / 2)
    n = 0
    loose = 0
    for y in range(h):
        for x in range(w):
            on = inner[y, x] == 0 and weight[y0 + y, x0 + x] > half and \
                (view[y, x] > 0 or d2[y, x] >= snap * s2[y, x])
            # 2: listed, 1: differs from the room outside the matte, not yet reached
            rel[y, x] = (2 if view[y, x] > 0 else 1) if on else 0
            n += 1 if on else 0
            loose += 1 if on and view[y, x] == 0 else 0
    if loose:
        # Seeds: the loose pixels next to the core, and every neighbour of a listed pixel
        # with some α; then a search through the loose pixels.
        queue = np.empty(loose, np.int64)
        tail = 0
        for y in range(h):
            for x in range(w):
                if rel[y, x] != 1:
                    continue
                seed = False
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w and (rel[yy, xx] == 2 or view[yy, xx] >= core_min):
                            seed = True
                if seed:
                    rel[y, x] = 3
                    queue[tail] = y * w + x
                    tail += 1
        head = 0
        while head < tail:
            y, x = queue[head] // w, queue[head] % w
            head += 1
            for dy in range(-1, 2):
                for dx in range(-1, 2):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and rel[yy, xx] == 1:
                        rel[yy, xx] = 3
                        queue[tail] = yy * w + xx
                        tail += 1
        n -= loose - tail
        for y in range(h):
            for x in range(w):
                rel[y, x] = 1 if rel[y, x] >= 2 else 0
    else:
        for y in range(h):
            for x in range(w):
                rel[y, x] = 1 if rel[y, x] else 0
    return _list_set(rel, n)


@njit(cache=True, inline="always")
def _column(image, view, y0, x0, h, w, y, xx, radius, ring, i):
    """``ring[i]`` = the column ``xx`` of :func:`band_foreground`'s window around row ``y``:
    sums of the weight and of the weighted colours (reflect-101 rows)."""
    s255 = np.float32(1 / 255)
    c0 = c1 = c2 = c3 = 0.0
    for dy in range(-radius, radius + 1):
        yy = _refl(y + dy, h)
        wt = min(max((np.float32(view[yy, xx]) * s255 - np.float32(0.8)) * np.float32(5.0), np.float32(0.0)),
                 np.float32(1.0))
        if wt > 0:
            c0 += wt
            c1 += wt * np.float32(image[y0 + yy, x0 + xx, 0])
            c2 += wt * np.float32(image[y0 + yy, x0 + xx, 1])
            c3 += wt * np.float32(image[y0 + yy, x0 + xx, 2])
    ring[i, 0], ring[i, 1], ring[i, 2], ring[i, 3] = c0, c1, c2, c3


@njit(cache=True)
def band_foreground(image, view, y0, x0, ys, xs, radius, wide, wide_w, ax, bx, ay, by, f):
    """The person's colour nearby at each listed pixel (``f``: K×3): the mean of ``I``
    weighted by ``clip((α − 0.8)·5, 0, 1)`` (``α`` = ``view``/255, clearly foreground) over
    the ``(2·radius + 1)²`` window (reflect-101 in the box), where that weight's window mean
    exceeds 1e-3; elsewhere the wide grid mean ``wide / (wide_w + 1e-6)`` (the window means
    of :func:`matting.plate.local_foreground`) sampled bilinearly at ``(y·ay + by, x·ax + bx)``
    (grid coordinates of box pixel ``(y, x)``)."""
    h, w = view.shape
    n = 2 * radius + 1
    inv = np.float32(1.0 / (n * n))
    # The window slides along each run of neighbouring listed pixels in a row: one column
    # in, one out (ring of column sums, float64 so the running sums do not drift). The
    # direct sum of every window cost (2·radius + 1)² reads a pixel (a generated sequence:
    # 720p 1.9 → 0.6 ms, 1080p 6.2 → 1.5 ms, measured).
    ring = np.zeros((n, 4), np.float64)
    t0 = t1 = t2 = t3 = 0.0
    for k in range(ys.size):
        y, x = ys[k], xs[k]
        if k == 0 or ys[k - 1] != y or xs[k - 1] != x - 1:
            t0 = t1 = t2 = t3 = 0.0
            for i in range(n):  # column c goes to slot c mod n
                j = (x - radius + i) % n
                _column(image, view, y0, x0, h, w, y, _refl(x - radius + i, w), radius, ring, j)
                t0 += ring[j, 0]
                t1 += ring[j, 1]
                t2 += ring[j, 2]
                t3 += ring[j, 3]
        else:
            i = (x + radius) % n  # the slot of column x − radius − 1, which leaves the window
            t0 -= ring[i, 0]
            t1 -= ring[i, 1]
            t2 -= ring[i, 2]
            t3 -= ring[i, 3]
            _column(image, view, y0, x0, h, w, y, _refl(x + radius, w), radius, ring, i)
            t0 += ring[i, 0]
            t1 += ring[i, 1]
            t2 += ring[i, 2]
            t3 += ring[i, 3]
        sw, s0, s1, s2 = np.float32(t0), np.float32(t1), np.float32(t2), np.float32(t3)
        support = sw * inv
        if support > 1e-3:
            d = support + np.float32(1e-6)
            f[k, 0], f[k, 1], f[k, 2] = s0 * inv / d, s1 * inv / d, s2 * inv / d
        else:
            i0, i1, j0, j1, ty, tx = _taps(wide.shape[0], wide.shape[1], y * ay + by, x * ax + bx)
            e = np.float32(1e-6)
            d00, d01 = wide_w[i0, j0] + e, wide_w[i0, j1] + e
            d10, d11 = wide_w[i1, j0] + e, wide_w[i1, j1] + e
            for c in range(3):
                m00, m01 = wide[i0, j0, c] / d00, wide[i0, j1, c] / d01
                m10, m11 = wide[i1, j0, c] / d10, wide[i1, j1, c] / d11
                top = m00 + tx * (m01 - m00)
                bot = m10 + tx * (m11 - m10)
                f[k, c] = top + ty * (bot - top)


@njit(cache=True)
def band_project(image, mean, gain, offset, d2, s2, y0, x0, ys, xs, f, acc, alpha, sep2):
    """The known-background projection at each listed pixel: ``α = clip((I − B)·(F − B) /
    |F − B|², 0, 1)`` with ``F`` = ``f`` (K×3), 0 where ``I`` is within ``SNAP_SIGMAS·σ`` of
    ``B``; ``sep2 = |F − B|²``. If ``acc`` (float32) is K×4, the colours for the
    propagation step are written into it, one row per listed pixel: ``w·clip(B + (I − B)/
    max(α, 0.05))`` and ``w = α²`` (they come from the solve alone: a mixed pixel the model
    calls sure would give ``F = I``, pulled towards the room)."""
    spread = acc.shape[0] == ys.size and ys.size > 0
    snap = np.float32(3.0 * SNAP_SIGMAS * SNAP_SIGMAS)
    for k in range(ys.size):
        y, x = ys[k], xs[k]
        sq = np.float32(0.0)
        dot = np.float32(0.0)
        for c in range(3):
            b = mean[y0 + y, x0 + x, c] * gain[c] + offset[c]
            d = np.float32(image[y0 + y, x0 + x, c]) - b
            sq += (f[k, c] - b) * (f[k, c] - b)
            dot += d * (f[k, c] - b)
        a = min(max(dot / (sq + np.float32(1e-3)), np.float32(0.0)), np.float32(1.0))
        if d2[y, x] < snap * s2[y, x]:
            a = np.float32(0.0)
        alpha[k] = a
        sep2[k] = sq
        if spread:
            wt = a * a
            scale = np.float32(1.0) / max(a, np.float32(0.05))
            for c in range(3):
                b = mean[y0 + y, x0 + x, c] * gain[c] + offset[c]
                d = np.float32(image[y0 + y, x0 + x, c]) - b
                acc[k, c] = wt * min(max(b + d * scale, np.float32(0.0)), np.float32(255.0))
            acc[k, 3] = wt


@njit(cache=True)
def band_window_mean(ys, xs, vals, h, w, radius, out):
    """The ``(2·radius + 1)²`` box filter (reflect-101 in the h×w box, as OpenCV's
    ``cv2.blur``) of an image that is 0 but at the listed pixels, where it holds ``vals``
    (K×4), taken at the listed pixels (``out``: K×4).

    The listed pixels are in row order, so one row's pixels are one stretch of the list,
    and a window row's sum is a difference of prefix sums over a stretch. For the pixels of
    one row, left to right, each window row's bounds only move right: two pointers sweep
    each window row once. A pixel whose window crosses the box's left or right edge (where
    the person meets the frame's side) is summed column by column with the reflection.
    Cost: (2·radius + 1) window rows per pixel instead of a dense filter of the whole box
    (a generated sequence, the box's dense cv2.blur → this: 720p 2.7 → 1.2 ms, 1080p
    6.7 → 3.7 ms, measured)."""
    k_all = vals.shape[0]
    start = np.zeros(h + 1, np.int64)  # the list's stretch of row y: start[y]:start[y + 1]
    for k in range(k_all):
        start[ys[k] + 1] += 1
    for y in range(h):
        start[y + 1] += start[y]
    # float64 prefix sums: differences of long sums stay exact enough.
    p0, p1 = np.zeros(k_all + 1, np.float64), np.zeros(k_all + 1, np.float64)
    p2, p3 = np.zeros(k_all + 1, np.float64), np.zeros(k_all + 1, np.float64)
    for k in range(k_all):
        p0[k + 1] = p0[k] + vals[k, 0]
        p1[k + 1] = p1[k] + vals[k, 1]
        p2[k + 1] = p2[k] + vals[k, 2]
        p3[k + 1] = p3[k] + vals[k, 3]
    inv = 1.0 / ((2 * radius + 1) ** 2)
    n_rows = 2 * radius + 1
    lo, hi, end = np.empty(n_rows, np.int64), np.empty(n_rows, np.int64), np.empty(n_rows, np.int64)
    for y in range(h):
        a, b = start[y], start[y + 1]
        if a == b:
            continue
        for i in range(n_rows):
            yy = _refl(y - radius + i, h)
            lo[i] = hi[i] = start[yy]
            end[i] = start[yy + 1]
        for k in range(a, b):
            x = xs[k]
            s0 = s1 = s2 = s3 = 0.0
            if x - radius < 0 or x + radius > w - 1:  # reflected columns: one by one
                for i in range(n_rows):
                    yy = _refl(y - radius + i, h)
                    for dx in range(-radius, radius + 1):
                        xx = _refl(x + dx, w)
                        j = start[yy]
                        while j < start[yy + 1] and xs[j] < xx:
                            j += 1
                        if j < start[yy + 1] and xs[j] == xx:
                            s0 += vals[j, 0]
                            s1 += vals[j, 1]
                            s2 += vals[j, 2]
                            s3 += vals[j, 3]
            else:
                for i in range(n_rows):
                    l, r, e = lo[i], hi[i], end[i]
                    while l < e and xs[l] < x - radius:
                        l += 1
                    if r < l:
                        r = l
                    while r < e and xs[r] <= x + radius:
                        r += 1
                    lo[i], hi[i] = l, r
                    s0 += p0[r] - p0[l]
                    s1 += p1[r] - p1[l]
                    s2 += p2[r] - p2[l]
                    s3 += p3[r] - p3[l]
            out[k, 0], out[k, 1], out[k, 2], out[k, 3] = s0 * inv, s1 * inv, s2 * inv, s3 * inv


@njit(cache=True)
def band_spread(blurred, f):
    """One propagation step's colours: at each listed pixel where the box-filtered weight
    (``blurred[k, 3]``, :func:`band_window_mean` of :func:`band_project`'s ``acc``) exceeds
    0.05, ``F`` (``f``, K×3) becomes the weighted mean colour ``blurred[k, :3] / blurred[k, 3]``
    (thin hair gets the colour of the hair next to it rather than of the opaque mass)."""
    for k in range(f.shape[0]):
        wt = blurred[k, 3]
        if wt > 0.05:
            for c in range(3):
                f[k, c] = blurred[k, c] / wt


@njit(cache=True)
def band_sample(image, mean, gain, offset, d2, s2, y0, x0, ys, xs, cand, radius, step, alpha, sep2):
    """``F`` chosen per listed pixel among the person's opaque colours nearby (Bayesian /
    sampling matting with ``B`` known; ``alpha``/``sep2``, K each, rewritten in place).

    Each box pixel with ``cand`` set at offsets ``(−radius, −radius + step, …, radius)`` in
    both directions gives a candidate ``F = I`` there; with ``v = F − B`` (this pixel's
    ``B``) its ``α = clip((I − B)·v / |v|², 0, 1)`` and residual ``|I − B − α·v|²``; the
    candidate that best explains ``I`` on the line ``B → F`` wins (``sep2 = |v|²``). Its
    projected difference ``α·|v|`` within ``√3·SNAP_SIGMAS·σ`` (the noise) is the room:
    ``α = 0``. Where no candidate is in reach, or ``|I − B|`` itself is within that noise
    (then ``α·|v| ≤ |I − B|`` snaps whatever ``F`` is, and the projection gave 0), ``alpha``
    and ``sep2`` stay."""
    h, w = cand.shape
    snap = np.float32(3.0 * SNAP_SIGMAS * SNAP_SIGMAS)
    zero, one = np.float32(0.0), np.float32(1.0)  # float32 constants: no conversions in the loop
    for k in range(ys.size):
        y, x = ys[k], xs[k]
        if d2[y, x] < snap * s2[y, x]:
            continue  # the room: α·|v| ≤ |I − B| snaps whatever F is (alpha is 0 there too)
        b0 = mean[y0 + y, x0 + x, 0] * gain[0] + offset[0]
        b1 = mean[y0 + y, x0 + x, 1] * gain[1] + offset[1]
        b2 = mean[y0 + y, x0 + x, 2] * gain[2] + offset[2]
        e0 = np.float32(image[y0 + y, x0 + x, 0]) - b0
        e1 = np.float32(image[y0 + y, x0 + x, 1]) - b1
        e2 = np.float32(image[y0 + y, x0 + x, 2]) - b2
        best = np.float32(np.inf)
        ba = np.float32(0.0)
        bs2 = np.float32(0.0)
        # The window's offsets that fall inside the box, without a test per candidate.
        ya = y - radius + max(0, (radius - y + step - 1) // step) * step
        xa = x - radius + max(0, (radius - x + step - 1) // step) * step
        for yy in range(ya, min(y + radius, h - 1) + 1, step):
            for xx in range(xa, min(x + radius, w - 1) + 1, step):
                if cand[yy, xx] == 0:
                    continue
                v0 = np.float32(image[y0 + yy, x0 + xx, 0]) - b0
                v1 = np.float32(image[y0 + yy, x0 + xx, 1]) - b1
                v2 = np.float32(image[y0 + yy, x0 + xx, 2]) - b2
                q = v0 * v0 + v1 * v1 + v2 * v2
                if q < one:
                    continue
                a = min(max((e0 * v0 + e1 * v1 + e2 * v2) / q, zero), one)
                r0 = e0 - a * v0
                r1 = e1 - a * v1
                r2 = e2 - a * v2
                r = r0 * r0 + r1 * r1 + r2 * r2
                if r < best:
                    best, ba, bs2 = r, a, q
        if best < np.inf:
            if ba * ba * bs2 < snap * s2[y, x]:
                ba = np.float32(0.0)
            alpha[k] = ba
            sep2[k] = bs2


@njit(cache=True)
def touching_core(view, ys, xs, some, core_min, index):
    """Which listed pixels the fusion may change (uint8 per pixel, K): those not ``some``
    (the solve found nothing there), and those that are ``some`` and 8-connected through
    ``some`` pixels and the model's core (``view`` ≥ ``core_min``) to that core: what
    differs from the room but touches no part of the person is left to the model.

    The same as labelling ``core ∪ some`` over the box and keeping the components that
    hold a core pixel, but a search over the listed pixels only (OpenCV's labelling of the
    whole box and the label gathers cost 2.4 ms at 720p, measured). ``index`` is box-sized
    int32 scratch, all −1 on entry and on return."""
    h, w = view.shape
    k_all = ys.size
    keep = np.zeros(k_all, np.uint8)
    queue = np.empty(k_all, np.int64)
    n = 0
    for k in range(k_all):
        if some[k] == 0:
            keep[k] = 1
            continue
        y, x = ys[k], xs[k]
        index[y, x] = k
        seed = view[y, x] >= core_min
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                yy, xx = y + dy, x + dx
                if not seed and 0 <= yy < h and 0 <= xx < w and view[yy, xx] >= core_min:
                    seed = True
        if seed:
            keep[k] = 1
            queue[n] = k
            n += 1
    head = 0
    while head < n:
        k = queue[head]
        head += 1
        y, x = ys[k], xs[k]
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w:
                    j = index[yy, xx]
                    if j >= 0 and keep[j] == 0:
                        keep[j] = 1
                        queue[n] = j
                        n += 1
    for k in range(k_all):
        if some[k]:
            index[ys[k], xs[k]] = -1
    return keep


@njit(cache=True)
def fill_means(view, rel, fmg, bmg, ax, bx, ay, by, fm, bm):
    """The halo-removal colours (``fm``/``bm``, box × 3) from the grid means ``fmg``/``bmg``
    sampled bilinearly at ``(y·ay + by, x·ax + bx)``, where the composite will read them:
    the soft pixels (0 < ``view`` < 255) and the listed ones (``rel``, whose α the fusion
    may change). Elsewhere ``fm``/``bm`` are left as they are (the composite reads only
    its soft band; ``fmg`` and ``bmg`` have the same shape)."""
    h, w = view.shape
    gh, gw = fmg.shape[0], fmg.shape[1]
    for y in range(h):
        v = y * ay + by
        for x in range(w):
            a = view[y, x]
            if rel[y, x] == 0 and (a == 0 or a == 255):
                continue
            i0, i1, j0, j1, ty, tx = _taps(gh, gw, v, x * ax + bx)
            for c in range(3):
                fm[y, x, c] = _lerp(fmg, i0, i1, j0, j1, ty, tx, c)
                bm[y, x, c] = _lerp(bmg, i0, i1, j0, j1, ty, tx, c)


@njit(cache=True)
def band_fuse(view, ys, xs, alpha, sep2, keep, weight, y0, x0, activity, separation, image, mean, gain, offset,
              fm, bm):
    """Fuse the known-background matte into the model's at the listed pixels (``view``:
    uint8 box view of the frame's matte, rewritten in place) by trust ``c = confidence ·
    |F−B|²/(|F−B|² + separation²) · activity`` (confidence = clip(weight·2/FULL_WEIGHT − 1,
    0, 1)) where ``keep`` (K) is set. Where ``c ≥ 0.5`` and ``fm`` is box-sized, the
    halo-removal colours become ``F = (I − (1−α)B)/α`` and ``B`` (the band's composite is
    then ``I − (1−α)(B − B_new)``: the old room is subtracted exactly). Returns the number
    of pixels with ``c ≥ 0.5``."""
    h, w = view.shape
    colours = fm.shape[0] == h and fm.shape[1] == w
    s2 = np.float32(separation * separation)
    count = 0
    for k in range(ys.size):
        if keep[k] == 0:
            continue
        y, x = ys[k], xs[k]
        conf = min(max(weight[y0 + y, x0 + x] * np.float32(2 / FULL_WEIGHT) - 1, np.float32(0.0)),
                   np.float32(1.0))
        c = conf * sep2[k] / (sep2[k] + s2) * activity
        if c <= 0:
            continue
        a0 = np.float32(view[y, x]) * np.float32(1 / 255)
        a = a0 + c * (alpha[k] - a0)
        q = np.uint8(min(max(a, 0.0), 1.0) * 255 + 0.5)
        view[y, x] = q
        if c >= 0.5:
            count += 1
            if colours:
                af = max(np.float32(q) * np.float32(1 / 255), np.float32(1 / 255))
                for ch in range(3):
                    b = mean[y0 + y, x0 + x, ch] * gain[ch] + offset[ch]
                    fm[y, x, ch] = (np.float32(image[y0 + y, x0 + x, ch]) - (1 - af) * b) / af
                    bm[y, x, ch] = b
    return count
