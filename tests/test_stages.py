"""Behaviour of the stages the issue asks for: ROI smoother, component filter, temporal
fusion, backgrounds and settings."""

from __future__ import annotations

import numpy as np
import pytest

from matting.background import Background, fit_image
from matting.errors import BackgroundError, SettingsError
from matting.postprocess import filter_components, motion_mask, temporal_fuse
from matting.roi import RoiTracker, fit_box
from matting.settings import Settings


# ---- ROI smoothing ---------------------------------------------------------------------
def _track(boxes, alpha, beta):
    t = RoiTracker(alpha, beta, margin=0.0)
    return np.array([t.observe(b).copy() for b in boxes]), t


def test_roi_no_smoothing_when_alpha_and_beta_are_one():
    rng = np.random.default_rng(1)
    boxes = [tuple(rng.uniform(0, 500, 4)) for _ in range(20)]
    t = RoiTracker(1.0, 1.0, margin=0.0)
    for b in boxes:
        t.observe(b)
        np.testing.assert_allclose(t.level, b)  # the level is the observation itself


def test_roi_follows_moving_box_without_overshoot():
    # Moving right at 8 px/frame for 40 frames, then stopping for 40 frames.
    xs = [8.0 * min(i, 40) for i in range(80)]
    boxes = [(x, 100.0, x + 200.0, 500.0) for x in xs]
    fc, _ = _track(boxes, alpha=0.6, beta=0.3)
    # While moving, the forecast predicts the next position closely (no lag).
    moving_err = fc[10:39, 0] - np.array(xs[11:40])
    assert np.abs(moving_err).max() < 2.0
    # After the stop, it overshoots by less than a few frames of motion and settles.
    overshoot = fc[40:, 0] - xs[-1]
    assert overshoot.max() < 3 * 8.0
    assert np.abs(overshoot[-10:]).max() < 1.0
    # Noise on a still box is damped: the forecast jitters less than the observations.
    rng = np.random.default_rng(2)
    noisy = [(100 + n, 100.0, 300.0, 500.0) for n in rng.normal(0, 4, 200)]
    fc, _ = _track(noisy, alpha=0.6, beta=0.3)
    assert fc[20:, 0].std() < np.std([b[0] for b in noisy[20:]])


def test_fit_box_clamps_and_enforces_minimum_size():
    assert fit_box((-50, -50, 10, 10), 640, 480, 64, 1.0) == (0, 0, 64, 64)
    x0, y0, x1, y1 = fit_box((600, 400, 700, 520), 640, 480, 64, 1.0)
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
    x0, y0, x1, y1 = fit_box((300, 0, 310, 480), 640, 480, 32, 1.0)  # very thin
    assert (x1 - x0) * 2 >= (y1 - y0)  # widened to at most 2:1 stretch


# ---- connected components --------------------------------------------------------------
def _person(prob, y0, y1, x0, x1, value=0.95):
    prob[y0:y1, x0:x1] = value


def test_cc_removes_specks_keeps_holes_and_two_people():
    prob = np.zeros((128, 128), np.float32)
    _person(prob, 20, 120, 10, 50)  # person 1 (4000 px)
    prob[60:70, 25:35] = 0.0  # a hole (arm on the hip)
    _person(prob, 30, 120, 80, 115)  # person 2 (3150 px)
    _person(prob, 5, 8, 70, 73)  # speck (9 px)
    prob[100:103, 60:63] = 0.3  # faint haze far from everyone
    out = filter_components(prob, 0.5, min_area=100, keep_largest=False)
    assert out[5:8, 70:73].max() == 0  # speck gone
    assert out[100:103, 60:63].max() == 0  # haze gone
    assert out[62:68, 27:33].max() == 0  # hole stays a hole
    assert out[50, 30] == pytest.approx(0.95) and out[50, 100] == pytest.approx(0.95)  # both people
    largest = filter_components(prob, 0.5, min_area=100, keep_largest=True)
    assert largest[50, 30] > 0.9 and largest[50, 100] == 0


