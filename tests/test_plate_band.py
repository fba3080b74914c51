"""The known-background solve's kernels (matting.plate_band), each against a plain
numpy/OpenCV twin of the dense formulation on random inputs, and the solve on a
composite whose α is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matting import plate_band as K

SNAP = 3 * K.SNAP_SIGMAS ** 2


def _random_box(rng):
    """A frame H×W and a box h×w at (y0, x0) inside it, as the stage's kernels see them."""
    H, W = rng.integers(10, 40, 2)
    h, w = int(rng.integers(1, H)), int(rng.integers(1, W))
    return H, W, h, w, int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))


def _scene(rng, H, W, composite=False):
    """Frame, plate mean and gain/offset; with ``composite`` the frame's colours lie on
    lines from the room (as in a real composite), some of them on the room itself."""
    image = rng.integers(0, 256, (H, W, rng.choice([3, 4])), dtype=np.uint8)
    mean = rng.uniform(0, 255, (H, W, 3)).astype(np.float32)
    gain = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    offset = rng.uniform(-5, 5, 3).astype(np.float32)
    if composite:
        t = rng.uniform(0, 1, (H, W, 1)) * (rng.random((H, W, 1)) < 0.7)
        b = mean * gain + offset
        image[:, :, :3] = np.clip(b + t * (np.float32([200, 40, 90]) - b) + 0.5, 0, 255)
    return image, mean, gain, offset


def _box_of(a, y0, x0, h, w):
    return a[y0:y0 + h, x0:x0 + w]


def _b_and_d(image, mean, gain, offset, y0, x0, h, w):
    b = _box_of(mean, y0, x0, h, w) * gain + offset
    return b, _box_of(image, y0, x0, h, w)[:, :, :3].astype(np.float32) - b


def _listed(rng, h, w, share=0.5):
    on = rng.random((h, w)) < share
    ys, xs = np.nonzero(on)
    return ys.astype(np.int32), xs.astype(np.int32)


def _bilinear_numpy(m, v, u):
    """``m`` (h×w×c) at float coordinates (v, u) (arrays), edges continued."""
    h, w = m.shape[:2]
    i, j = np.floor(v).astype(int), np.floor(u).astype(int)
    ty, tx = (v - i)[..., None], (u - j)[..., None]
    i0, i1, j0, j1 = (np.clip(a, 0, n - 1) for a, n in ((i, h), (i + 1, h), (j, w), (j + 1, w)))
    top = m[i0, j0] + tx * (m[i0, j1] - m[i0, j0])
    bot = m[i1, j0] + tx * (m[i1, j1] - m[i1, j0])
    return top + ty * (bot - top)


