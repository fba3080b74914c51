"""Every numba kernel against a plain numpy twin, on random inputs."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matting.composite import composite
from matting.postprocess import label_components, motion_mask, select_components, sure_counts, temporal_fuse
from matting.roi import des_update, mask_bbox

settings.register_profile("kernels", max_examples=60, deadline=None)
settings.load_profile("kernels")

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40))


# ---- twins -----------------------------------------------------------------------------
def des_twin(level, trend, obs, a, b, first):
    if first:
        return obs.copy(), np.zeros_like(obs), obs.copy()
    new_level = a * obs + (1 - a) * (level + trend)
    new_trend = b * (new_level - level) + (1 - b) * trend
    return new_level, new_trend, new_level + new_trend


def bbox_twin(alpha, thr):
    ys, xs = np.nonzero(alpha >= thr)
    if ys.size == 0:
        return (-1, -1, -1, -1)
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def label_twin(mask):
    """Breadth-first flood fill in raster order, 8-connected."""
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    n = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not labels[y, x]:
                n += 1
                labels[y, x] = n
                todo = deque([(y, x)])
                while todo:
                    cy, cx = todo.popleft()
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            yy, xx = cy + dy, cx + dx
                            if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not labels[yy, xx]:
                                labels[yy, xx] = n
                                todo.append((yy, xx))
    return labels, n


def composite_twin(image, alpha, background):
    a = alpha[..., None].astype(np.float64)
    out = np.rint((a * image[..., :3] + (255 - a) * background[..., :3]) / 255).astype(np.uint8)
    if background.shape[2] == 4:
        fourth = np.where(alpha == 255, image[..., 3] if image.shape[2] == 4 else 255, background[..., 3])
        out = np.dstack([out, fourth.astype(np.uint8)])
    return out


# ---- tests -----------------------------------------------------------------------------
@given(obs=arrays(np.float64, 4, elements=st.floats(-1e4, 1e4)),
       level=arrays(np.float64, 4, elements=st.floats(-1e4, 1e4)),
       trend=arrays(np.float64, 4, elements=st.floats(-100, 100)),
       a=st.floats(0.01, 1), b=st.floats(0, 1), first=st.booleans())
def test_des_update_matches_twin(obs, level, trend, a, b, first):
    want_level, want_trend, want = des_twin(level, trend, obs, a, b, first)
    lv, tr = level.copy(), trend.copy()
    got = des_update(lv, tr, obs, a, b, first)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(lv, want_level, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(tr, want_trend, rtol=1e-12, atol=1e-9)


@given(shape=shapes, data=st.data(), thr=st.floats(0.05, 0.95))
def test_mask_bbox_matches_twin(shape, data, thr):
    alpha = data.draw(arrays(np.float32, shape, elements=st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0])))
    assert tuple(mask_bbox(alpha, thr)) == bbox_twin(alpha, thr)


def test_mask_bbox_threshold_equal_to_a_float32_value():
    """Found by hypothesis: float32 0.7 at threshold 0.7 counts, as ``alpha >= 0.7`` does."""
    alpha = np.full((1, 1), 0.7, np.float32)
    assert tuple(mask_bbox(alpha, 0.7)) == bbox_twin(alpha, 0.7) == (0, 0, 1, 1)


@given(shape=shapes, data=st.data())
def test_label_components_matches_flood_fill(shape, data):
    mask = data.draw(arrays(np.bool_, shape))
    labels, count, areas = label_components(mask)
    want, n = label_twin(mask)
    assert count == n
    np.testing.assert_array_equal(labels, want)
    np.testing.assert_array_equal(areas[1:], np.bincount(want.ravel(), minlength=n + 1)[1:])


def test_label_components_large_random_and_spiral():
    rng = np.random.default_rng(0)
    mask = rng.random((200, 300)) > 0.55
    labels, count, _ = label_components(mask)
    want, n = label_twin(mask)
    assert count == n
    np.testing.assert_array_equal(labels, want)
    # A U shape: two branches met late must merge into one component.
    u = np.zeros((10, 10), bool)
    u[1:9, 1] = u[1:9, 8] = u[8, 1:9] = True
    assert label_components(u)[1] == 1


@given(shape=shapes, data=st.data(), min_area=st.integers(0, 30), keep_largest=st.booleans())
def test_select_components_matches_twin(shape, data, min_area, keep_largest):
    mask = data.draw(arrays(np.bool_, shape))
    labels, count, areas = label_components(mask)
    got = select_components(labels, areas, float(min_area), keep_largest)
    if keep_largest:
        keep = set()
        if count:
            best = 1 + int(np.argmax(areas[1:]))
            if areas[best] >= min_area:
                keep = {best}
    else:
        keep = {i for i in range(1, count + 1) if areas[i] >= min_area}
    want = np.isin(labels, list(keep)).astype(np.uint8) if keep else np.zeros(shape, np.uint8)
    np.testing.assert_array_equal(got, want)


@given(shape=shapes, data=st.data(), low=st.floats(0, 20), span=st.floats(1, 40))
def test_motion_mask_matches_twin(shape, data, low, span):
    a = data.draw(arrays(np.uint8, shape))
    b = data.draw(arrays(np.uint8, shape))
    want = np.clip((np.abs(a.astype(np.float64) - b) - low) / span, 0, 1)
    np.testing.assert_allclose(motion_mask(a, b, low, low + span), want, atol=1e-5)


@given(shape=shapes, data=st.data(), strength=st.floats(0, 0.95), threshold=st.floats(0.1, 0.9),
       band=st.sampled_from([0.0, 0.1, 0.25]), flush=st.sampled_from([0.0, 0.5 / 255, 0.1]))
def test_temporal_fuse_matches_twin(shape, data, strength, threshold, band, flush):
    unit = st.floats(0, 1, width=32)
    cur, prev, motion = (data.draw(arrays(np.float32, shape, elements=unit)) for _ in range(3))
    w = strength * (1 - motion.astype(np.float64))
    want = w * prev + (1 - w) * cur
    if band > 0:
        crossed = (want >= threshold) != (prev >= threshold)
        hold = crossed & (np.abs(want - threshold) < band) & (np.abs(cur - threshold) < band)
        want = np.where(hold, prev, want)
    want = np.where(want >= flush, want, 0.0)
    out = np.empty_like(cur)
    got = temporal_fuse(cur, prev, motion, strength, out, threshold, band, flush)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # In place over `previous`, on views (the pipeline fuses a window of the grid).
    big = np.zeros((shape[0] + 2, shape[1] + 3), np.float32)
    big[1:-1, 2:-1] = prev
    temporal_fuse(cur, big[1:-1, 2:-1], motion, strength, big[1:-1, 2:-1], threshold, band, flush)
    np.testing.assert_allclose(big[1:-1, 2:-1], want, atol=1e-6)
    assert not big[0].any() and not big[:, :2].any()


@given(shape=shapes, data=st.data(), strength=st.floats(0, 0.95), low=st.sampled_from([2.0, 4.0, 8.0]),
       radius=st.integers(0, 3), band=st.sampled_from([0.0, 0.25]))
def test_temporal_fuse_diff_is_fuse_of_spread_motion(shape, data, strength, low, radius, band):
    """The pipeline's path (uint8 differences widened, then mapped to motion inside the
    fusion) gives exactly what the float motion mask widened and fused gives."""
    import cv2

    from matting.postprocess import spread_motion, temporal_fuse_diff

    unit = st.floats(0, 1, width=32)
    cur, prev = (data.draw(arrays(np.float32, shape, elements=unit)) for _ in range(2))
    g0, g1 = (data.draw(arrays(np.uint8, shape)) for _ in range(2))
    want = temporal_fuse(cur, prev, spread_motion(motion_mask(g0, g1, low, 4 * low), radius), strength,
                         np.empty_like(cur), 0.5, band, 0.5 / 255)
    got = prev.copy()  # in place, as the pipeline fuses
    temporal_fuse_diff(cur, got, spread_motion(cv2.absdiff(g0, g1), radius), low, 4 * low, strength, got,
                       0.5, band, 0.5 / 255)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("channels", [3, 4])
@given(shape=shapes, data=st.data(), use_box=st.booleans(), inplace=st.booleans(), uniform=st.booleans())
def test_composite_matches_twin(channels, shape, data, use_box, inplace, uniform):
    image = data.draw(arrays(np.uint8, (*shape, channels)))
    background = data.draw(arrays(np.uint8, (*shape, channels)))
    if uniform:  # a solid colour's rows are all alike: the kernel reads only the first
        background[:] = background[:1]
    alpha = data.draw(arrays(np.uint8, shape, elements=st.sampled_from([0, 0, 1, 77, 128, 254, 255, 255])))
    box = None
    if use_box:
        x0 = data.draw(st.integers(0, shape[1]))
        y0 = data.draw(st.integers(0, shape[0]))
        box = (x0, y0, data.draw(st.integers(x0, shape[1])), data.draw(st.integers(y0, shape[0])))
        inside = np.zeros(shape, bool)
        inside[box[1]:box[3], box[0]:box[2]] = True
        alpha[~inside] = 0  # the promise `box` makes
    want = composite_twin(image, alpha, background)
    if inplace:
        got = composite(image, alpha, background, image, box, uniform=uniform)
        if channels == 4:  # in place the person's pixels are untouched, 4th channel included
            want[..., 3] = np.where(alpha == 255, image[..., 3], want[..., 3])
    else:
        got = composite(image, alpha, background, None, box, uniform=uniform)
    np.testing.assert_array_equal(got, want)


@given(shape=st.tuples(st.integers(1, 70), st.integers(1, 40)), data=st.data(), inplace=st.booleans(),
       halo=st.booleans())
def test_composite_with_a_helper_thread_is_the_same(shape, data, inplace, halo):
    """A helper thread takes every other block of rows: the same bytes as one thread."""
    from concurrent.futures import ThreadPoolExecutor

    image = data.draw(arrays(np.uint8, (*shape, 3)))
    background = data.draw(arrays(np.uint8, (*shape, 3)))
    alpha = data.draw(arrays(np.uint8, shape, elements=st.sampled_from([0, 0, 1, 77, 128, 254, 255, 255])))
    fg = None
    if halo:
        grid = (max(1, shape[0] // 3), max(1, shape[1] // 3), 3)
        fg = (data.draw(arrays(np.float32, grid, elements=st.floats(0, 255, width=32))),
              data.draw(arrays(np.float32, grid, elements=st.floats(0, 255, width=32))))
    box = (0, 0, shape[1], shape[0])
    with ThreadPoolExecutor(1) as helper:
        if inplace:
            one, two = image.copy(), image.copy()
            composite(one, alpha, background, one, box, fg)
            composite(two, alpha, background, two, box, fg, helper=helper)
        else:
            one = composite(image, alpha, background, None, box, fg)
            two = composite(image, alpha, background, None, box, fg, helper=helper)
    np.testing.assert_array_equal(one, two)


@given(shape=shapes, data=st.data(), channels=st.sampled_from([3, 4]))
def test_composite_transparent_writes_matte(shape, data, channels):
    image = data.draw(arrays(np.uint8, (*shape, channels)))
    alpha = data.draw(arrays(np.uint8, shape))
    got = composite(image, alpha, None)
    np.testing.assert_array_equal(got[..., :3], image[..., :3])
    np.testing.assert_array_equal(got[..., 3], alpha)


# ---- refinement kernels ------------------------------------------------------------------
def _bilinear_twin(grid, hh, ww, fy, fx):
    """Sample a grid (HxW or HxWxC) at full-res pixel centres, clamped, like the kernels."""
    gh, gw = grid.shape[:2]
    gy = np.clip((np.arange(hh) + 0.5) * fy - 0.5, 0, gh - 1)
    gx = np.clip((np.arange(ww) + 0.5) * fx - 0.5, 0, gw - 1)
    y0 = np.minimum(gy.astype(int), max(gh - 2, 0))
    x0 = np.minimum(gx.astype(int), max(gw - 2, 0))
    ty = (gy - y0) if gh > 1 else np.zeros_like(gy)
    tx = (gx - x0) if gw > 1 else np.zeros_like(gx)
    y1 = y0 + 1 if gh > 1 else y0
    x1 = x0 + 1 if gw > 1 else x0
    g = grid.astype(np.float64)
    ty = ty[:, None] if grid.ndim == 2 else ty[:, None, None]
    tx = tx[None, :] if grid.ndim == 2 else tx[None, :, None]
    top = g[y0][:, x0] * (1 - tx) + g[y0][:, x1] * tx
    bot = g[y1][:, x0] * (1 - tx) + g[y1][:, x1] * tx
    return top * (1 - ty) + bot * ty


@given(data=st.data(), gshape=st.tuples(st.integers(1, 12), st.integers(1, 12)), factor=st.integers(1, 3),
       use_band=st.booleans(), trust=st.floats(0, 255))
def test_apply_guided_color_matches_twin(data, gshape, factor, use_band, trust):
    from matting.refine import apply_guided_color, flat_cells

    gh, gw = gshape
    hh, ww = gh * factor, gw * factor
    a = data.draw(arrays(np.float32, (gh, gw, 3), elements=st.floats(-2, 2, width=32)))
    b = data.draw(arrays(np.float32, (gh, gw), elements=st.floats(-1, 2, width=32)))
    band = (data.draw(arrays(np.float32, (gh, gw), elements=st.floats(-300, 600, width=32))) if use_band
            else np.zeros((0, 0), np.float32))
    image = data.draw(arrays(np.uint8, (hh, ww, 3)))
    fy, fx = gh / hh, gw / ww
    out = np.zeros((hh, ww), np.uint8)
    apply_guided_color(image, a, b, fy, fx, 0.12, 0.88, out, np.zeros((0, 0), np.int16), band, trust)
    flat = np.zeros((hh, ww), np.uint8)
    apply_guided_color(image, a, b, fy, fx, 0.12, 0.88, flat, flat_cells(a, b, 0.12, 0.88, band, trust), band, trust)
    np.testing.assert_array_equal(flat, out)  # skipping constant cells changes nothing
    q = (_bilinear_twin(a, hh, ww, fy, fx) * (image / 255.0)).sum(axis=2) + _bilinear_twin(b, hh, ww, fy, fx)
    want = np.clip((q - 0.12) / 0.76, 0, 1) * 255
    if use_band:
        r = _bilinear_twin(band, hh, ww, fy, fx)
        want = np.clip(want, np.clip(r - trust, 0, 255), np.clip(r + trust, 0, 255))
    assert np.abs(out.astype(float) - want).max() <= 1.0  # float32 vs float64, rounding


def guided_twin(guide, p, radius, eps):
    """The colour guided filter's coefficients in plain numpy (He et al. 2013, eq. 14)."""
    import cv2

    guide = guide.astype(np.float32) / 255
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(p)
    cov_ip = box(guide * p[:, :, None]) - mean_i * mean_p[:, :, None]
    var = np.empty(p.shape + (3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            var[..., i, j] = box(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var.astype(np.float64), cov_ip[..., None].astype(np.float64))[..., 0].astype(np.float32)
    b = mean_p - (a * mean_i).sum(axis=-1)
    return box(a), box(b)


@settings(deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 30), st.integers(1, 30)), radius=st.integers(1, 4),
       eps=st.sampled_from([1e-1, 1e-2, 1e-3]), weights=st.tuples(*[st.floats(-1, 1)] * 3))
