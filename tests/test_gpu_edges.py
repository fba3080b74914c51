"""The GPU path's edge options and per-frame backgrounds (obs_filter/edges.py) against the
CPU path's composite: the shader's arithmetic replayed in numpy on what the worker
prepares (its bilinear samples are OpenCV's INTER_LINEAR: the same half-pixel centres).
The real shader in a real OBS: tests/obs/test_obs_paths.py."""

from __future__ import annotations

import cv2
import numpy as np

from matting.background import Background
from matting.composite import composite
from matting.refine import foreground_means
from matting.resize import shrink
from obs_filter import edges

H, W = 144, 256


def _dense(shift, shape):
    out = np.zeros(shape + (3,), np.float32)
    ys, xs, d = shift
    out[ys, xs] = d
    return out


def _up(img, w=W, h=H):
    return cv2.resize(img.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _scene(seed=0):
    """A smooth frame (person on the left, a greenish room on the right), a soft matte
    at half size and a background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    person = np.stack([180 + 40 * np.sin(y / 17), 120 + 30 * np.cos(x / 23), 90 + 0 * x], 2)
    room = np.stack([40 + 0 * x, 170 + 30 * np.sin((x + y) / 29), 60 + 20 * np.cos(y / 11)], 2)
    edge = W / 2 + 10 * np.sin(y / 13)
    a_full = np.clip((edge - x) / 6 + 0.5, 0, 1)[:, :, None]
    frame = (a_full * person + (1 - a_full) * room).clip(0, 255).astype(np.uint8)
    frame = np.concatenate([frame, np.full((H, W, 1), 255, np.uint8)], 2)
    small = shrink(frame, (W // 2, H // 2))
    alpha_small = cv2.resize(a_full[:, :, 0], (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    alpha_small = np.rint(alpha_small * 255).astype(np.uint8)
    bg = rng.integers(0, 256, (H // 8, W // 8, 3)).astype(np.uint8)
    bg = np.rint(_up(bg)).astype(np.uint8)
    return frame, small, alpha_small, bg


def _shader(frame, alpha_small, bg, edge=None, wrap=None):
    """PSImage / PSImageEdge of obs_filter/graphics.py in numpy (values 0..255)."""
    a = _up(alpha_small)[:, :, None] / 255.0
    img = frame[:, :, :3].astype(np.float32)
    f = img
    k = 0.0
    if edge is not None:
        e = _up(edge) / 255.0
        f = np.clip(img + (a <= 0.9995) * (e[:, :, :3] - 128 / 255) * 2 * 255, 0, 255)
        k = e[:, :, 3:]
    out = a * f + (1 - a) * bg
    if wrap is not None:
        out = out + k * (_up(wrap[:, :, :3]) - out)
    return np.rint(out)


def test_halo_shift_upsampled_matches_the_cpu_composite():
    frame, small, alpha_small, bg = _scene()
    fm, bm = foreground_means(small[:, :, :3], alpha_small.astype(np.float32) / 255, 4)
    box = (0, 0, W // 2, H // 2)
    shift = edges.halo_shift(small, alpha_small, box, (fm, bm))
    edge = edges.edge_texture(alpha_small.shape, shift, None)
    gpu = _shader(frame, alpha_small, bg, edge)

    # The CPU path: the same matte at full size, the same colour means over the full box.
    alpha = np.rint(_up(alpha_small)).astype(np.uint8)
    cpu = composite(frame[:, :, :3].copy(), alpha, bg, None, (0, 0, W, H), (fm, bm)).astype(np.float32)
    plain = composite(frame[:, :, :3].copy(), alpha, bg).astype(np.float32)
    band = (alpha > 0) & (alpha < 255)
    d = np.abs(gpu - cpu).max(axis=2)
    assert np.abs(cpu - plain)[band].mean() > 5, "the test scene must have a halo to remove"
    assert d.max() <= 3 and (d <= 1).mean() >= 0.99, (d.max(), (d <= 1).mean())
    # without halo removal the edge texture changes nothing
    none = edges.edge_texture(alpha_small.shape, None, None)
    assert np.abs(_shader(frame, alpha_small, bg, none) - plain).max() <= 1


def test_halo_shift_is_zero_outside_the_soft_edge_and_without_means():
    _, small, alpha_small, _ = _scene(1)
    fm, bm = foreground_means(small[:, :, :3], alpha_small.astype(np.float32) / 255, 4)
    shift = _dense(edges.halo_shift(small, alpha_small, (0, 0, W // 2, H // 2), (fm, bm)), alpha_small.shape)
    near = cv2.dilate(((alpha_small > 0) & (alpha_small < 255)).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert not shift[alpha_small == 255].any() and not shift[~near].any() and shift[near].any()
    assert edges.halo_shift(small, alpha_small, (0, 0, 0, 0), None) is None
    assert not edges.halo_shift(small, alpha_small, (0, 0, 0, 0), (fm, bm))[2].size


def test_blur_background_small_matches_the_cpu_blur():
    frame, small, _, _ = _scene(2)
    for strength in (0.0, 0.5, 1.0):
        b = Background("blur", blur_strength=strength)
        cpu = b.frame(H, W, 3, "RGB", frame[:, :, :3].copy()).astype(np.float32)
        tex = edges.blur_background(b, small, H, W)
        assert tex.shape == (H // 8, W // 8, 4) and (tex[:, :, 3] == 255).all()
        gpu = _up(tex[:, :, :3])
        assert np.abs(gpu - cpu).max() <= 2


def test_light_wrap_moves_the_edge_toward_the_blurred_background():
    frame, small, alpha_small, bg = _scene(3)
    gain = np.where((alpha_small > 0) & (alpha_small < 255), 0.5, 0.0).astype(np.float32)
    edge = edges.edge_texture(alpha_small.shape, None, edges.wrap_gain(gain, alpha_small.shape))
    wrap = edges.wrap_image(bg, H, W)
    assert wrap.shape == (H // 8, W // 8, 4)
    plain = _shader(frame, alpha_small, bg)
    lit = _shader(frame, alpha_small, bg, edge, wrap)
    a = alpha_small
    far = cv2.resize(((a == 255) & (cv2.blur(a, (9, 9)) == 255)).astype(np.uint8), (W, H)) > 0
    assert np.abs(lit - plain)[far].max() <= 1  # away from the edge nothing moves
    band = _up((a > 0) & (a < 255)) > 0.99
    want = plain + 0.5 * (_up(wrap[:, :, :3]) - plain)
    assert np.abs(lit - want)[band].max() <= 3


def test_edge_texture_encodes_shift_and_gain():
    shift = (np.array([0, 0]), np.array([0, 1]), np.array([[-300.0, -2.0, 0.0], [1.0, 254.0, 300.0]], np.float32))
    gain = np.array([[0.0, 1.0]], np.float32)
    tex = edges.edge_texture((1, 2), shift, gain)
    assert tex[0, :, :3].tolist() == [[0, 127, 128], [128, 255, 255]]
    assert tex[0, :, 3].tolist() == [0, 255]
