"""Stage 4: fusion — ``out = α·I + (1−α)·B`` on uint8 frames.

One serial numba kernel that walks each row as runs: most of a frame is either person
(α = 255: kept, and in place not even written) or background (α = 0, and everything
outside the matte's box: block copies; from one row for a solid colour); only the thin soft
band does arithmetic (integer, exact rounding: ``round(v/255)`` without a division; with
halo removal the estimated foreground colour in the same pass). Measured at 1080p on the
demo clip, in place: see the README's Performance section.

The 4th channel of an opaque composite comes from the image where α = 255 and from the
background elsewhere (backgrounds are prepared opaque). Channel order does not matter to
the kernels: the background is prepared in the frame's order (:mod:`matting.background`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .gil import kernel


@njit(inline="always")
def _div255(v):
    # round(v / 255) for 0 <= v <= 255*255, exactly.
    v = v + 128
    return (v + (v >> 8)) >> 8


@njit(inline="always")
def _copy(dst, y, src, sy, start, stop):
    # An explicit loop from 0 over row views: numba's slice assignment is ~40x slower
    # (measured), and an index that may be negative (wrap-around) is not vectorised.
    d, s = dst[y, start:stop], src[sy, start:stop]
    for i in range(d.shape[0]):
        d[i] = s[i]


@njit(inline="always")
def _run_end(alpha, words, y, x, stop, value, pattern):
    """First x' in (x, stop] where row y of ``alpha`` stops being ``value``; 8 pixels at a
    time through ``words`` (the matte's bytes as uint64) once aligned: ~3x faster than
    byte by byte (measured), which matters because the person's box is mostly runs.
    32 pixels a step while four words match (one test for four), through a view from
    the first word (no wrap-around checks)."""
    w = alpha.shape[1]
    base = y * w
    e = x + 1
    while e < stop and (base + e) & 7 and alpha[y, e] == value:
        e += 1
    if e < stop and not (base + e) & 7:
        i = (base + e) >> 3
        ws = words[i:(base + stop) >> 3]  # the words wholly before `stop`
        n = ws.shape[0]
        k = 0
        while k + 4 <= n and ((ws[k] ^ pattern) | (ws[k + 1] ^ pattern) | (ws[k + 2] ^ pattern)
                              | (ws[k + 3] ^ pattern)) == 0:
            k += 4
        while k < n and ws[k] == pattern:
            k += 1
        e = ((i + k) << 3) - base
    while e < stop and alpha[y, e] == value:
        e += 1
    return e


@njit(inline="always")
def _row(image, ci, alpha, words, background, by, out, co, y, x0, x1, inplace, fm_row, bm_row, gxs, halo):
    # Strictly left to right: writing a row's right end before its middle cost ~0.4 ms
    # more per 1080p frame (hot-cache microbenchmark; the stores no longer form one stream).
    w = alpha.shape[1]
    al_row, img_row, bg_row, out_row = alpha[y], image[y], background[by], out[y]
    _copy(out, y, background, by, 0, x0 * co)
    x = x0
    while x < x1:
        a = alpha[y, x]
        if a == 0 or a == 255:
            e = _run_end(alpha, words, y, x, x1, a, np.uint64(0) if a == 0 else np.uint64(0xFFFFFFFFFFFFFFFF))
            if a == 0:
                _copy(out, y, background, by, x * co, e * co)
            elif not inplace:
                if ci == co:
                    _copy(out, y, image, y, x * co, e * co)
                else:
                    for xx in range(x, e):
                        for c in range(3):
                            out[y, xx * co + c] = image[y, xx * ci + c]
                        if co == 4:
                            out[y, xx * co + 3] = image[y, xx * ci + 3] if ci == 4 else 255
            x = e
            continue
        # The soft band (0 < α < 255), blended up to the next 0 or 255 as it is found:
        # one pass, through the row's views with unsigned indices (no wrap-around
        # checks). Scanning the band's end first and blending through views made per run
        # cost ~90 ns over ~3,700 runs of ~10 px at 1080p: the whole composite 0.95 →
        # 0.78 ms this way (tools/stage_timings.py). With ``halo`` the blur-fusion
        # foreground ``F = F̄ + α(I − αF̄ − (1−α)B̄)`` replaces ``I`` (grid column of
        # pixel i: ``gxs[i − x0]``); its float arithmetic gains from ``fastmath``.
        i = np.uint64(x)
        end = np.uint64(x1)
        if halo:
            g0 = np.uint64(x0)
            while i < end:
                ai = al_row[i]
                if ai == 0 or ai == 255:
                    break
                af = np.float32(ai) * np.float32(1 / 255)
                bf = np.float32(1) - af
                g = gxs[i - g0]
                for c in range(3):
                    f_mean = fm_row[g, c]
                    f = f_mean + af * (np.float32(img_row[i * ci + c]) - af * f_mean - bf * bm_row[g, c])
                    f = min(max(f, np.float32(0.0)), np.float32(255.0))
                    out_row[i * co + c] = np.uint8(af * f + bf * np.float32(bg_row[i * co + c]) + np.float32(0.5))
                if co == 4:
                    out_row[i * 4 + 3] = bg_row[i * 4 + 3]
                i += np.uint64(1)
        else:
            while i < end:
                ai = al_row[i]
                if ai == 0 or ai == 255:
                    break
                ia = np.int32(ai)
                ib = 255 - ia
                for c in range(3):
                    out_row[i * co + c] = _div255(ia * np.int32(img_row[i * ci + c]) + ib * np.int32(bg_row[i * co + c]))
                if co == 4:
                    out_row[i * 4 + 3] = bg_row[i * 4 + 3]
                i += np.uint64(1)
        x = np.int64(i)
    _copy(out, y, background, by, x1 * co, w * co)


# fastmath: only the halo band does float arithmetic (its result is checked within ±1 of
# a float64 twin in the tests); it halves that band's cost (0.80 → 0.41 ms at 1080p,
# measured). Not a numba parallel region: in OBS both cores are busy and a parallel
# region's join stalls (commit e6a3fcd); with a helper thread (composite()) its build that
# releases the GIL (matting.gil) takes every other block of rows there.
@kernel(cache=True, fastmath=True)
def composite_rows(image, ci, alpha, words, background, uniform, out, co, x0, y0, x1, y1, inplace, fm, bm,
                   gys, gxs, halo, part, parts):
    """The whole opaque composite in one pass over the rows.

    ``image`` (ci channels), ``background`` and ``out`` (co channels) are C-contiguous
    frames seen as 2-D byte rows (H × W·channels), ``alpha`` is H × W (``words``: its
    bytes as uint64, for :func:`_run_end`); it is read only
    inside the box ``(x0, y0, x1, y1)`` (the caller promises 0 outside). With
    ``uniform`` every background row is the same (a solid colour) and only row 0 is
    read: the background's 6 MB at 1080p are not streamed from memory. Rows are walked
    as runs: background runs (α = 0, and everything outside the box) are block copies,
    person runs (α = 255) are left alone in place (copied otherwise), and only the soft
    band (0 < α < 255) does arithmetic: ``α·I + (1−α)·B``, or with ``halo`` the
    estimated foreground colour ``F = F̄ + α(I − αF̄ − (1−α)B̄)`` instead of ``I`` (blur
    fusion; ``fm``/``bm`` cover the box, box row ``y − y0`` / column ``x − x0`` read
    grid row ``gys[y − y0]`` / column ``gxs[x − x0]``).
    A 4th output channel is the image's (or 255) under the person, the background's
    elsewhere. The usual channel counts (3/3, 4/4) are passed to the row walker as
    literals, so its loops get constant strides (the band took 0.18 ms at 1080p with
    the counts as variables, 0.02 ms as constants; measured).

    Only the blocks of :data:`ROW_BLOCK` rows numbered ``part`` modulo ``parts`` are
    written (``0, 1``: all), so that two calls can share a frame."""
    h, w = alpha.shape
    for y in range(h):
        if (y // ROW_BLOCK) % parts != part:
            continue
        by = 0 if uniform else y
        if y < y0 or y >= y1:
            _copy(out, y, background, by, 0, w * co)
            continue
        gy = gys[y - y0]
        if ci == 3 and co == 3:
            _row(image, 3, alpha, words, background, by, out, 3, y, x0, x1, inplace, fm[gy], bm[gy], gxs, halo)
        elif ci == 4 and co == 4:
            _row(image, 4, alpha, words, background, by, out, 4, y, x0, x1, inplace, fm[gy], bm[gy], gxs, halo)
        else:
            _row(image, ci, alpha, words, background, by, out, co, y, x0, x1, inplace, fm[gy], bm[gy], gxs, halo)
    return out


#: Rows per block when two threads share a composite: blocks alternate between them, so
#: each gets about half of the person's rows wherever the person is, and each still
#: streams whole rows (at 1080p against the serial composite, tools/ab_checkouts.py, one
#: run each: halves split at the box's middle row 1.12 → 0.78 ms, alternate blocks 1.11
#: → 0.72).
ROW_BLOCK = 16


@njit(parallel=True, cache=True)
def blend_transparent(image, alpha, out, inplace):
    """Colour unchanged, the matte written to the 4th channel of ``out`` (straight alpha),
    so the result can be stacked over other sources."""
    h, w = alpha.shape
    for y in prange(h):
        for x in range(w):
            if not inplace:
                for c in range(3):
                    out[y, x, c] = image[y, x, c]
            out[y, x, 3] = alpha[y, x]
    return out


_NO_MEANS = np.zeros((1, 1, 3), np.float32)


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1)


def composite(image: np.ndarray, alpha: np.ndarray, background: np.ndarray | None,
              out: np.ndarray | None = None, box: tuple[int, int, int, int] | None = None,
              foreground=None, uniform: bool = False, helper=None) -> np.ndarray:
    """Composite ``image`` (uint8 HxWx3/4) over ``background`` (uint8, same shape as
    ``out``; None = transparent) with the uint8 matte ``alpha`` (HxW).

    ``out`` is allocated if None; pass ``image`` to work in place. Transparent output
    needs 4 channels. ``box`` (x0, y0, x1, y1), if given, promises that ``alpha`` is 0
    outside it, which lets the background be block-copied there. ``foreground``, if given,
    is ``(fm, bm)`` from :func:`matting.refine.foreground_means` covering exactly ``box``:
    the band is then composited with estimated foreground colours (no halo).
    ``uniform`` promises that every row of ``background`` is the same (a solid colour:
    :attr:`matting.background.Background.uniform`): only its first row is read.
    ``helper``, an executor with a free thread (``concurrent.futures``), composites every
    other block of rows meanwhile: the same result, sooner on two cores.
    """
    h, w = alpha.shape
    if out is None:
        out = np.empty((h, w, 4 if background is None else image.shape[2]), np.uint8)
    inplace = out is image
    if background is None:
        if out.shape[2] != 4:
            raise ValueError("transparent output needs a 4-channel buffer")
        return blend_transparent(image, alpha, out, inplace)
    if background.shape != out.shape:
        raise ValueError(f"background {background.shape} does not match the output {out.shape}")
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    if x1 <= x0 or y1 <= y0:
        x0 = y0 = x1 = y1 = 0
    fm, bm = foreground if foreground is not None else (_NO_MEANS, _NO_MEANS)
    gys, gxs = _grid_index(fm.shape[0], y1 - y0), _grid_index(fm.shape[1], x1 - x0)
    target = out if out.flags.c_contiguous else np.empty(out.shape, np.uint8)
    if target is not out and inplace:
        inplace = False
    src = image if image.flags.c_contiguous else np.ascontiguousarray(image)
    alpha = np.ascontiguousarray(alpha)
    flat = alpha.reshape(-1)
    words = flat[: flat.size // 8 * 8].view(np.uint64)
    bg = background[:1] if uniform else background
    args = (_rows(src), src.shape[2], alpha, words, _rows(np.ascontiguousarray(bg)), uniform,
            _rows(target), target.shape[2], x0, y0, x1, y1, inplace, fm, bm, gys, gxs, foreground is not None)
    if helper is not None and h > ROW_BLOCK:
        rows = composite_rows.nogil
        other = helper.submit(rows, *args, 1, 2)
        try:
            rows(*args, 0, 2)
        finally:
            other.result()  # never return (or raise) while the helper still writes
    else:
        composite_rows(*args, 0, 1)
    if target is not out:
        out[...] = target
    return out


def _grid_index(grid: int, n: int) -> np.ndarray:
    """Nearest grid sample of each of ``n`` pixels covered by ``grid`` cells:
    ``min(int((i + 0.5)·grid/n), grid − 1)`` (as the kernel computed it per pixel)."""
    if n <= 0:
        return np.zeros(1, np.int64)
    return np.minimum(((np.arange(n) + 0.5) * (grid / n)).astype(np.int64), grid - 1)