def test_guided_coefficients_match_twin(data, shape, radius, eps, weights):
    from matting.refine import guided_coefficients_color
    from matting.scratch import Scratch

    guide = data.draw(arrays(np.uint8, shape + (3,)))
    # A matte that depends on the colours (so that ``a`` is far from 0), plus noise.
    noise = data.draw(arrays(np.float32, shape, elements=st.floats(0, 0.25, width=32)))
    p = np.clip(guide.astype(np.float32) @ np.float32(weights) / 255 + noise, 0, 1).astype(np.float32)
    want_a, want_b = guided_twin(guide, p, radius, eps)
    for scratch in (None, Scratch()):
        a, b = guided_coefficients_color(guide, p, radius, eps, scratch)
        # float32 closed-form inverse against a float64 solve
        np.testing.assert_allclose(a, want_a, atol=5e-3, rtol=1e-3)
        np.testing.assert_allclose(b, want_b, atol=5e-3, rtol=1e-3)


def foreground_twin(small, alpha, radius):
    """Blur-fusion foreground/background means (Forte & Pitié 2021) in plain numpy."""
    import cv2

    a3 = alpha[:, :, None]
    img = small[:, :, :3].astype(np.float32)
    fg, bg = img, img
    for r in (4 * radius, radius):
        k = (2 * r + 1, 2 * r + 1)
        blur_a = cv2.blur(alpha, k)[:, :, None]
        fm = cv2.blur(fg * a3, k) / (blur_a + 1e-5)
        bm = cv2.blur(bg * (1 - a3), k) / ((1 - blur_a) + 1e-5)
        fg = np.clip(fm + a3 * (img - a3 * fm - (1 - a3) * bm), 0, 255)
        bg = bm
    return fm, bm