# ---- residuals -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_residuals_match_numpy(seed):
    rng = np.random.default_rng(seed)
    H, W, h, w, y0, x0 = _random_box(rng)
    image, mean, gain, offset = _scene(rng, H, W, composite=bool(seed % 2))
    var = rng.uniform(0, 20, (H, W)).astype(np.float32)
    slope = rng.uniform(0, 5, (H, W)).astype(np.float32)
    weight = rng.choice([0.0, 4.0, 8.0, 30.0], (H, W)).astype(np.float32)
    view = rng.choice([0, 3, 6, 100, 255], (h, w)).astype(np.uint8)
    d2, s2 = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    match = np.empty((h, w), np.uint8)
    noise2 = np.float32(9.0)
    K.residuals(image, mean, var, slope, weight, gain, offset, noise2, 6, view, y0, x0, d2, s2, match)
    _, d = _b_and_d(image, mean, gain, offset, y0, x0, h, w)
    want_d2 = (d * d).sum(axis=2)
    want_s2 = _box_of(var, y0, x0, h, w) + noise2 + _box_of(slope, y0, x0, h, w) ** 2
    np.testing.assert_allclose(d2, want_d2, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(s2, want_s2, rtol=1e-5)
    want = (view >= 6) & (_box_of(weight, y0, x0, h, w) >= K.FULL_WEIGHT) & (want_d2 < SNAP * want_s2)
    near_edge = np.abs(want_d2 - SNAP * want_s2) < 1e-2 * (1 + want_d2)
    assert ((match > 0) == want)[~near_edge].all()


def test_uint8_thresholds_are_the_float_ones():
    a = np.arange(256, dtype=np.float32) * np.float32(1 / 255)
    assert K.u8_above(0.02) == np.argmax(a > 0.02) == 6
    assert K.u8_at_least(0.98) == np.argmax(a >= 0.98) == 250
    assert K.u8_at_least(0.5) == np.argmax(a >= 0.5) == 128


# ---- room_vouch: the dense box-filter formulation --------------------------------------------------
def room_vouch_numpy(labels, n, mean, var, gain, offset, noise2, y0, x0, d2, s2, radius, resid, texture):
    h, w = labels.shape
    b = _box_of(mean, y0, x0, h, w) * gain + offset
    k = (2 * radius + 1, 2 * radius + 1)
    mb = cv2.blur(b, k)
    tex = cv2.blur((b * b).sum(axis=2), k) - (mb * mb).sum(axis=2)
    vouch = (cv2.blur(d2, k) < resid * cv2.blur(s2, k)) & (tex > texture * (_box_of(var, y0, x0, h, w) + noise2))
    return np.bincount(labels[vouch & (labels > 0)], minlength=n)


@pytest.mark.parametrize("seed", range(6))
def test_room_vouch_matches_box_filters(seed):
    rng = np.random.default_rng(300 + seed)
    H, W, h, w, y0, x0 = _random_box(rng)
    _, mean, gain, offset = _scene(rng, H, W)
    var = rng.uniform(0, 20, (H, W)).astype(np.float32)
    d2 = (rng.uniform(0, 50, (h, w)) * (rng.random((h, w)) < 0.6)).astype(np.float32)
    s2 = rng.uniform(5, 30, (h, w)).astype(np.float32)
    match = (rng.random((h, w)) < 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(match, connectivity=4)
    ys, xs = K.listed(match)
    lab, n_listed = K.label_listed(ys, xs, np.full((h, w), -1, np.int32))
    assert n_listed == n
    radius = int(rng.integers(1, 4))
    # Thresholds near the data's typical values, so both outcomes occur.
    resid, texture = np.float32(rng.uniform(0.5, 3)), np.float32(rng.uniform(0.5, 200))
    rest = (mean, var, gain, offset, np.float32(4.0), y0, x0, d2, s2, radius, resid, texture)
    big = ys.size + 1  # a cap no count reaches: every pixel tested
    got, want = K.room_vouch(ys, xs, lab, n, *rest, big), room_vouch_numpy(labels, n, *rest)
    # Per listed pixel, the count of its region; float32 window sums in another order: a
    # pixel right at a threshold may flip.
    got_px, want_px = got[lab], want[labels[ys, xs]]
    assert np.abs(got_px - want_px).sum() <= max(1, 0.01 * want_px.sum())
    # With a cap, each count is the uncapped one stopped there (the caller's threshold).
    for cap in (1, 3, 10):
        np.testing.assert_array_equal(K.room_vouch(ys, xs, lab, n, *rest, cap), np.minimum(got, cap))


@pytest.mark.parametrize("seed", range(8))
def test_label_listed_is_opencvs_partition(seed):
    rng = np.random.default_rng(350 + seed)
    h, w = (int(v) for v in rng.integers(1, 50, 2))
    mask = (rng.random((h, w)) < rng.uniform(0.05, 0.8)).astype(np.uint8)
    ys, xs = K.listed(mask)
    want_ys, want_xs = np.nonzero(mask)
    np.testing.assert_array_equal(ys, want_ys)
    np.testing.assert_array_equal(xs, want_xs)
    index = np.full((h, w), -1, np.int32)
    lab, n = K.label_listed(ys, xs, index)
    assert (index == -1).all()  # left as it was given
    n_cv, labels = cv2.connectedComponents(mask, connectivity=4)
    assert n == n_cv and (lab > 0).all()
    cv = labels[ys, xs]
    # The same partition: each of our labels maps to one of OpenCV's and back.
    pairs = set(zip(lab.tolist(), cv.tolist()))
    assert len(pairs) == len(set(lab.tolist())) == len(set(cv.tolist()))


@pytest.mark.parametrize("seed", range(4))
def test_region_fit_matches_bincount(seed):
    rng = np.random.default_rng(350 + seed)
    h, w = rng.integers(2, 40, 2)
    match = (rng.random((h, w)) < 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(match, connectivity=4)
    ys, xs = K.listed(match)
    lab, _ = K.label_listed(ys, xs, np.full((h, w), -1, np.int32))
    d2 = rng.uniform(0, 50, (h, w)).astype(np.float32)
    s2 = rng.uniform(1, 20, (h, w)).astype(np.float32)
    H, W = h + 5, w + 7
    y0, x0 = int(rng.integers(0, 6)), int(rng.integers(0, 8))
    mean = rng.choice([0.0, 3.0, 128.0, 252.0, 255.0], (H, W, 3)).astype(np.float32)
    gain = rng.uniform(0.98, 1.02, 3).astype(np.float32)
    offset = rng.uniform(-1, 1, 3).astype(np.float32)
    size, fit, clipped = K.region_fit(ys, xs, lab, n, d2, s2, mean, gain, offset, y0, x0)
    # OpenCV's labels and ours are the same partition in another numbering: compare per pixel.
    want_size = np.bincount(labels.ravel(), minlength=n)
    want_fit = np.bincount(labels.ravel(), (d2 / (3 * s2)).ravel().astype(np.float64), minlength=n)
    b = _box_of(mean, y0, x0, h, w) * gain + offset
    clip = ((b >= 250).all(axis=2) | (b <= 5).all(axis=2)) & (match > 0)
    want_clipped = np.bincount(labels[clip], minlength=n)
    cv = labels[ys, xs]
    np.testing.assert_array_equal(size[lab], want_size[cv])
    np.testing.assert_allclose(fit[lab], want_fit[cv], rtol=1e-5)
    np.testing.assert_array_equal(clipped[lab], want_clipped[cv])
    assert size[0] == 0


# ---- band_pixels ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_band_pixels_match_numpy(seed):
    rng = np.random.default_rng(400 + seed)
    h, w = rng.integers(1, 40, 2)
    # Some boxes mostly empty, so that differences far from the matte occur.
    view = rng.choice([0, 0, 1, 128, 255] if seed % 2 else [0] * 20 + [1, 128, 255], (h, w)).astype(np.uint8)
    inner = (rng.random((h, w)) < 0.3).astype(np.uint8)
    d2 = rng.uniform(0, 100, (h, w)).astype(np.float32)
    s2 = rng.uniform(1, 20, (h, w)).astype(np.float32)
    rel = np.full((h, w), 7, np.uint8)
    y0, x0 = rng.integers(0, 5, 2)
    weight = rng.choice([0.0, K.FULL_WEIGHT / 2, K.FULL_WEIGHT / 2 + 0.5, 30.0], (h + 9, w + 9)).astype(np.float32)
    ys, xs = K.band_pixels(view, inner, d2, s2, weight, y0, x0, 128, rel)
    sure = weight[y0:y0 + h, x0:x0 + w] > K.FULL_WEIGHT / 2
    on = (inner == 0) & sure & ((view > 0) | (d2 >= SNAP * s2))
    # The differing pixels outside the matte count where their 8-connected component of
    # listed pixels holds one with some α or touches the core (OpenCV's labelling).
    _, lab = cv2.connectedComponents(on.astype(np.uint8), connectivity=8)
    core_near = cv2.dilate((view >= 128).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    good = np.unique(lab[on & ((view > 0) | core_near)])
    want = on & ((view > 0) | np.isin(lab, good))
    wy, wx = np.nonzero(want)
    np.testing.assert_array_equal(ys, wy)
    np.testing.assert_array_equal(xs, wx)
    np.testing.assert_array_equal(rel, want.astype(np.uint8))
    if seed % 2 == 0:
        assert (on & ~want).any() or not (on & (view == 0)).any()


# ---- band_foreground: box filters at full resolution, a bilinear wide map ------------------------
def band_foreground_numpy(image, view, y0, x0, ys, xs, radius, wide, ax, bx, ay, by):
    h, w = view.shape
    a = view.astype(np.float32) * np.float32(1 / 255)
    wt = np.clip((a - 0.8) * 5.0, 0, 1).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    img = _box_of(image, y0, x0, h, w)[:, :, :3].astype(np.float32)
    s = cv2.blur(wt, k)
    near = cv2.blur(img * wt[:, :, None], k) / (s[:, :, None] + 1e-6)
    far = _bilinear_numpy(wide, ys * ay + by, xs * ax + bx)
    return np.where((s[ys, xs] > 1e-3)[:, None], near[ys, xs], far)


@pytest.mark.parametrize("seed", range(12))
def test_band_foreground_matches_numpy(seed):
    rng = np.random.default_rng(500 + seed)
    H, W, h, w, y0, x0 = _random_box(rng)
    image, _, _, _ = _scene(rng, H, W)
    # Sure blobs and soft or empty surroundings, so both the near and the wide colour occur.
    view = np.where(rng.random((h, w)) < 0.15, 255, rng.choice([0, 100, 210], (h, w))).astype(np.uint8)
    ys, xs = _listed(rng, h, w, float(rng.choice([0.1, 0.5, 0.95])))  # runs of neighbours slide the window
    radius = int(rng.integers(1, 8))
    gh, gw = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    wide_w = np.where(rng.random((gh, gw)) < 0.2, 0, rng.uniform(0, 1, (gh, gw))).astype(np.float32)
    wide_sum = (rng.uniform(0, 255, (gh, gw, 3)) * wide_w[:, :, None]).astype(np.float32)
    wide = wide_sum / (wide_w[:, :, None] + np.float32(1e-6))  # the colour means the kernel divides out
    m = (0.3, -0.4, 0.25, 0.1)
    f = np.empty((ys.size, 3), np.float32)
    K.band_foreground(image, view, y0, x0, ys, xs, radius, wide_sum, wide_w, *m, f)
    np.testing.assert_allclose(f, band_foreground_numpy(image, view, y0, x0, ys, xs, radius, wide, *m),
                               rtol=1e-3, atol=0.05)


# ---- band_project / band_spread: the projection and its propagation step ------------------------------------
def project_numpy(image, mean, gain, offset, d2, s2, y0, x0, f):
    """Dense projection over the box (f: h×w×3): α, |F − B|², w = α², w·F_solve."""
    h, w = d2.shape
    b, d = _b_and_d(image, mean, gain, offset, y0, x0, h, w)
    fb = f - b
    sep2 = (fb * fb).sum(axis=2)
    alpha = np.clip((d * fb).sum(axis=2) / (sep2 + 1e-3), 0, 1)
    alpha[d2 < SNAP * s2] = 0
    wt = alpha * alpha
    fw = wt[:, :, None] * np.clip(b + d / np.maximum(alpha, 0.05)[:, :, None], 0, 255)
    return alpha, sep2, wt, fw


@pytest.mark.parametrize("seed", range(6))
def test_band_project_matches_numpy(seed):
    rng = np.random.default_rng(600 + seed)
    H, W, h, w, y0, x0 = _random_box(rng)
    image, mean, gain, offset = _scene(rng, H, W, composite=True)
    _, d = _b_and_d(image, mean, gain, offset, y0, x0, h, w)
    d2 = (d * d).sum(axis=2)
    s2 = rng.uniform(0.5, 30, (h, w)).astype(np.float32)
    ys, xs = _listed(rng, h, w, 0.6)
    f = rng.uniform(0, 255, (ys.size, 3)).astype(np.float32)
    acc = np.full((ys.size, 4), np.nan, np.float32) if seed % 2 else np.zeros((0, 4), np.float32)
    alpha, sep2 = np.empty(ys.size, np.float32), np.empty(ys.size, np.float32)
    K.band_project(image, mean, gain, offset, d2, s2, y0, x0, ys, xs, f, acc, alpha, sep2)
    fd = np.zeros((h, w, 3), np.float32)
    fd[ys, xs] = f
    want = project_numpy(image, mean, gain, offset, d2, s2, y0, x0, fd)
    np.testing.assert_allclose(alpha, want[0][ys, xs], rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(sep2, want[1][ys, xs], rtol=1e-3, atol=0.5)
    if seed % 2:  # one row per listed pixel
        np.testing.assert_allclose(acc[:, 3], want[2][ys, xs], rtol=1e-3, atol=2e-3)
        np.testing.assert_allclose(acc[:, :3], want[3][ys, xs], rtol=1e-3, atol=0.5)


@pytest.mark.parametrize("seed", range(3))
def test_band_spread_matches_numpy(seed):
    rng = np.random.default_rng(650 + seed)
    k = int(rng.integers(0, 60))
    blurred = rng.uniform(0, 50, (k, 4)).astype(np.float32)
    blurred[:, 3] = rng.choice([0.0, 0.03, 0.06, 0.5], k)
    f = rng.uniform(0, 255, (k, 3)).astype(np.float32)
    want = np.where((blurred[:, 3] > 0.05)[:, None], blurred[:, :3] / np.maximum(blurred[:, 3:], 1e-12), f)
    K.band_spread(blurred, f)
    np.testing.assert_allclose(f, want, rtol=1e-5)


@pytest.mark.parametrize("seed", range(10))
def test_band_window_mean_is_opencv_blur_of_the_listed_pixels(seed):
    # The sparse image (values at the listed pixels, 0 elsewhere) through cv2.blur
    # (reflect-101), read at the listed pixels; windows wider than the box included.
    rng = np.random.default_rng(660 + seed)
    h, w = (int(v) for v in rng.integers(1, 45, 2))
    ys, xs = _listed(rng, h, w, float(rng.uniform(0.02, 0.6)))
    vals = rng.uniform(0, 255, (ys.size, 4)).astype(np.float32)
    radius = int(rng.integers(1, 12))
    dense = np.zeros((h, w, 4), np.float32)
    dense[ys, xs] = vals
    want = cv2.blur(dense, (2 * radius + 1, 2 * radius + 1))[ys, xs]
    out = np.empty_like(vals)
    K.band_window_mean(ys, xs, vals, h, w, radius, out)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)


def test_band_project_recovers_alpha_of_a_composite():
    rng = np.random.default_rng(2)
    h, w = 40, 50
    b = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    fg = np.float32([200, 40, 90])
    true = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    image = np.clip(true[:, :, None] * fg + (1 - true[:, :, None]) * b + 0.5, 0, 255).astype(np.uint8)
    d = image.astype(np.float32) - b
    d2, s2 = (d * d).sum(axis=2), np.ones((h, w), np.float32)
    ys, xs = (a.ravel().astype(np.int32) for a in np.mgrid[:h, :w])
    one, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    f = np.tile(fg, (ys.size, 1))
    alpha, sep2 = np.empty(ys.size, np.float32), np.empty(ys.size, np.float32)
    for step in range(2):  # the projection with the true F, then one propagation step
        acc, blurred = np.empty((ys.size, 4), np.float32), np.empty((ys.size, 4), np.float32)
        K.band_project(image, b, one, zero, d2, s2, 0, 0, ys, xs, f, acc, alpha, sep2)
        K.band_window_mean(ys, xs, acc, h, w, 2, blurred)
        K.band_spread(blurred, f)
        alpha, sep2 = alpha.reshape(h, w), sep2.reshape(h, w)
        ok = np.sqrt(sep2) > 60  # well separated pixels are solved closely
        assert ok.mean() > 0.5
        assert np.abs(alpha - true)[ok & (true > 0.05)].max() < 0.05
        assert (alpha[:, 0] == 0).all()  # the room itself
        alpha, sep2 = alpha.ravel(), sep2.ravel()


# ---- band_sample: F among the opaque colours nearby ------------------------------------------------
def sample_numpy(image, mean, gain, offset, d2, s2, y0, x0, cand, radius, step, a_in, sep2):
    """Dense over the box: the candidate with the least residual (first best in the window's
    row-major order, as the kernel visits them)."""
    h, w = cand.shape
    b, d = _b_and_d(image, mean, gain, offset, y0, x0, h, w)
    img = b + d
    best = np.full((h, w), np.inf, np.float32)
    ba, bs2 = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    for dy in range(-radius, radius + 1, step):
        for dx in range(-radius, radius + 1, step):
            yy, xx = np.arange(h) + dy, np.arange(w) + dx
            vy, vx = (yy >= 0) & (yy < h), (xx >= 0) & (xx < w)
            cy, cx = np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)
            ok = vy[:, None] & vx[None, :] & (cand[cy][:, cx] > 0)
            v = img[cy][:, cx] - b
            q = (v * v).sum(axis=2)
            ok &= q >= 1.0
            a = np.clip((d * v).sum(axis=2) / np.maximum(q, 1.0), 0, 1)
            r = ((d - a[:, :, None] * v) ** 2).sum(axis=2)
            better = ok & (r < best)
            best[better], ba[better], bs2[better] = r[better], a[better], q[better]
    found = np.isfinite(best) & (d2 >= SNAP * s2)
    ba[ba * ba * bs2 < SNAP * s2] = 0
    return np.where(found, ba, a_in), np.where(found, bs2, sep2)


@pytest.mark.parametrize("seed", range(6))
def test_band_sample_matches_numpy(seed):
    rng = np.random.default_rng(200 + seed)
    H, W, h, w, y0, x0 = _random_box(rng)
    image, mean, gain, offset = _scene(rng, H, W, composite=bool(seed % 2))
    _, d = _b_and_d(image, mean, gain, offset, y0, x0, h, w)
    d2 = (d * d).sum(axis=2)
    s2 = rng.uniform(0.25, 400, (h, w)).astype(np.float32)
    cand = (rng.random((h, w)) < rng.choice([0.05, 0.3])).astype(np.uint8)
    radius, step = int(rng.integers(1, 5)), int(rng.integers(1, 3))
    ys, xs = _listed(rng, h, w, 0.8)
    a_in = rng.uniform(0, 1, (h, w)).astype(np.float32)
    sep2_in = rng.uniform(0, 1e4, (h, w)).astype(np.float32)
    alpha, sep2 = a_in[ys, xs].copy(), sep2_in[ys, xs].copy()
    K.band_sample(image, mean, gain, offset, d2, s2, y0, x0, ys, xs, cand, radius, step, alpha, sep2)
    want = sample_numpy(image, mean, gain, offset, d2, s2, y0, x0, cand, radius, step, a_in, sep2_in)
    np.testing.assert_allclose(alpha, want[0][ys, xs], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(sep2, want[1][ys, xs], rtol=1e-3, atol=0.5)


def test_band_sample_takes_the_colour_that_explains_the_pixel():
    """A soft pixel of dark hair over a light room, next to opaque hair and opaque
    skin: the hair's colour explains it (α right), the local mean of the two would
    not (α overestimated, the bias of issue 13)."""
    b = np.full((1, 4, 3), 200, np.float32)
    hair, skin = np.float32([30, 40, 60]), np.float32([150, 170, 230])
    image = np.empty((1, 4, 3), np.uint8)
    image[0, 0], image[0, 1] = skin, hair
    image[0, 2] = np.round(0.3 * hair + 0.7 * b[0, 2])
    image[0, 3] = b[0, 3]  # the room
    one, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    d = image.astype(np.float32) - b
    d2, s2 = (d * d).sum(axis=2), np.ones((1, 4), np.float32)
    cand = np.uint8([[1, 1, 0, 0]])
    ys, xs = np.int32([0, 0]), np.int32([2, 3])
    alpha, sep2 = np.float32([0.5, 0.0]), np.zeros(2, np.float32)  # the projection's α: 0 on the room
    K.band_sample(image, b, one, zero, d2, s2, 0, 0, ys, xs, cand, 2, 1, alpha, sep2)
    assert abs(alpha[0] - 0.3) < 0.01 and alpha[1] == 0
    fbar = image[0, :2].astype(np.float32).mean(axis=0) - b[0, 2]
    assert (image[0, 2] - b[0, 2]) @ fbar / (fbar @ fbar) > 0.45  # what F̄ would give


# ---- touching_core, fill_means, band_fuse ------------------------------------------------------
def touching_core_numpy(view, ys, xs, some, core_min):
    """The dense formulation: label core ∪ some (8-connected), keep the components with
    a core pixel, and every listed pixel that is not some."""
    comp = (view >= core_min).astype(np.uint8)
    comp[ys[some > 0], xs[some > 0]] = 1
    n, labels = cv2.connectedComponents(comp, connectivity=8)
    touching = np.zeros(n, bool)
    touching[np.unique(labels[view >= core_min])] = True
    touching[0] = False
    return (touching[labels[ys, xs]] | (some == 0)).astype(np.uint8)


@pytest.mark.parametrize("seed", range(8))
def test_touching_core_matches_connected_components(seed):
    rng = np.random.default_rng(700 + seed)
    h, w = (int(v) for v in rng.integers(1, 40, 2))
    view = np.where(rng.random((h, w)) < rng.uniform(0, 0.3), 255, rng.choice([0, 0, 60, 127, 128], (h, w)))
    view = view.astype(np.uint8)
    ys, xs = _listed(rng, h, w)
    some = (rng.random(ys.size) < 0.7).astype(np.uint8)
    index = np.full((h, w), -1, np.int32)
    got = K.touching_core(view, ys, xs, some, 128, index)
    np.testing.assert_array_equal(got, touching_core_numpy(view, ys, xs, some, 128))
    assert (index == -1).all()  # left as it was given


@pytest.mark.parametrize("seed", range(4))
def test_fill_means_matches_numpy(seed):
    rng = np.random.default_rng(800 + seed)
    h, w = rng.integers(1, 40, 2)
    view = rng.choice([0, 0, 1, 128, 255, 255], (h, w)).astype(np.uint8)
    rel = (rng.random((h, w)) < 0.2).astype(np.uint8)
    gh, gw = rng.integers(1, 12, 2)
    fmg, bmg = (rng.uniform(0, 255, (gh, gw, 3)).astype(np.float32) for _ in range(2))
    m = (0.45, -0.2, 0.5, 0.3)
    fm, bm = np.full((h, w, 3), -1, np.float32), np.full((h, w, 3), -1, np.float32)
    K.fill_means(view, rel, fmg, bmg, *m, fm, bm)
    yy, xx = np.mgrid[:h, :w]
    read = (rel > 0) | ((view > 0) & (view < 255))
    for got, g in ((fm, fmg), (bm, bmg)):
        want = _bilinear_numpy(g, yy * m[2] + m[3], xx * m[0] + m[1])
        np.testing.assert_allclose(got[read], want[read], rtol=1e-4, atol=1e-2)
        assert (got[~read] == -1).all()


def fuse_numpy(view, ys, xs, alpha, sep2, keep, weight, y0, x0, activity, separation, image, mean, gain, offset,
               fm, bm):
    h, w = view.shape
    conf = np.clip(_box_of(weight, y0, x0, h, w)[ys, xs] * 2 / K.FULL_WEIGHT - 1, 0, 1)
    c = conf * sep2 / (sep2 + separation ** 2) * activity * (keep > 0)
    a0 = view[ys, xs] / 255.0
    q = np.floor(np.clip(a0 + c * (alpha - a0), 0, 1) * 255 + 0.5).astype(np.uint8)
    out = view.copy()
    out[ys, xs] = np.where(c > 0, q, view[ys, xs])
    strong = c >= 0.5
    b, d = _b_and_d(image, mean, gain, offset, y0, x0, h, w)
    af = np.maximum(out[ys, xs] / 255.0, 1 / 255)[:, None]
    f = ((b + d)[ys, xs] - (1 - af) * b[ys, xs]) / af
    fm, bm = fm.copy(), bm.copy()
    if fm.shape[:2] == (h, w):
        fm[ys[strong], xs[strong]], bm[ys[strong], xs[strong]] = f[strong], b[ys, xs][strong]
    return out, fm, bm, int(strong.sum())


@pytest.mark.parametrize("seed", range(6))
def test_band_fuse_matches_numpy(seed):
    rng = np.random.default_rng(100 + seed)
    H, W, h, w, y0, x0 = _random_box(rng)
    full = rng.integers(0, 256, (H, W), dtype=np.uint8)
    view = full[y0:y0 + h, x0:x0 + w]  # a view, as in the pipeline
    ys, xs = _listed(rng, h, w, 0.7)
    alpha = rng.uniform(0, 1, ys.size).astype(np.float32)
    sep2 = rng.choice([0.0, 4.0, 100.0, 1e4], ys.size).astype(np.float32)
    weight = rng.choice([0.0, 2.0, 5.0, 8.0, 30.0], (H, W)).astype(np.float32)
    keep = (rng.random(ys.size) < 0.8).astype(np.uint8)
    image, mean, gain, offset = _scene(rng, H, W)
    if seed % 2:
        fm, bm = (rng.uniform(0, 255, (h, w, 3)).astype(np.float32) for _ in range(2))
    else:
        fm = bm = np.zeros((0, 0, 3), np.float32)
    activity, sep = np.float32(rng.choice([0.4, 1.0])), np.float32(4.0)
    want = fuse_numpy(view.copy(), ys, xs, alpha, sep2, keep, weight, y0, x0, activity, sep, image, mean, gain,
                      offset, fm, bm)
    fm1, bm1 = fm.copy(), bm.copy()
    n = K.band_fuse(view, ys, xs, alpha, sep2, keep, weight, y0, x0, activity, sep, image, mean, gain, offset,
                    fm1, bm1)
    assert np.abs(view.astype(int) - want[0]).max() <= 1  # float32 rounding at .5
    assert n == want[3]
    np.testing.assert_allclose(fm1, want[1], rtol=1e-3, atol=0.5)
    np.testing.assert_allclose(bm1, want[2], rtol=1e-4, atol=1e-2)