def test_cc_drops_a_blob_the_model_is_not_sure_of():
    """Every person is kept, but furniture the model half-believes (no sure core) is not:
    a blob other than the largest needs CORE_SHARE of its pixels at CORE_LEVEL or more."""
    from matting import postprocess

    prob = np.zeros((128, 128), np.float32)
    _person(prob, 20, 120, 10, 50, 0.97)  # the streamer: sure
    _person(prob, 60, 120, 70, 110, 0.7)  # an armchair beside them: unsure everywhere
    out = filter_components(prob, 0.5, min_area=100, keep_largest=False)
    assert out[50, 30] > 0.9 and out[90, 90] == 0
    prob[88:98, 83:98] = 0.97  # the second blob with a sure core (6 % of it): a person
    out = filter_components(prob, 0.5, min_area=100, keep_largest=False)
    assert out[90, 90] == pytest.approx(0.97) and out[70, 75] == pytest.approx(0.7)
    _person(prob, 20, 120, 10, 50, 0.7)  # the largest is kept even when unsure
    prob[88:98, 83:98] = 0.7
    out = filter_components(prob, 0.5, min_area=100, keep_largest=False)
    assert out[50, 30] == pytest.approx(0.7) and out[90, 90] == 0
    old = postprocess.CORE_SHARE
    try:
        postprocess.CORE_SHARE = 0.0  # the rule off: every blob above min_area stays
        assert filter_components(prob, 0.5, min_area=100, keep_largest=False)[90, 90] == pytest.approx(0.7)
    finally:
        postprocess.CORE_SHARE = old


def test_cc_keeps_soft_edge_of_kept_component():
    prob = np.zeros((64, 64), np.float32)
    _person(prob, 10, 50, 10, 50)
    prob[10:50, 50] = 0.3  # soft edge next to the person
    out = filter_components(prob, 0.5, 10, False)
    assert out[20, 50] == pytest.approx(0.3)


# ---- temporal fusion -------------------------------------------------------------------
def test_temporal_fusion_damps_static_noise_and_follows_motion():
    rng = np.random.default_rng(3)
    shape = (64, 64)
    gray = rng.integers(0, 255, shape, dtype=np.uint8)
    state = np.full(shape, 0.5, np.float32)
    outs = []
    for _ in range(60):  # still picture, noisy model output
        cur = np.clip(0.5 + rng.normal(0, 0.1, shape), 0, 1).astype(np.float32)
        motion = motion_mask(gray, gray, 4.0, 16.0)
        temporal_fuse(cur, state, motion, 0.6, state)
        outs.append(state.copy())
    assert np.std(outs[10:], axis=0).mean() < 0.5 * 0.1  # flicker at least halved
    # A step change where the picture moves is followed at once (≤ 2 frames).
    moved = (255 - gray).astype(np.uint8)
    cur = np.ones(shape, np.float32)
    for frame in range(2):
        motion = motion_mask(moved if frame == 0 else moved, gray if frame == 0 else moved, 4.0, 16.0)
        temporal_fuse(cur, state, motion, 0.6, state)
        if frame == 0:
            changed = np.abs(moved.astype(int) - gray) > 16
            assert np.all(state[changed] == 1.0)
    assert np.mean(state) > 0.9


def test_temporal_strength_zero_is_off():
    cur = np.random.default_rng(4).random((8, 8)).astype(np.float32)
    prev = np.zeros((8, 8), np.float32)
    np.testing.assert_array_equal(temporal_fuse(cur, prev, np.zeros_like(cur), 0.0, np.empty_like(cur)), cur)


