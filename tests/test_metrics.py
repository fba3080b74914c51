"""Each metric of matting.lab.metrics on hand-made cases whose value is known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matting.lab import metrics as M


def disk(h=64, w=80, cy=32, cx=40, r=15, value=1.0):
    y, x = np.mgrid[0:h, 0:w]
    return np.where((y - cy) ** 2 + (x - cx) ** 2 <= r * r, value, 0.0).astype(np.float32)


# ---- IoU, MAD, MSE, SAD -------------------------------------------------------------------
def test_iou_of_two_overlapping_boxes():
    p = np.zeros((10, 10), np.float32)
    t = np.zeros((10, 10), np.float32)
    p[0:10, 0:6] = 1.0  # 60 px
    t[0:10, 4:10] = 0.9  # 60 px, overlap 20
    assert M.iou(p, t) == pytest.approx(20 / 100)


def test_iou_threshold_is_half_inclusive_and_empty_is_perfect():
    t = np.zeros((4, 4), np.float32)
    assert M.iou(t, t) == 1.0  # nothing to find, nothing found
    p = np.full((4, 4), 0.5, np.float32)
    assert M.iou(p, t) == 0.0  # 0.5 counts as person
    assert M.iou(M.unit(np.full((4, 4), 127, np.uint8)), t) == 1.0  # 127/255 < 0.5
    assert M.iou(M.unit(np.full((4, 4), 128, np.uint8)), t) == 0.0


def test_mad_mse_sad_of_a_constant_error():
    p = np.full((20, 50), 0.5, np.float32)
    t = np.zeros((20, 50), np.float32)
    assert M.mad(p, t) == pytest.approx(500.0)  # 0.5 × 1e3
    assert M.mse(p, t) == pytest.approx(250.0)  # 0.25 × 1e3
    assert M.sad(p, t) == pytest.approx(0.5 * 1000 / 1e3)


def test_ignored_pixels_are_not_scored():
    t = disk()
    p = t.copy()
    p[:5] = 1.0  # wrong, but only in an ignored band
    p[10, 10] = 1.0  # wrong and scored: one pixel
    valid = np.ones(t.shape, bool)
    valid[:5] = False
    n = valid.sum()
    assert M.mad(p, t, valid) == pytest.approx(1e3 / n)
    assert M.mse(p, t, valid) == pytest.approx(1e3 / n)
    assert M.sad(p, t, valid) == pytest.approx(1e-3)
    assert M.iou(p, t, valid) == pytest.approx(t.sum() / (t.sum() + 1))
    assert M.conn(p, t, valid) == pytest.approx(1e-3)  # the stray pixel: φ 0 vs 1


def test_everything_ignored_gives_nan_not_an_error():
    t = disk()
    none = np.zeros(t.shape, bool)
    assert math.isnan(M.mad(t, t, none)) and math.isnan(M.mse(t, t, none))
    assert M.sad(t, t, none) == 0.0


def test_unit_scales_uint8_only():
    assert M.unit(np.array([[0, 255]], np.uint8)).tolist() == [[0.0, 1.0]]
    f = np.array([[0.25]], np.float64)
    assert M.unit(f).dtype == np.float32 and M.unit(f)[0, 0] == 0.25


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        M.mad(np.zeros((3, 4)), np.zeros((4, 3)))


# ---- Grad ---------------------------------------------------------------------------------
def test_gradient_filters_match_rhemann_definition():
    fx, fy = M.gauss_derivative_filters(1.4)
    assert fx.shape == (9, 9)  # half-size ceil(1.4·sqrt(-2 ln(sqrt(2π)·1.4·0.01))) = 4
    assert np.sqrt((fx ** 2).sum()) == pytest.approx(1.0)
    np.testing.assert_allclose(fx, -fx[:, ::-1], atol=1e-15)  # derivative in x: odd in x
    np.testing.assert_allclose(fx, fx[::-1, :], atol=1e-15)  # Gaussian in y: even in y
    np.testing.assert_array_equal(fy, fx.T)
    assert fx[4, 3] > 0 > fx[4, 5]  # G'(x) = -x G(x)/σ²


def test_grad_of_a_vertical_step_in_closed_form():
    # true: a vertical step 0 → 1 at column c; pred: empty. Away from the top and bottom
    # rows the Gaussian part sums to the column sums of fx, so on each row the response
    # at column x is the sum of fx's column sums over the kernel columns that see the step.
    h, w, c = 30, 40, 20
    t = np.zeros((h, w), np.float32)
    t[:, c:] = 1.0
    fx, _ = M.gauss_derivative_filters(1.4)
    col = fx.sum(axis=0)  # weight of kernel column j (offset j - 4)
    # correlation: response(x) = Σ_j col[j] · t(x + j - 4); the step covers x + j - 4 ≥ c
    per_row = sum(sum(col[j] for j in range(9) if x + j - 4 >= c) ** 2 for x in range(w))
    assert M.grad(np.zeros_like(t), t) == pytest.approx(h * per_row / 1e3, rel=1e-4)


def test_grad_is_zero_for_equal_mattes_and_symmetric():
    t = disk()
    assert M.grad(t, t) == 0.0
    p = disk(r=12, value=0.8)
    assert M.grad(p, t) == pytest.approx(M.grad(t, p))
    assert M.grad(p, t) > 0


def test_grad_crop_changes_nothing():
    # the metric filters only the non-zero box; compare with the whole image filtered
    rng = np.random.default_rng(0)
    t = np.zeros((60, 70), np.float32)
    p = np.zeros((60, 70), np.float32)
    t[20:40, 25:50] = rng.uniform(0, 1, (20, 25))
    p[15:35, 30:55] = rng.uniform(0, 1, (20, 25))
    full = ((M.gradient_magnitude(p) - M.gradient_magnitude(t)) ** 2).sum() / 1e3
    assert M.grad(p, t) == pytest.approx(full, rel=1e-6)


# ---- Conn ---------------------------------------------------------------------------------
def test_conn_missed_person_costs_its_area():
    # pred empty: Ω is empty at every threshold, round-down level 0 → φ(true) = 0, φ(pred) = 1
    t = disk()
    assert M.conn(np.zeros_like(t), t) == pytest.approx(t.sum() / 1e3)


def test_conn_stray_blob_costs_its_area_and_the_person_nothing():
    t = disk()
    p = t.copy()
    p[2:6, 2:7] = 1.0  # 20 px, not connected to the person
    assert M.conn(p, t) == pytest.approx(20 / 1e3)


def test_conn_round_down_level_and_delta():
    # pred = 0.55 on the disk, true = 1: Ω is the disk up to threshold 0.5, so l = 0.5;
    # true - l = 0.5 ≥ 0.15 → φ = 0.5; pred - l = 0.05 < 0.15 → φ = 1.
    t = disk()
    p = disk(value=0.55)
    assert M.conn(p, t) == pytest.approx(0.5 * t.sum() / 1e3, rel=1e-5)
    assert M.conn(t, t) == 0.0


def test_conn_uses_4_connectivity():
    # two blocks touching only at a corner are two components for Conn
    t = np.zeros((20, 20), np.float32)
    t[2:8, 2:8] = 1.0  # 36 px
    t[8:12, 8:12] = 1.0  # 16 px, diagonal neighbour of the first block
    assert M.conn(t, t) == 0.0
    p = t.copy()
    p[8:12, 8:12] = 0.75
    # 4-connected, the small block is never in Ω: l = 0, φ(true) = 0, φ(pred) = 0.25.
    # (8-connected it would stay in Ω up to 0.7: φ(true) = 0.7, φ(pred) = 1, error 0.3.)
    assert M.conn(p, t) == pytest.approx(0.25 * 16 / 1e3)
    p[8:12, 8:12] = 0.0  # missed: φ(pred) = 1
    assert M.conn(p, t) == pytest.approx(16 / 1e3)


# ---- temporal -----------------------------------------------------------------------------
def test_dtssd_of_a_uniform_change_the_truth_does_not_have():
    t = disk()
    p0, p1 = t.copy(), np.clip(t + 0.1, 0, 1)
    # Δpred = 0.1 outside the disk, 0 inside (clipped at 1); Δtrue = 0
    outside = (t == 0).mean()
    assert M.dtssd(p1, p0, t, t) == pytest.approx(math.sqrt(0.01 * outside) * 1e2, rel=1e-5)
    assert M.dtssd(t, t, t, t) == 0.0
    # following the truth exactly is no error
    t1 = disk(cx=43)
    assert M.dtssd(t1, t, t1, t) == 0.0


def test_flicker_counts_only_static_pixels():
    t = disk()
    p0 = t.copy()
    p1 = t.copy()
    p1[0:2, :] = 1.0  # 2 rows of the background flip on
    static = M.gt_static(t, t)
    assert static.all()
    assert M.flicker(p1, p0, static) == pytest.approx(2 * t.shape[1] / t.size * 1e3)
    moving = np.zeros(t.shape, bool)
    moving[0:2] = True
    assert M.flicker(p1, p0, ~moving) == 0.0
    assert math.isnan(M.flicker(p1, p0, np.zeros(t.shape, bool)))


def test_gt_static_respects_changes_and_ignore():
    t0, t1 = disk(), disk(cx=45)
    s = M.gt_static(t1, t0)
    assert not s[32, 56] and s[0, 0] and s[32, 40]
    valid = np.ones(t0.shape, bool)
    valid[0, 0] = False
    assert not M.gt_static(t1, t0, valid)[0, 0]


def test_frame_static_ignores_noise_and_sees_motion():
    rng = np.random.default_rng(3)
    f0 = np.full((60, 80, 3), 100, np.uint8)
    f0[20:40, 20:40] = 200
    noise = rng.integers(-2, 3, f0.shape)
    f1 = np.clip(f0.astype(int) + noise, 0, 255).astype(np.uint8)
    assert M.frame_static(f1, f0).all()  # ±2 levels of noise: nothing moved
    f2 = np.full_like(f0, 100)
    f2[20:40, 30:50] = 200  # the square moved 10 px right
    s = M.frame_static(f2, f0)
    assert not s[30, 25] and not s[30, 45]  # uncovered and covered
    assert not s[30, 51]  # within the radius of a change
    assert s[5, 5] and s[30, 35]  # far background; inside both squares: unchanged


def test_sequence_scorer_first_frame_has_no_temporal_metrics():
    sc = M.SequenceScorer(temporal=True)
    t = (disk() * 255).astype(np.uint8)
    r0 = sc.add(t, t)
    assert math.isnan(r0["dtssd"]) and math.isnan(r0["flicker"])
    assert r0["iou"] == 1.0 and r0["mad"] == 0.0 and r0["fg"] == pytest.approx(t.astype(bool).mean())
    p = t.copy()
    p[0, :] = 255
    r1 = sc.add(p, t)
    assert r1["flicker"] == pytest.approx(255 / 255 * t.shape[1] / t.size * 1e3)
    s = M.summarize(sc.rows, ["iou", "flicker"])
    assert s["flicker"] == pytest.approx(r1["flicker"])  # NaN of frame 0 skipped
    assert s["iou"] == pytest.approx((1.0 + r1["iou"]) / 2)


def test_sequence_scorer_without_truth_uses_the_frames():
    sc = M.SequenceScorer(temporal=True)
    frame = np.full((30, 40, 3), 90, np.uint8)
    a0 = np.zeros((30, 40), np.uint8)
    a1 = a0.copy()
    a1[:3] = 255
    sc.add(a0, frame=frame)
    r = sc.add(a1, frame=frame)
    assert r["static"] == 1.0
    assert r["flicker"] == pytest.approx(0.1 * 1e3)
    assert "iou" not in r
    with pytest.raises(ValueError):
        sc.add(a1)


def test_images_scorer_has_no_temporal_metrics():
    sc = M.SequenceScorer(temporal=False)
    r = sc.add(disk(), disk())
    assert "flicker" not in r and "dtssd" not in r


# ---- properties ---------------------------------------------------------------------------
mattes = st.tuples(st.integers(0, 2 ** 31 - 1), st.integers(4, 40), st.integers(4, 40))


@settings(max_examples=40, deadline=None)
@given(mattes)
def test_metric_properties(args):
    seed, h, w = args
    rng = np.random.default_rng(seed)
    p = rng.choice([0.0, 1.0, 0.3, 0.7], size=(h, w)).astype(np.float32)
    t = rng.choice([0.0, 1.0, 0.5], size=(h, w)).astype(np.float32)
    for name, fn in M.FRAME_METRICS.items():
        same = fn(t, t)
        assert same == (1.0 if name == "iou" else 0.0), name
        v = fn(p, t)
        assert v >= 0 and math.isfinite(v), name
    assert M.mad(p, t) ** 2 <= M.mse(p, t) * 1e3 + 1e-6  # mean|d|² ≤ mean d²
    assert M.sad(p, t) == pytest.approx(M.mad(p, t) * h * w / 1e6, rel=1e-5)
    assert 0.0 <= M.iou(p, t) <= 1.0
    assert M.conn(p, t) <= h * w / 1e3 + 1e-9  # |φ − φ'| ≤ 1 per pixel


# ---- composite colour in the boundary band (hand-made) --------------------------------------
def test_boundary_band_covers_soft_pixels_and_the_edge():
    true = np.zeros((20, 20))
    true[:, 10:] = 1.0
    true[5, 9] = 0.5
    band = M.boundary_band(true, radius=2)
    assert band[5, 9] and band[0, 8] and band[0, 11]  # soft pixel, both sides of the edge
    assert not band[0, 3] and not band[0, 16]  # far from the edge


def test_boundary_colour_error_hand_made():
    true = np.zeros((10, 10))
    true[:, 5:] = 1.0
    true[:, 4] = 0.5  # a soft column
    fgr = np.full((10, 10, 3), 200, np.uint8)
    new_bg = np.zeros((10, 10, 3), np.uint8)
    perfect = (true[..., None] * fgr + (1 - true[..., None]) * new_bg).round().astype(np.uint8)
    assert M.boundary_colour_error(perfect, true, fgr, new_bg) == 0.0
    halo = perfect.copy()
    halo[:, 4] = 0.5 * 255 + 0.5 * 0  # the old white background's colour in the soft column
    band = M.boundary_band(true)
    want = np.abs(halo[band].astype(float) - perfect[band]).mean()
    assert M.boundary_colour_error(halo, true, fgr, new_bg) == pytest.approx(want)
    assert want > 0
