"""Stage 4: fusion — ``out = α·I + (1−α)·B`` on uint8 frames.

numba kernels, parallel over rows, integer arithmetic with exact rounding
(``round(v/255)`` without a division). Most of a frame is either person (α = 255: kept,
and in place not even written) or background (α = 0: copied, no arithmetic); outside the
matte's bounding box the background is copied with plain numpy block copies, which run at
memcpy speed. 4-channel frames (OBS's BGRA/RGBA) are handled as one uint32 per pixel.

The 4th channel of an opaque composite comes from the image where α = 255 and from the
background elsewhere (backgrounds are prepared opaque). Channel order does not matter to
the kernels: the background is prepared in the frame's order (:mod:`matting.background`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(inline="always")
def _div255(v):
    # round(v / 255) for 0 <= v <= 255*255, exactly.
    v = v + 128
    return (v + (v >> 8)) >> 8


@njit(parallel=True, cache=True)
def blend_over_rgb(image, alpha, background, out, inplace):
    """3-channel kernel: ``out = α·image + (1−α)·background`` per channel."""
    h, w = alpha.shape
    for y in prange(h):
        for x in range(w):
            a = np.int32(alpha[y, x])
            if a == 255:
                if not inplace:
                    for c in range(3):
                        out[y, x, c] = image[y, x, c]
            elif a == 0:
                for c in range(3):
                    out[y, x, c] = background[y, x, c]
            else:
                b = 255 - a
                for c in range(3):
                    out[y, x, c] = _div255(a * np.int32(image[y, x, c]) + b * np.int32(background[y, x, c]))
    return out


@njit(parallel=True, cache=True)
def blend_over_rgba(image32, alpha, background32, out32, inplace):
    """4-channel kernel on uint32 pixels; the top byte (4th channel) is the image's where
    α = 255 and the background's elsewhere."""
    h, w = alpha.shape
    for y in prange(h):
        for x in range(w):
            a = np.int64(alpha[y, x])
            if a == 255:
                if not inplace:
                    out32[y, x] = image32[y, x]
            elif a == 0:
                out32[y, x] = background32[y, x]
            else:
                # int64 arithmetic: numba would promote mixed uint32/int to float.
                p, q = np.int64(image32[y, x]), np.int64(background32[y, x])
                b = 255 - a
                r = q & 0xFF000000
                for s in (0, 8, 16):
                    r |= _div255(a * ((p >> s) & 255) + b * ((q >> s) & 255)) << s
                out32[y, x] = np.uint32(r)
    return out32


@njit(parallel=True, cache=True)
def fix_band_foreground(image, alpha, fm, bm, fy, fx, background, out):
    """Rewrite the semi-transparent band (0 < α < 255) of a finished composite with the
    estimated foreground colour, ``F = F̄ + α(I − αF̄ − (1−α)B̄)`` (blur fusion), so that
    ``out = α·F + (1−α)·background``: the old background's colour does not bleed into the
    new one. ``fm``/``bm`` (float32 HxWx3 at reduced resolution) are the local mean
    foreground and background colours, sampled at ``((y + 0.5)·fy, (x + 0.5)·fx)``.
    Only band pixels are touched (a thin line around the person), so this costs little
    on top of :func:`blend_over_rgb` / :func:`blend_over_rgba`."""
    h, w = alpha.shape
    gh, gw = fm.shape[0], fm.shape[1]
    for y in prange(h):
        gy = min(int((y + 0.5) * fy), gh - 1)
        for x in range(w):
            a = alpha[y, x]
            if a == 0 or a == 255:
                continue
            gx = min(int((x + 0.5) * fx), gw - 1)
            af = np.float32(a) * np.float32(1 / 255)
            for c in range(3):
                f_mean, b_mean = fm[gy, gx, c], bm[gy, gx, c]
                f = f_mean + af * (np.float32(image[y, x, c]) - af * f_mean - (1 - af) * b_mean)
                f = min(max(f, np.float32(0.0)), np.float32(255.0))
                out[y, x, c] = np.uint8(af * f + (1 - af) * np.float32(background[y, x, c]) + 0.5)
    return out


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


def _as_u32(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32)[:, :, 0]


def composite(image: np.ndarray, alpha: np.ndarray, background: np.ndarray | None,
              out: np.ndarray | None = None, box: tuple[int, int, int, int] | None = None,
              foreground=None) -> np.ndarray:
    """Composite ``image`` (uint8 HxWx3/4) over ``background`` (uint8, same shape as
    ``out``; None = transparent) with the uint8 matte ``alpha`` (HxW).

    ``out`` is allocated if None; pass ``image`` to work in place. Transparent output
    needs 4 channels. ``box`` (x0, y0, x1, y1), if given, promises that ``alpha`` is 0
    outside it, which lets the background be block-copied there. ``foreground``, if given,
    is ``(fm, bm)`` from :func:`matting.refine.foreground_means` covering exactly ``box``:
    the band is then composited with estimated foreground colours (no halo).
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
        out[...] = background
        return out
    # Outside the box: background only, as four block copies.
    out[:y0] = background[:y0]
    out[y1:] = background[y1:]
    out[y0:y1, :x0] = background[y0:y1, :x0]
    out[y0:y1, x1:] = background[y0:y1, x1:]
    im, al, bg, ou = image[y0:y1, x0:x1], alpha[y0:y1, x0:x1], background[y0:y1, x0:x1], out[y0:y1, x0:x1]
    if foreground is not None:
        fm, bm = foreground
        fy, fx = fm.shape[0] / (y1 - y0), fm.shape[1] / (x1 - x0)
        if inplace:
            # The band needs the original colours: finish it first, then let the plain
            # kernel keep it as it is (treated as opaque).
            fix_band_foreground(im, al, fm, bm, fy, fx, bg, ou)
            al = np.where(al > 0, np.uint8(255), al)
    if out.shape[2] == 4 and image.shape[2] == 4:
        blend_over_rgba(_as_u32(im), al, _as_u32(bg), _as_u32(ou), inplace)
    else:
        blend_over_rgb(im, al, bg, ou, inplace)
    if foreground is not None and not inplace:
        fix_band_foreground(im, al, fm, bm, fy, fx, bg, ou)
    return out