# ---- settings and backgrounds ----------------------------------------------------------
@pytest.mark.parametrize("name,value", [
    ("temporal_strength", 2.0), ("smooth_alpha", 0.0), ("device", "tpu"), ("roi", "yes"),
    ("threads", -1), ("min_area", -0.1), ("background", "#12345"), ("background_fit", "tile"),
])
def test_bad_setting_names_the_setting(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings(**{name: value})


def test_settings_replace_rejects_unknown_names():
    with pytest.raises(SettingsError, match="colour"):
        Settings().replace(colour="#000000")
    assert Settings().replace(threshold=0.4).threshold == 0.4


def test_background_colour_and_transparent():
    bg = Background("#102030")
    px = bg.frame(4, 6, 4, "BGR")
    assert px.shape == (4, 6, 4) and tuple(px[0, 0]) == (0x30, 0x20, 0x10, 255)
    assert bg.frame(4, 6, 4, "BGR") is px  # prepared once, not per frame
    assert tuple(bg.frame(4, 6, 3, "RGB")[2, 3]) == (0x10, 0x20, 0x30)
    assert Background("transparent").frame(4, 6, 4) is None


def test_background_errors(tmp_path):
    with pytest.raises(BackgroundError, match="not found"):
        Background(str(tmp_path / "missing.png"))
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(BackgroundError, match="decode"):
        Background(str(bad))


@pytest.mark.parametrize("fit", ["cover", "contain", "stretch"])
def test_fit_image_sizes(fit):
    img = np.full((100, 300, 3), 200, np.uint8)
    out = fit_image(img, 160, 90, fit)
    assert out.shape == (90, 160, 3)
    if fit == "contain":  # letterboxed: black bars top and bottom
        assert out[0].max() == 0 and out[45].min() == 200
    else:
        assert out.min() == 200


# ---- edge refinement and halo removal ------------------------------------------------------
def test_guided_refinement_moves_a_blurry_edge_onto_the_image_edge():
    import cv2

    from matting.refine import apply_guided_color, guided_coefficients_color

    h = w = 64
    image = np.zeros((2 * h, 2 * w, 3), np.uint8)
    image[:, 2 * 36:] = (40, 180, 220)  # the picture's edge at full-res x = 72
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    blurry = np.zeros((h, w), np.float32)
    blurry[:, 35:] = 1
    blurry = cv2.GaussianBlur(blurry, (0, 0), 2)  # the model's soft edge, a pixel off
    a, b = guided_coefficients_color(small, blurry, 4, 1e-4)
    out = np.zeros((2 * h, 2 * w), np.uint8)
    apply_guided_color(image, a, b, 0.5, 0.5, 0.0, 1.0, out, np.zeros((0, 0), np.int16), np.zeros((0, 0), np.float32), 0.0)
    row = out[h]
    plain = cv2.resize(blurry, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)[h] * 255
    # Plain upsampling rises gently; the refined matte jumps where the picture's edge is.
    assert np.diff(plain).max() < 30
    assert int(row[72]) - int(row[71]) > 100 and np.argmax(np.diff(row.astype(int))) == 71


def test_foreground_means_recover_foreground_and_background_colours():
    from matting.refine import foreground_means

    fg, bg = np.array([200, 50, 30], np.float32), np.array([20, 160, 90], np.float32)
    alpha = np.zeros((40, 40), np.float32)
    alpha[:, 20:] = 1
    alpha[:, 18:22] = (0.2, 0.4, 0.6, 0.8)  # a soft band
    img = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.uint8)
    fm, bm = foreground_means(img, alpha, 3)
    band = slice(18, 22)
    np.testing.assert_allclose(fm[20, band], np.tile(fg, (4, 1)), atol=25)
    np.testing.assert_allclose(bm[20, band], np.tile(bg, (4, 1)), atol=25)


def test_blur_and_video_backgrounds(tmp_path):
    import cv2

    frame = np.zeros((64, 96, 3), np.uint8)
    frame[:, ::2] = 255  # fine stripes: a strong blur makes them grey
    bg = Background("blur", blur_strength=1.0)
    out = bg.frame(64, 96, 4, "BGR", frame)
    assert out.shape == (64, 96, 4) and (out[..., 3] == 255).all()
    assert np.abs(out[8:-8, 8:-8, :3].astype(int) - 127).max() < 30
    video = tmp_path / "bg.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (48, 32))
    for v in (0, 120, 240):
        w.write(np.full((32, 48, 3), v, np.uint8))
    w.release()
    vb = Background(str(video), fit="stretch")
    levels = [int(vb.frame(64, 96, 3, "BGR")[30, 40, 0]) for _ in range(5)]
    assert levels[0] < 30 and 100 < levels[1] < 140 and levels[2] > 210 and levels[3] < 30  # loops
    vb.close()
    with pytest.raises(BackgroundError, match="video"):
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"nope")
        Background(str(bad))