@settings(deadline=None)
@given(data=st.data(), shape=st.tuples(st.integers(1, 30), st.integers(1, 30)), radius=st.integers(1, 4))
def test_foreground_means_match_twin(data, shape, radius):
    from matting.refine import foreground_means
    from matting.scratch import Scratch

    small = data.draw(arrays(np.uint8, shape + (3,)))
    alpha = data.draw(arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
    want_f, want_b = foreground_twin(small, alpha, radius)
    scratch = Scratch()
    for _ in range(2):  # the second call reuses the scratch arrays
        fm, bm = foreground_means(small, alpha, radius, scratch)
        np.testing.assert_allclose(fm, want_f, atol=0.05, rtol=1e-4)
        np.testing.assert_allclose(bm, want_b, atol=0.05, rtol=1e-4)


@given(data=st.data(), shape=shapes, channels=st.sampled_from([3, 4]), inplace=st.booleans())
def test_composite_with_foreground_matches_twin(data, shape, channels, inplace):
    image = data.draw(arrays(np.uint8, (*shape, channels)))
    background = data.draw(arrays(np.uint8, (*shape, channels)))
    alpha = data.draw(arrays(np.uint8, shape, elements=st.sampled_from([0, 1, 60, 128, 200, 254, 255])))
    gh, gw = max(1, shape[0] // 2), max(1, shape[1] // 2)
    fm = data.draw(arrays(np.float32, (gh, gw, 3), elements=st.floats(0, 255, width=32)))
    bm = data.draw(arrays(np.float32, (gh, gw, 3), elements=st.floats(0, 255, width=32)))
    fy, fx = gh / shape[0], gw / shape[1]
    # Twin: nearest grid sample, foreground estimate, blend.
    iy = np.minimum(((np.arange(shape[0]) + 0.5) * fy).astype(int), gh - 1)
    ix = np.minimum(((np.arange(shape[1]) + 0.5) * fx).astype(int), gw - 1)
    F, B = fm[iy][:, ix].astype(np.float64), bm[iy][:, ix].astype(np.float64)
    a = alpha[..., None] / 255.0
    f = np.clip(F + a * (image[..., :3] - a * F - (1 - a) * B), 0, 255)
    want = a * f + (1 - a) * background[..., :3]
    want = np.where(alpha[..., None] == 255, image[..., :3], np.where(alpha[..., None] == 0, background[..., :3], want))
    want4 = np.where(alpha == 255, image[..., 3], background[..., 3]) if channels == 4 else None
    original = image.copy()
    got = composite(image, alpha, background, image if inplace else None, None, (fm, bm))
    assert np.abs(got[..., :3].astype(float) - want).max() <= 1.0
    if channels == 4:
        np.testing.assert_array_equal(got[..., 3], want4)
    if not inplace:
        np.testing.assert_array_equal(image, original)


@given(data=st.data(), h=st.integers(1, 12), w=st.integers(1, 90), inplace=st.booleans(),
       channels=st.sampled_from([3, 4]), halo=st.booleans())
def test_composite_long_runs_match_twin(data, h, w, inplace, channels, halo):
    """Mattes made of long runs (as real ones are): the run scanner's 8-pixel steps."""
    runs = data.draw(st.lists(st.tuples(st.sampled_from([0, 255, 255, 0, 128]), st.integers(1, 40)),
                              min_size=1, max_size=12))
    row = np.concatenate([np.full(n, v, np.uint8) for v, n in runs])
    row = np.resize(row, w)
    alpha = np.stack([np.roll(row, data.draw(st.integers(0, w))) for _ in range(h)])
    image = data.draw(arrays(np.uint8, (h, w, channels)))
    background = data.draw(arrays(np.uint8, (h, w, channels)))
    original = image.copy()
    if halo:
        means = np.full((1, 1, 3), 100, np.float32)
        got = composite(image, alpha, background, image if inplace else None, None, (means, means))
        a = alpha[..., None] / 255.0
        f = np.clip(100 + a * (original[..., :3].astype(float) - 100), 0, 255)
        want = np.where(alpha[..., None] == 255, original[..., :3],
                        np.where(alpha[..., None] == 0, background[..., :3], a * f + (1 - a) * background[..., :3]))
        assert np.abs(got[..., :3].astype(float) - want).max() <= 1.0
    else:
        got = composite(image, alpha, background, image if inplace else None, None)
        want = composite_twin(original, alpha, background)
        np.testing.assert_array_equal(got[..., :3], want[..., :3])
    if channels == 4:
        np.testing.assert_array_equal(got[..., 3], np.where(alpha == 255, original[..., 3], background[..., 3]))


@given(data=st.data(), shape=st.tuples(st.integers(1, 8), st.integers(1, 40)))
def test_composite_three_channels_into_four(data, shape):
    """A BGR frame composited into a 4-channel buffer: 4th channel 255 under the person."""
    image = data.draw(arrays(np.uint8, (*shape, 3)))
    background = data.draw(arrays(np.uint8, (*shape, 4)))
    alpha = data.draw(arrays(np.uint8, shape, elements=st.sampled_from([0, 0, 90, 255, 255])))
    out = np.zeros((*shape, 4), np.uint8)
    np.testing.assert_array_equal(composite(image, alpha, background, out), composite_twin(image, alpha, background))


# ---- INTER_AREA for the model's input (matting.resize.area_resize) -----------------------------
def area_twin(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """Plain numpy INTER_AREA: each output pixel the overlap-weighted mean of its source
    cell, as dense weight matrices (Wy · I · Wxᵀ per channel), rounded."""
    def weights(src, dst):
        m = np.zeros((dst, src))
        scale = src / dst
        for d in range(dst):
            lo, hi = d * scale, (d + 1) * scale
            for s in range(int(np.floor(lo)), min(src, int(np.ceil(hi)))):
                m[d, s] = max(0.0, min(hi, s + 1) - max(lo, s))
        return m / m.sum(1, keepdims=True)
    wy, wx = weights(image.shape[0], h), weights(image.shape[1], w)
    out = np.einsum("ys,sxc,wx->ywc", wy, image[:, :, :3].astype(np.float64), wx)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@settings(deadline=None)
@given(data=st.data(), src=st.tuples(st.integers(1, 60), st.integers(1, 60)), channels=st.sampled_from([3, 4]),
       crop=st.booleans())
def test_area_resize_matches_twin_and_opencv(data, src, channels, crop):
    import cv2

    from matting.resize import area_resize

    ih, iw = src
    h, w = data.draw(st.integers(1, ih)), data.draw(st.integers(1, iw))
    image = data.draw(arrays(np.uint8, (ih + 3, iw + 5, channels)))
    image = image[1:ih + 1, 2:iw + 2] if crop else np.ascontiguousarray(image[:ih, :iw])  # a crop is a strided view
    got = area_resize(image, (w, h))
    assert got.shape == (h, w, 3) and got.dtype == np.uint8
    # Sums in float32 (as OpenCV's) against float64: a rounding may differ by one level.
    assert np.abs(got.astype(int) - area_twin(image, w, h)).max() <= 1
    assert np.abs(got.astype(int) - cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)[:, :, :3]).max() <= 1


def area_taps_twin(src: int, dst: int):
    """Plain Python INTER_AREA taps per output pixel (the loop matting.resize.area_taps
    runs in numba): (first index, count, weights padded to the widest)."""
    scale = 1.0 / (dst / src)
    taps_of = []
    for d in range(dst):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, src - f1)
        s2 = min(math.floor(f2), src - 1)
        s1 = min(math.ceil(f1), s2)
        taps = [(s1 - 1, (s1 - f1) / cell)] if s1 - f1 > 1e-3 else []
        taps += [(s, 1.0 / cell) for s in range(s1, s2)]
        if f2 - s2 > 1e-3:
            taps.append((s2, min(f2 - s2, 1.0, cell) / cell))
        taps_of.append(taps)
    count = np.array([len(t) for t in taps_of], np.int32)
    weights = np.zeros((dst, int(count.max())), np.float32)
    for d, taps in enumerate(taps_of):
        weights[d, :len(taps)] = [v for _, v in taps]
    return np.array([t[0][0] for t in taps_of], np.int32), count, weights


@given(src=st.integers(1, 2500), data=st.data())
def test_area_taps_match_twin(src, data):
    from matting.resize import area_taps

    dst = data.draw(st.integers(1, min(src, 300)))
    for got, want in zip(area_taps(src, dst), area_taps_twin(src, dst)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@settings(deadline=None)
@given(data=st.data(), src=st.tuples(st.integers(1, 60), st.integers(1, 60)), channels=st.sampled_from([3, 4]),
       swap=st.booleans())
def test_area_resize_tensor_is_the_blob_of_area_resize(data, src, channels, swap):
    """The model input written by the shrink itself equals OpenCV's blob of the uint8 shrink."""
    import cv2

    from matting.resize import area_resize, area_resize_tensor

    ih, iw = src
    h, w = data.draw(st.integers(1, ih)), data.draw(st.integers(1, iw))
    image = data.draw(arrays(np.uint8, (ih + 1, iw + 2, channels)))[1:, 2:]  # a strided crop
    want = cv2.dnn.blobFromImage(np.ascontiguousarray(area_resize(image, (w, h))), 1 / 255, swapRB=swap)
    got = area_resize_tensor(image, (w, h), swap)
    assert got.shape == (1, 3, h, w) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_area_resize_is_opencv_on_frames(astronaut_bgr):
    """On a real photo at the pipeline's sizes: OpenCV's INTER_AREA but for rare ±1."""
    import cv2

    from matting.resize import area_resize

    big = cv2.resize(astronaut_bgr, (1920, 1080))
    for image, size in ((big, (256, 256)), (big[:, 500:1300], (256, 256)), (big[100:700, 300:900], (144, 256)),
                        (cv2.cvtColor(big, cv2.COLOR_BGR2BGRA), (256, 144)), (big[::2, ::2], (256, 256))):
        d = np.abs(area_resize(image, size).astype(int) - cv2.resize(image, size, interpolation=cv2.INTER_AREA)[:, :, :3])
        assert d.max() <= 1 and (d > 0).mean() < 1e-3
    with pytest.raises(ValueError):
        area_resize(big, (2000, 100))


@given(data=st.data(), shape=shapes, level=st.sampled_from([0.0, 0.5, 0.7, 0.9, 1.0]))
def test_sure_counts_match_bincount(data, shape, level):
    prob = data.draw(arrays(np.float32, shape, elements=st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0])))
    labels, count, _ = label_components(prob >= 0.5)
    want = np.bincount(labels.ravel(), weights=(prob >= np.float32(level)).ravel(), minlength=count + 1)
    np.testing.assert_array_equal(sure_counts(labels, prob, level, count), want.astype(np.int64))


