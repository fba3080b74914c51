"""What the worker prepares for the GPU path beyond the matte: per-frame backgrounds and
the edge options, all small, for the shader in :mod:`obs_filter.graphics` to apply over
the full-size frame.

* blur: the frame blurred at 1/8 of the output size, from the frame the worker already
  has (an area average of the grid-size readback is the CPU path's area average of the
  full frame); the shader upsamples it bilinearly, as the CPU path's resize does.
* halo removal: ``F_small − I_small``, the estimated foreground colour minus the frame at
  the matte's size, from the pipeline's colour means (the formula of the CPU kernel,
  :func:`matting.composite.composite_rows`); the shader adds it, upsampled, to the
  full-size frame inside the soft edge: ``F = I + up(F_small − I_small)``.
* light wrap: its gain k (:meth:`matting.pipeline.Pipeline.light_wrap_gain`) at the
  matte's size, and the new background blurred at 1/8 size (:func:`wrap_image`).

Halo and light wrap share one RGBA texture (:func:`edge_texture`): rgb the halo shift
stored as ``(F − I)/2 + 128``, a the gain (0..255).
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from matting.background import blur_size
from matting.pipeline import WRAP_SIGMA
from matting.resize import shrink


def _grid_index(grid: int, n: int) -> np.ndarray:
    """Nearest colour-means cell of each of ``n`` pixels (as matting.composite's kernel)."""
    return np.minimum(((np.arange(n) + 0.5) * (grid / n)).astype(np.int64), grid - 1)


def halo_shift(frame: np.ndarray, alpha: np.ndarray, box, means):
    """``F − I`` for the frame the matte was computed on, where it is not 0: the soft edge
    and its α = 0 rim, as (rows, columns, float32 n×3), or None without colour means.
    ``means`` = (fm, bm) covering ``box`` = (x0, y0, x1, y1), from the pipeline
    (``edge_colours``); the same blur-fusion estimate ``F = F̄ + α(I − αF̄ − (1−α)B̄)``
    (clamped to 0..255) as the CPU composite."""
    if means is None:
        return None
    x0, y0, x1, y1 = box
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.float32))
    if x1 <= x0 or y1 <= y0:
        return none
    fm, bm = means
    a = alpha[y0:y1, x0:x1]
    # The soft edge and the pixels next to it where α = 0: there the same formula gives
    # F̄ − I, which the shader's bilinear sample needs where the full-size α is small but
    # not 0 (0 there made up to 9 levels of difference to the CPU path; 0 where α = 255,
    # as the formula gives there too).
    # (OpenCV's own mask operations: numpy's took 4.7 ms at 640×360 under load)
    near = cv2.bitwise_and(cv2.dilate(cv2.inRange(a, 1, 254), np.ones((3, 3), np.uint8)), cv2.inRange(a, 0, 254))
    pts = cv2.findNonZero(near)
    if pts is None:
        return none
    pts = pts.reshape(-1, 2).astype(np.int64)
    xs, ys = pts[:, 0], pts[:, 1]
    gy, gx = _grid_index(fm.shape[0], y1 - y0)[ys], _grid_index(fm.shape[1], x1 - x0)[xs]
    af = (a[ys, xs].astype(np.float32) * np.float32(1 / 255))[:, None]
    img = frame[y0 + ys, x0 + xs, :3].astype(np.float32)
    f_mean, b_mean = fm[gy, gx], bm[gy, gx]
    f = np.clip(f_mean + af * (img - af * f_mean - (1 - af) * b_mean), 0.0, 255.0)
    return y0 + ys, x0 + xs, f - img


def edge_texture(shape, shift=None, gain: np.ndarray | None = None) -> np.ndarray:
    """The shader's ``edge`` texture (uint8 H×W×4): rgb ``round(shift/2) + 128`` (128: no
    halo shift; ``shift`` as :func:`halo_shift` gives it), a ``round(255·gain)`` (0: no
    light wrap). Only the edge's pixels are computed (a dense float frame cost 17 ms at
    640×360, measured under load)."""
    h, w = shape
    # whole planes at once (a strided write of 3 of 4 channels took 7 ms at 640×360)
    if gain is None:
        out = np.empty((h, w, 4), np.uint8)
        out.view(np.uint32).fill(int.from_bytes(bytes((128, 128, 128, 0)), sys.byteorder))
    else:
        mid = np.full((h, w), 128, np.uint8)
        out = cv2.merge((mid, mid, mid, cv2.convertScaleAbs(gain, alpha=255.0)))  # saturating round
    if shift is not None:
        ys, xs, d = shift
        out[ys, xs, :3] = np.clip(np.rint(d * 0.5) + 128, 0, 255)
    return out


def wrap_gain(grid_gain: np.ndarray, shape) -> np.ndarray:
    """Light wrap's grid gain at the matte's size (bilinear, as the CPU path resizes it)."""
    h, w = shape
    if grid_gain.shape == (h, w):
        return grid_gain
    return cv2.resize(grid_gain, (w, h), interpolation=cv2.INTER_LINEAR)


def rgba(rgb: np.ndarray) -> np.ndarray:
    """An opaque RGBA copy of a 3-channel image (textures are RGBA)."""
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[:, :, :3] = rgb[:, :, :3]
    out[:, :, 3] = 255
    return out


def blur_background(background, frame: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """The "blur" background (a :class:`matting.background.Background`) for a frame of
    out_w×out_h, from ``frame`` (the worker's smaller copy of it): RGBA at 1/8 size."""
    return rgba(background.blur_small(frame, blur_size(out_h, out_w)))


def wrap_image(background: np.ndarray, out_h: int, out_w: int, small: bool = False) -> np.ndarray:
    """Light wrap's blurred new background, RGBA at 1/8 of out_w×out_h: ``background``
    (RGB/RGBA, any size down to 1/8) area-averaged to 1/8, then blurred as the CPU path
    does (``WRAP_SIGMA``); ``small``: it already is at 1/8 (the blur background)."""
    img = background if small else shrink(background, blur_size(out_h, out_w))
    img = np.ascontiguousarray(img[:, :, :3])
    return rgba(cv2.GaussianBlur(img, (0, 0), WRAP_SIGMA))
