"""Fast area shrinking for the grid, the refinement's working size and the backgrounds.

OpenCV's ``INTER_AREA`` is the right filter for shrinking (it averages every source
pixel, as MediaPipe's own pre-processing does), but it is fast only for an exact factor
of 2; any other factor takes a generic path that is 5–15× slower than bilinear
(measured here at 1080p: 960×540 → 256×256 in 3.3 ms against 0.2 ms bilinear, 1920×1080
→ 256×256 in 9.4 ms). Two ways round it:

* :func:`shrink` halves exactly while the image is at least twice the target (0.26 ms for
  960×540 → 480×270), then finishes the remaining factor (< 2) bilinearly. Every source
  pixel is averaged in with factors of 2 and more (one-pixel stripes come out grey, where
  a plain bilinear resize picks stripes out); between 1 and 2 it is bilinear, as a 1-to-2
  INTER_AREA nearly is. For the grid, the refinement and the backgrounds.
* :func:`area_resize` is OpenCV's INTER_AREA itself (the same weights, float sums, round
  to nearest) as a separable numba kernel, for the model's input, which must stay
  INTER_AREA (matting.model says why). Equal to ``cv2.resize(..., INTER_AREA)`` but for
  rare ±1 roundings (tests/test_kernels.py); faster than OpenCV on non-integer factors
  (``tools/ab_stages.py resize``; the README's Performance section has the numbers).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from numba import njit


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (width, height): area averaging by exact halvings of
    each side that is at least twice its target, then bilinear. An odd side loses its last
    row/column before a halving; the last step then maps the output onto the whole source
    (as if that pixel were there), so the geometry is the same as a direct resize.
    Enlarging is bilinear."""
    w, h = size
    height, width = image.shape[:2]
    fx = fy = 1  # how many source pixels one pixel of ``image`` now spans
    while True:
        ih, iw = image.shape[:2]
        kx, ky = 2 if iw >= 2 * w else 1, 2 if ih >= 2 * h else 1
        if kx == ky == 1:
            break
        # Bilinear at an exact factor of 2 averages each pair of pixels, i.e. it is the
        # area filter; OpenCV's INTER_AREA fast path covers only 2 × 2 (0.10 ms against
        # 0.11; for 2 × 1 INTER_AREA takes 1.3 ms, bilinear 0.42; 700×330, measured).
        image = cv2.resize(image[: ih // ky * ky, : iw // kx * kx], (iw // kx, ih // ky),
                           interpolation=cv2.INTER_AREA if kx == ky == 2 else cv2.INTER_LINEAR)
        fx, fy = fx * kx, fy * ky
    ih, iw = image.shape[:2]
    if iw * fx == width and ih * fy == height:  # nothing trimmed: a plain resize is exact
        return image if (iw, ih) == (w, h) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    # Output pixel x sits at source (x + 0.5)·width/w − 0.5, i.e. at (x + 0.5)·sx − 0.5 here
    # (0.3 ms more than a resize, only for odd sides).
    sx, sy = width / (w * fx), height / (h * fy)
    m = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


@functools.lru_cache(maxsize=64)
def area_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """INTER_AREA's weights along one axis of ``src`` → ``dst`` pixels (``src >= dst``), as
    OpenCV computes them: output pixel ``d`` covers source ``[d·s, (d+1)·s)``, ``s =
    src/dst``, and each source pixel weighs by its overlap. Returns (first source index,
    tap count, weights padded to the widest) per output pixel.

    Cached, but the ROI's crop changes size on most frames while the person moves (87
    misses in 150 frames of the demo clip): as a Python loop a miss cost 2–5 ms, so the
    loop is :func:`_area_taps` (numba, the same float64 steps)."""
    scale = 1.0 / (dst / src)  # OpenCV's scale_x = 1 / inv_scale_x, to the last bit
    first, count, weights = _area_taps(src, dst, scale, math.ceil(scale) + 2)
    return first, count, np.ascontiguousarray(weights[:, :int(count.max())])


@functools.lru_cache(maxsize=64)
def _kernel_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`area_taps` with the weights padded to at least 3 columns (zero weights past
    a pixel's count), for :func:`_area_sums`'s 3-tap path."""
    first, count, weights = area_taps(src, dst)
    if weights.shape[1] < 3:
        weights = np.ascontiguousarray(np.pad(weights, ((0, 0), (0, 3 - weights.shape[1]))))
    return first, count, weights


@njit(cache=True)
def _area_taps(src, dst, scale, most):
    """The loop of :func:`area_taps` (weights are ``1/cell`` inside the cell and the
    partial overlaps at its two ends); ``most`` bounds the taps per output pixel."""
    first = np.empty(dst, np.int32)
    count = np.zeros(dst, np.int32)
    weights = np.zeros((dst, most), np.float32)
    for d in range(dst):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, src - f1)
        s2 = min(math.floor(f2), src - 1)
        s1 = min(math.ceil(f1), s2)
        n = 0
        if s1 - f1 > 1e-3:
            first[d] = s1 - 1
            weights[d, n] = (s1 - f1) / cell
            n += 1
        for s in range(s1, s2):
            if n == 0:
                first[d] = s
            weights[d, n] = 1.0 / cell
            n += 1
        if f2 - s2 > 1e-3:
            if n == 0:
                first[d] = s2
            weights[d, n] = min(f2 - s2, 1.0, cell) / cell
            n += 1
        count[d] = n
    return first, count, weights


@njit(inline="always")
def _area_sums(rows, cin, xfirst, xcount, xw, yfirst, ycount, yw, dy, acc, sums):
    """Output row ``dy``: the source rows of its cell weighed together into ``acc``
    (contiguous, vectorised), then each output pixel's columns summed from it, rounded
    and clipped to 0–255, into ``sums`` (width × 3, float32)."""
    n = rows.shape[1]
    r = rows[yfirst[dy]]
    beta = yw[dy, 0]
    for i in range(n):
        acc[i] = np.float32(r[i]) * beta
    for ky in range(1, ycount[dy]):
        r = rows[yfirst[dy] + ky]
        beta = yw[dy, ky]
        for i in range(n):
            acc[i] += np.float32(r[i]) * beta
    if xw.shape[1] == 3:
        # At most 3 taps (shrinking by less than 2×, the model's crops): always all three,
        # the missing ones with weight 0 (adding 0·acc changes no sum, and ``acc`` is
        # padded with zeros past the row): no loop whose length changes from pixel to
        # pixel and mispredicts (pre-process at 1080p −0.08 ms, tools/ab_checkouts.py).
        for dx in range(sums.shape[0]):
            i = xfirst[dx] * cin
            a0, a1, a2 = xw[dx, 0], xw[dx, 1], xw[dx, 2]
            s0 = np.float32(0.0) + acc[i] * a0
            s1 = np.float32(0.0) + acc[i + 1] * a0
            s2 = np.float32(0.0) + acc[i + 2] * a0
            s0 += acc[i + cin] * a1
            s1 += acc[i + cin + 1] * a1
            s2 += acc[i + cin + 2] * a1
            s0 += acc[i + 2 * cin] * a2
            s1 += acc[i + 2 * cin + 1] * a2
            s2 += acc[i + 2 * cin + 2] * a2
            sums[dx, 0] = min(max(np.rint(s0), 0.0), 255.0)
            sums[dx, 1] = min(max(np.rint(s1), 0.0), 255.0)
            sums[dx, 2] = min(max(np.rint(s2), 0.0), 255.0)
        return
    for dx in range(sums.shape[0]):
        i = xfirst[dx] * cin
        s0 = s1 = s2 = np.float32(0.0)
        for kx in range(xcount[dx]):
            a = xw[dx, kx]
            s0 += acc[i] * a
            s1 += acc[i + 1] * a
            s2 += acc[i + 2] * a
            i += cin
        sums[dx, 0] = min(max(np.rint(s0), 0.0), 255.0)
        sums[dx, 1] = min(max(np.rint(s1), 0.0), 255.0)
        sums[dx, 2] = min(max(np.rint(s2), 0.0), 255.0)


@njit(cache=True)
def _area_rows(rows, cin, xfirst, xcount, xw, yfirst, ycount, yw, out):
    """Separable area sums, one output row per iteration (:func:`_area_sums`). ``rows``
    is the image as H × W·cin bytes; 3 channels out.

    Serial on purpose: in OBS, where the two cores are busy, a parallel region waits for
    a descheduled thread at its join (measured in tools/obs_bench.py: the worker 4–5 ms a
    frame slower with the model on every frame); serial it is still faster than OpenCV."""
    dh, dw = out.shape[0], out.shape[1]
    acc = np.zeros(rows.shape[1] + 3 * cin, np.float32)  # zeros past the row: see _area_sums
    sums = np.empty((dw, 3), np.float32)
    for dy in range(dh):
        _area_sums(rows, cin, xfirst, xcount, xw, yfirst, ycount, yw, dy, acc, sums)
        for dx in range(dw):
            for c in range(3):
                out[dy, dx, c] = np.uint8(sums[dx, c])
    return out


@njit(cache=True)
def _area_tensor(rows, cin, xfirst, xcount, xw, yfirst, ycount, yw, out, swap):
    """:func:`_area_rows` written straight as a model input: ``out`` (1 × 3 × H × W
    float32) = the uint8 result / 255, channels reversed if ``swap`` (BGR → RGB): the
    same values as OpenCV's blobFromImage on the uint8 image, without the uint8 image."""
    dh, dw = out.shape[2], out.shape[3]
    acc = np.zeros(rows.shape[1] + 3 * cin, np.float32)  # zeros past the row: see _area_sums
    sums = np.empty((dw, 3), np.float32)
    scale = np.float32(1 / 255)
    for dy in range(dh):
        _area_sums(rows, cin, xfirst, xcount, xw, yfirst, ycount, yw, dy, acc, sums)
        for c in range(3):
            o = out[0, 2 - c if swap else c, dy]
            for dx in range(dw):
                o[dx] = sums[dx, c] * scale
    return out


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2.resize(image, size, interpolation=cv2.INTER_AREA)[:, :, :3]`` for a uint8
    HxWx3 or HxWx4 ``image`` (a crop view is fine) shrunk on both axes (``size`` =
    (width, height), each at most the image's). Exact integer factors go to OpenCV (its
    fast path); others to the numba kernel."""
    w, h = size
    ih, iw, c = image.shape
    if not (0 < w <= iw and 0 < h <= ih) or c not in (3, 4):
        raise ValueError(f"area_resize shrinks a 3- or 4-channel image: {image.shape} -> {w}x{h}")
    if iw % w == 0 and ih % h == 0:
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)[:, :, :3]
    xf, xc, xw = _kernel_taps(iw, w)
    yf, yc, yw = _kernel_taps(ih, h)
    rows = np.ascontiguousarray(image).reshape(ih, iw * c)
    return _area_rows(rows, c, xf, xc, xw, yf, yc, yw, np.empty((h, w, 3), np.uint8))


def area_resize_tensor(image: np.ndarray, size: tuple[int, int], swap: bool) -> np.ndarray:
    """``cv2.dnn.blobFromImage(area_resize(image, size), 1 / 255, swapRB=swap)`` in one
    pass (the same float32 values; 1 × 3 × height × width)."""
    w, h = size
    ih, iw, c = image.shape
    if not (0 < w <= iw and 0 < h <= ih) or c not in (3, 4):
        raise ValueError(f"area_resize_tensor shrinks a 3- or 4-channel image: {image.shape} -> {w}x{h}")
    if iw % w == 0 and ih % h == 0:
        return cv2.dnn.blobFromImage(np.ascontiguousarray(area_resize(image, size)), 1 / 255, swapRB=swap)
    xf, xc, xw = _kernel_taps(iw, w)
    yf, yc, yw = _kernel_taps(ih, h)
    rows = np.ascontiguousarray(image).reshape(ih, iw * c)
    return _area_tensor(rows, c, xf, xc, xw, yf, yc, yw, np.empty((1, 3, h, w), np.float32), swap)