# ---- adaptive rate's zone and change count ---------------------------------------------------
@given(data=st.data(), shape=shapes, strided=st.booleans())
def test_adaptive_zone_matches_twin(data, shape, strided):
    from matting.adaptive import _zone

    near = data.draw(arrays(np.uint8, shape, elements=st.sampled_from([0, 1, 255])))
    core = data.draw(arrays(np.uint8, (shape[0], shape[1] + 1), elements=st.sampled_from([0, 1, 255])))
    core = core[:, 1:] if strided else np.ascontiguousarray(core[:, 1:])
    watch = np.empty(shape, np.bool_)
    want = (near != 0) & (core == 0)
    assert _zone(near, core, watch) == np.count_nonzero(want)
    np.testing.assert_array_equal(watch, want)


@given(data=st.data(), shape=shapes, level=st.sampled_from([0.0, 0.5, 10.0, 10.5, 12.0, 254.0, 255.0]))
def test_adaptive_change_count_matches_twin(data, shape, level):
    """_changed(…, floor(level)) counts what ``(cv2.absdiff(s, r) > level) & watch`` does."""
    import cv2

    from matting.adaptive import _changed

    s = data.draw(arrays(np.uint8, shape))
    r = np.clip(s.astype(int) + data.draw(arrays(np.int16, shape, elements=st.integers(-20, 20))), 0, 255)
    r = r.astype(np.uint8) if data.draw(st.booleans()) else data.draw(arrays(np.uint8, shape))
    watch = data.draw(arrays(np.bool_, shape))
    want = np.count_nonzero((cv2.absdiff(s, r) > level) & watch)
    assert _changed(s, r, watch, math.floor(level)) == want