def test_pipeline_light_wrap_and_blur(astronaut_bgr):
    from matting.pipeline import Pipeline

    p = Pipeline(background="#0000ff", light_wrap=0.0)
    plain, alpha = p.process(astronaut_bgr)
    p.configure(light_wrap=1.0)
    p.reset()
    wrapped, _ = p.process(astronaut_bgr)
    diff = np.abs(wrapped.astype(int) - plain).sum(axis=2)
    edge = (alpha > 0) & (alpha == 255)
    assert diff[edge].max() > 20  # the edge picked up some of the blue
    assert diff[alpha == 0].max() == 0  # the background itself is untouched
    p.configure(background="blur", light_wrap=0.0)
    comp, alpha = p.process(astronaut_bgr)
    assert comp.shape == astronaut_bgr.shape


# ---- fast area shrinking ---------------------------------------------------------------
@pytest.mark.parametrize("src, dst", [((640, 480), (320, 240)), ((960, 540), (256, 256)), ((701, 333), (256, 144)),
                                      ((1920, 1080), (256, 256)), ((300, 280), (256, 256)), ((90, 50), (256, 256))])
def test_shrink_is_an_area_average(src, dst, astronaut_bgr):
    import cv2

    from matting.resize import shrink

    smooth = cv2.GaussianBlur(cv2.resize(astronaut_bgr, src, interpolation=cv2.INTER_AREA), (0, 0), 2)
    got = shrink(smooth, dst)
    assert got.shape == (dst[1], dst[0], 3) and got.dtype == np.uint8
    if src[0] < dst[0]:  # enlarging is bilinear
        np.testing.assert_array_equal(got, cv2.resize(smooth, dst, interpolation=cv2.INTER_LINEAR))
        return
    d = np.abs(got.astype(int) - cv2.resize(smooth, dst, interpolation=cv2.INTER_AREA))
    if src[0] == 2 * dst[0] and src[1] == 2 * dst[1]:
        assert d.max() == 0  # an exact halving is INTER_AREA itself
    assert d.mean() < 1.0  # the same filter, placed the same (odd sides included)
    if src[0] >= 2 * dst[0] and src[1] >= 2 * dst[1]:
        # Every source pixel counts (no aliasing): one-pixel stripes average to grey,
        # where plain bilinear sampling at these factors would pick out stripes.
        stripes = np.zeros(src[::-1], np.uint8)
        stripes[:, ::2] = 255
        assert np.abs(shrink(stripes, dst).astype(int) - 127.5).max() <= 10
        if src[0] != 2 * dst[0]:
            assert np.abs(cv2.resize(stripes, dst, interpolation=cv2.INTER_LINEAR).astype(int) - 127.5).max() > 60
    grey = np.full(src[::-1], 77, np.float32)
    np.testing.assert_allclose(shrink(grey, dst), 77, atol=1e-4)  # float, one channel; flat stays flat


@pytest.mark.parametrize("size, want", [((720, 1280), (360, 640, 2)), ((1080, 1920), (360, 640, 3)),
                                        ((2160, 3840), (360, 640, 6)), ((480, 854), (480, 854, 1)),
                                        ((540, 959), (540, 959, 1)), ((540, 960), (270, 480, 2)),
                                        ((1280, 720), (640, 360, 2)), ((1, 1), (1, 1, 1))])
def test_grid_long_side_is_the_nearest_to_640(size, want):
    from matting.pipeline import grid_size

    assert grid_size(*size) == want