@given(data=st.data(), shape=shapes, level=st.sampled_from([0, 10, 12, 255]))
def test_adaptive_tally_matches_twin(data, shape, level):
    import cv2

    from matting.adaptive import _tally

    s, r = data.draw(arrays(np.uint8, shape)), data.draw(arrays(np.uint8, shape))
    if data.draw(st.booleans()):
        r = np.clip(s.astype(int) + data.draw(arrays(np.int16, shape, elements=st.integers(-20, 20))), 0, 255
                    ).astype(np.uint8)
    person = data.draw(arrays(np.uint8, shape, elements=st.sampled_from([0, 255])))
    core = data.draw(arrays(np.uint8, shape, elements=st.sampled_from([0, 255]))) & person
    moved = cv2.absdiff(s, r) > level
    edge = (person != 0) & (core == 0)
    assert _tally(s, r, person, core, level) == (np.count_nonzero(moved & edge), np.count_nonzero(edge),
                                                 np.count_nonzero(moved))


def test_adaptive_levels_compare_as_numpy_does():
    """ran() thresholds the float32 matte with cv2.compare: the same pixels as numpy's
    ``a > outside`` / ``a >= inside`` with a Python float, also at the float32 next to it."""
    import cv2

    rng = np.random.default_rng(3)
    for t in (0.02, 0.98, *rng.random(50)):
        t = float(t)
        c = np.float32(t)
        a = np.concatenate([rng.random(200, np.float32),
                            [np.nextafter(c, np.float32(0)), c, np.nextafter(c, np.float32(1))]]).reshape(1, -1)
        np.testing.assert_array_equal(cv2.compare(a, t, cv2.CMP_GT) > 0, a > t)
        np.testing.assert_array_equal(cv2.compare(a, t, cv2.CMP_GE) > 0, a >= t)
