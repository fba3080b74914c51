"""Known background (matting.plate): the plate kernel against its numpy twin, the gain
fit, the room test, the on/off state machine, and the pipeline hook (the solve's kernels:
tests/test_plate_band.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from matting import plate as P
from matting.errors import InputError, SettingsError
from matting.settings import Settings


# ---- update_plate (numba) against a numpy twin ------------------------------------------
def update_plate_numpy(image, learn, fy, fx, gain, offset, phase, step, mean, var, weight):
    h, w = weight.shape
    lh, lw = learn.shape
    ys = np.arange(phase, h, step)
    ly = np.minimum(((ys + 0.5) * fy).astype(int), lh - 1)
    lx = np.minimum(((np.arange(w) + 0.5) * fx).astype(int), lw - 1)
    sel = learn[ly][:, lx] != 0
    obs = (image[ys, :, :3].astype(np.float32) - offset) / gain
    m, v, wt = mean[ys], var[ys], weight[ys]
    d2 = ((obs - m) ** 2).sum(axis=2) / 3.0
    agree = (wt < 1.0) | (d2 < P.MATCH_SIGMAS ** 2 * (v + P.NOISE_FLOOR ** 2))
    up = sel & agree
    r = 1.0 / (wt + 1.0)
    m_new = np.where(up[:, :, None], m + r[:, :, None] * (obs - m), m)
    v_new = np.where(up, v + r * (np.where(wt >= 1.0, d2, 0.0) - v), v)
    w_new = np.where(up, np.minimum(wt + 1.0, P.MAX_WEIGHT), np.where(sel, np.maximum(wt - P.MISMATCH_DECAY, 0), wt))
    mean[ys], var[ys], weight[ys] = m_new, v_new, w_new


@pytest.mark.parametrize("seed", range(6))
def test_update_plate_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(5, 40, 2)
    gh, gw = max(1, h // 2), max(1, w // 2)
    image = rng.integers(0, 256, (h, w, rng.choice([3, 4])), dtype=np.uint8)
    learn = (rng.random((gh, gw)) < 0.7).astype(np.uint8)
    mean = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    # Some pixels close to the image so both branches (agree / disagree) are taken.
    close = rng.random((h, w)) < 0.5
    mean[close] = image[close][:, :3] + rng.normal(0, 2, (close.sum(), 3))
    var = rng.uniform(0, 30, (h, w)).astype(np.float32)
    weight = rng.choice([0.0, 0.5, 3.0, 29.5, 30.0], (h, w)).astype(np.float32)
    gain = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    offset = rng.uniform(-5, 5, 3).astype(np.float32)
    step = int(rng.integers(1, 4))
    phase = int(rng.integers(0, step))
    args = (image, learn, gh / h, gw / w, gain, offset, phase, step)
    m1, v1, w1 = mean.copy(), var.copy(), weight.copy()
    m2, v2, w2 = mean.copy(), var.copy(), weight.copy()
    P.update_plate(*args, m1, v1, w1)
    update_plate_numpy(*args, m2, v2, w2)
    np.testing.assert_allclose(m1, m2, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(v1, v2, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(w1, w2)


@pytest.mark.parametrize("seed", range(8))
def test_near_person_is_the_whole_grid_distance_transform(seed):
    # The transform over the person's grown box equals OpenCV's over the whole grid.
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 90, 2))
    person = np.zeros((h, w), bool)
    if seed:  # seed 0: nobody
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        person[y:y + int(rng.integers(1, 40)), x:x + int(rng.integers(1, 40))] = True
        person &= rng.random((h, w)) < 0.8
    r = int(rng.integers(1, 25))
    whole = cv2.distanceTransform((~person).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= r + 0.5
    got = P.near_person(person, r)
    assert got.dtype == np.uint8 and got.shape == (h, w)
    np.testing.assert_array_equal(got, whole.view(np.uint8))  # nobody: OpenCV's distances are huge


@pytest.mark.parametrize("seed", range(6))
def test_edge_share_matches_numpy(seed):
    rng = np.random.default_rng(70 + seed)
    gh, gw = (int(v) for v in rng.integers(1, 40, 2))
    f = int(rng.integers(1, 4))
    alpha = rng.choice([0.0, 0.01, 0.02, 0.3, 0.98, 1.0], (gh, gw)).astype(np.float32)
    weight = rng.choice([0.0, P.FULL_WEIGHT / 2 - 1, P.FULL_WEIGHT / 2, P.FULL_WEIGHT], (gh * f, gw * f)).astype(np.float32)
    by, bx = np.nonzero((alpha > 0.02) & (alpha < 0.98))
    conf = weight[((by + 0.5) * f).astype(np.intp), ((bx + 0.5) * f).astype(np.intp)]
    want = float((conf >= P.FULL_WEIGHT / 2).mean()) if by.size else 0.0
    assert P.edge_share(alpha, weight, float(f), float(f)) == pytest.approx(want, abs=1e-12)


# ---- plate, gain, solve --------------------------------------------------------------------
def room(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 220, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def test_capture_median_ignores_a_passer_by():
    base = room()
    frames = [base.copy() for _ in range(5)]
    frames[2][20:60, 30:90] = 255  # someone crossing in one frame
    plate = P.Plate.from_frames(frames)
    assert np.abs(plate.mean - base).max() == 0
    assert plate.confidence().min() == 1.0


def fit_gain_numpy(observed, plate):
    """The twin of P.fit_gain (its former numpy implementation)."""
    gain, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
    keep = np.ones(len(observed), bool)
    for _ in range(2):
        for c in range(3):
            p, o = plate[keep, c].astype(np.float64), observed[keep, c].astype(np.float64)
            vp = p.var()
            g = float(((p - p.mean()) * (o - o.mean())).mean() / vp) if vp > 25.0 else 1.0
            g = min(max(g, 0.5), 2.0)
            gain[c], offset[c] = g, o.mean() - g * p.mean()
        resid = np.abs(observed - (plate * gain + offset)).mean(axis=1)
        keep = resid <= max(3.0 * float(np.median(resid)), P.NOISE_FLOOR * 2)
        if keep.sum() < 50:
            break
    return gain, offset, resid


@pytest.mark.parametrize("seed", range(8))
def test_fit_gain_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(100, 5000))
    ref = rng.uniform(0, 255, (n, 3)).astype(np.float32)
    if seed % 3 == 0:  # a flat plate: variance below the limit, gain stays 1
        ref = rng.uniform(100, 105, (n, 3)).astype(np.float32)
    obs = (ref * rng.uniform(0.6, 1.6, 3) + rng.uniform(-20, 20, 3) + rng.normal(0, 3, ref.shape)).astype(np.float32)
    bad = rng.random(n) < rng.uniform(0, 0.6)
    obs[bad] = rng.uniform(0, 255, (bad.sum(), 3))
    got, want = P.fit_gain(obs, ref), fit_gain_numpy(obs, ref)
    for g, x in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, x, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_local_foreground_matches_numpy(seed):
    # foreground_weights (numba) + box filters against the dense numpy formulation.
    rng = np.random.default_rng(40 + seed)
    h, w = (int(v) for v in rng.integers(1, 60, 2))
    small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = np.where(rng.random((h, w)) < 0.4, 1.0, rng.uniform(0, 1, (h, w))).astype(np.float32)
    radius = int(rng.integers(1, 17))
    fsum, fw = P.local_foreground(small, alpha, radius)
    wt = np.clip((alpha - 0.8) * 5.0, 0, 1).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    np.testing.assert_allclose(fw, cv2.blur(wt, k), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fsum, cv2.blur(small.astype(np.float32) * wt[:, :, None], k), rtol=1e-5, atol=1e-3)


def test_gather_colours_matches_numpy():
    rng = np.random.default_rng(9)
    frame = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    mean = rng.uniform(0, 255, (30, 40, 3)).astype(np.float32)
    ys, xs = rng.integers(0, 30, 500), rng.integers(0, 40, 500)
    obs, ref = P.gather_colours(frame, mean, ys, xs)
    np.testing.assert_array_equal(obs, frame[ys, xs, :3].astype(np.float32))
    np.testing.assert_array_equal(ref, mean[ys, xs])
    assert P.gather_colours(frame, mean, ys[:0], xs[:0])[0].shape == (0, 3)


def test_fit_gain_recovers_exposure_despite_outliers():
    rng = np.random.default_rng(1)
    ref = rng.uniform(20, 200, (2000, 3)).astype(np.float32)
    obs = ref * np.float32([1.1, 0.9, 1.05]) + np.float32([3, -2, 0]) + rng.normal(0, 1, ref.shape).astype(np.float32)
    obs[:200] = rng.uniform(0, 255, (200, 3))  # a person's arm in the samples
    gain, offset, resid = P.fit_gain(obs, ref)
    np.testing.assert_allclose(gain, [1.1, 0.9, 1.05], atol=0.02)
    np.testing.assert_allclose(offset, [3, -2, 0], atol=2.5)
    assert np.median(resid[200:]) < 2


# ---- the stage's state machine -----------------------------------------------------------
def person_frame(base, x=60, shift=0):
    """The room (shifted by ``shift`` px: camera motion) with a flat 'person' disc."""
    img = np.roll(base, shift, axis=1).copy()
    yy, xx = np.mgrid[:base.shape[0], :base.shape[1]]
    disc = (yy - 70) ** 2 + (xx - x) ** 2 < 30 ** 2
    img[disc] = (40, 180, 60)
    grid = cv2.resize(disc.astype(np.float32), (base.shape[1] // 2, base.shape[0] // 2),
                      interpolation=cv2.INTER_AREA)
    return img, disc, grid


def run_stage(kb, base, frames=10, shift=0):
    for _ in range(frames):
        img, disc, grid = person_frame(base, shift=shift)
        small = cv2.resize(img, (grid.shape[1], grid.shape[0]), interpolation=cv2.INTER_AREA)
        alpha = np.ascontiguousarray((cv2.GaussianBlur(disc.astype(np.float32), (0, 0), 3) * 255).astype(np.uint8))
        before = alpha.copy()
        alpha, box, fg = kb.process(img, small, grid, alpha, (0, 0, img.shape[1], img.shape[0]), None)
    return before, alpha


def test_stage_active_with_plate_then_off_when_the_camera_moves():
    base = room()
    kb = P.KnownBackground()
    kb.set_plate(base)
    before, after = run_stage(kb, base)
    assert kb.status.startswith("known background: active")
    assert kb.activity == 1.0
    assert not np.array_equal(before, after)  # the soft model edge is sharpened by the plate
    _, disc, _ = person_frame(base)
    true = disc.astype(np.float32)
    assert np.abs(after / 255 - true).mean() < 0.5 * np.abs(before / 255 - true).mean()
    before, after = run_stage(kb, base, frames=12, shift=7)
    assert kb.activity == 0.0
    assert np.array_equal(before, after)  # switched off: the model's matte unchanged
    assert kb.status in ("known background: off (camera moved)", "known background: stale — capture again")


def test_stage_learns_and_never_touches_an_unknown_room():
    base = room()
    kb = P.KnownBackground(learn=True)
    before, after = run_stage(kb, base, frames=1)
    assert np.array_equal(before, after)  # nothing learnt yet: unchanged
    assert kb.status == "known background: learning"
    run_stage(kb, base, frames=2 * P.LEARN_ROW_STEP * int(P.FULL_WEIGHT))
    conf = kb.plate.confidence()
    assert conf[5, 5] == 1.0  # far from the person: learnt
    assert conf[70, 60] == 0.0  # behind the person: never seen


def test_stage_rejects_bad_plates():
    kb = P.KnownBackground()
    with pytest.raises(InputError):
        kb.set_plate(np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError):
        kb.capture([])
    with pytest.raises(SettingsError):
        Settings(background_plate=3)


# ---- pipeline hook ----------------------------------------------------------------------------
def test_pipeline_plate_round_trip_and_status(tmp_path, astronaut_bgr):
    from matting.demo import room as demo_room
    from matting.pipeline import Pipeline

    base = demo_room(320, 240)
    frame = base.copy()
    person = cv2.resize(astronaut_bgr, (160, 160), interpolation=cv2.INTER_AREA)
    # The person cut out of the photo (this project's own matte) over the room, so that
    # everything but the person is the room the plate shows (the photo's own wall is not).
    cut = Pipeline(background="transparent", adaptive_rate="off")
    for _ in range(4):
        _, a = cut.process(person)
    a = a[:, :, None].astype(np.float32) / 255
    frame[80:240, 80:240] = (a * person + (1 - a) * base[80:240, 80:240] + 0.5).astype(np.uint8)
    # Adaptive rate off: the same frame repeated would otherwise carry the matte (and the
    # plate's state) for up to 6 frames at a time; this test counts model runs.
    p = Pipeline(background="#00ff00", adaptive_rate="off")
    assert p.known_background_status == "known background: off"
    p.capture_background([base] * 3)
    for _ in range(8):
        p.process(frame)
    assert p.known_background_status.startswith("known background: active")
    path = tmp_path / "plate.png"
    p.known_bg.save(path)
    q = Pipeline(background="#00ff00", background_plate=str(path), adaptive_rate="off")
    for _ in range(8):
        _, a = q.process(frame)
    assert q.known_background_status.startswith("known background: active")
    p.set_background_plate(None)
    assert p.known_background_status == "known background: off"


# ---- room regions, registration, first frame ---------------------------------------------------
def test_room_regions_removes_the_room_the_model_took_but_keeps_a_flat_lookalike():
    rng = np.random.default_rng(3)
    h, w = 120, 160
    plate = np.full((h, w, 3), 120, np.float32)
    # A textured chair on the left; a flat wall on the right.
    plate[20:100, 10:70] = rng.uniform(40, 220, (80, 60, 3))
    plate = cv2.GaussianBlur(plate, (0, 0), 0.8)
    image = np.clip(plate + rng.normal(0, 1.0, plate.shape) + 0.5, 0, 255).astype(np.uint8)
    # The person: a disc in the middle, wearing a shirt of the wall's colour below it.
    yy, xx = np.mgrid[:h, :w]
    person = (yy - 60) ** 2 + (xx - 100) ** 2 < 25 ** 2
    image[person] = (30, 60, 200)
    shirt = (yy > 85) & (xx > 80) & (xx < 150)
    image[shirt] = 120  # exactly the flat wall: no colour can tell it from the room
    prior = (person | shirt).astype(np.float32)
    prior[30:90, 20:80] = 1.0  # the model took the chair too (touching nothing: still the room)
    var, slope = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    one, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    view = (prior * 255).astype(np.uint8)

    def regions(weight):
        d2, s2 = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
        match = np.empty((h, w), np.uint8)
        P.residuals(image, plate, var, slope, weight, one, zero, np.float32(2.5 ** 2), 6, view, 0, 0, d2, s2, match)
        index = np.full((h, w), -1, np.int32)
        room = P.room_regions(match, d2, s2, 2.5 ** 2, plate, var, one, zero, (0, 0, w, h), 3, 20, index)
        assert (index == -1).all()
        if room is None:
            return np.zeros((h, w), bool)
        ys, xs, flags = room
        mask = np.zeros((h, w), bool)
        mask[ys, xs] = flags > 0
        assert not (mask & (match == 0)).any()  # only pixels that match the plate are the room
        faded = view.copy()
        P.fade_regions(faded, ys, xs, flags, np.float32(0.3))  # the stage's fade, against numpy's
        np.testing.assert_array_equal(faded, np.where(mask, (view * np.float32(0.3) + np.float32(0.5)).astype(np.uint8),
                                                      view))
        return mask

    room = regions(np.full((h, w), P.FULL_WEIGHT, np.float32))
    chair = np.zeros((h, w), bool)
    chair[30:90, 20:70] = True
    assert room[chair].mean() > 0.95  # the textured room under the matte goes
    assert not room[person].any()  # the person stays
    assert not room[shirt].any()  # a flat lookalike has nothing to vouch for it: left to the model
    # Nothing is the room where the plate is not trusted.
    assert not regions(np.full((h, w), P.FULL_WEIGHT - 1, np.float32)).any()


def test_room_regions_takes_a_large_hole_over_a_flat_wall_that_fits_to_the_noise():
    """Issue 33: a hole through the person over a plain wall is the room when it is large
    and fits the plate to the noise; a region of the wall's colour that fits it only
    within the match's tolerance (a shirt a few grey levels off) stays."""
    rng = np.random.default_rng(4)
    h, w = 120, 160
    plate = np.full((h, w, 3), 120, np.float32)
    image = np.clip(plate + rng.normal(0, 1.5, plate.shape) + 0.5, 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    person = (yy - 60) ** 2 + (xx - 80) ** 2 < 50 ** 2
    image[person] = (30, 60, 200)
    hole = (yy - 45) ** 2 + (xx - 65) ** 2 < 12 ** 2  # the wall seen through the person
    image[hole] = np.clip(plate[hole] + rng.normal(0, 1.5, (hole.sum(), 3)) + 0.5, 0, 255).astype(np.uint8)
    shirt = (yy - 75) ** 2 + (xx - 95) ** 2 < 12 ** 2  # the wall's colour, 5 levels off
    image[shirt] = np.clip(plate[shirt] + np.float32([5, -5, 5]) + rng.normal(0, 1.5, (shirt.sum(), 3)) + 0.5,
                           0, 255).astype(np.uint8)
    view = (person * 255).astype(np.uint8)
    var, slope = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    one, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    weight = np.full((h, w), P.FULL_WEIGHT, np.float32)
    d2, s2 = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    match = np.empty((h, w), np.uint8)
    noise2 = np.float32(4.0 ** 2)
    P.residuals(image, plate, var, slope, weight, one, zero, noise2, 6, view, 0, 0, d2, s2, match)
    assert match[shirt].mean() > 0.9 and match[hole].mean() > 0.9  # both match within the tolerance
    index = np.full((h, w), -1, np.int32)
    assert P.room_regions(match, d2, s2, noise2, plate, var, one, zero, (0, 0, w, h), 3, 20, index) is None
    ys, xs, flags = P.room_regions(match, d2, s2, noise2, plate, var, one, zero, (0, 0, w, h), 3, 20, index, 300)
    room = np.zeros((h, w), bool)
    room[ys, xs] = flags > 0
    assert room[hole].mean() > 0.9
    assert not room[shirt].any() and not room[person & ~hole].any()
    # smaller than the minimum size: left to the model
    assert P.room_regions(match, d2, s2, noise2, plate, var, one, zero, (0, 0, w, h), 3, 20, index, 1000) is None
    # a clipped wall (255): anything as bright fits it, so it is left to the model
    white = np.full_like(plate, 255)
    image2 = image.copy()
    image2[~person | hole] = 255
    P.residuals(image2, white, var, slope, weight, one, zero, noise2, 6, view, 0, 0, d2, s2, match)
    assert match[hole].all()
    assert P.room_regions(match, d2, s2, noise2, white, var, one, zero, (0, 0, w, h), 3, 20, index, 300) is None


def textured_room(h=120, w=160, seed=5):
    """A flat wall with one textured poster (a tenth of the view): a pan changes too
    few pixels for the frame-to-frame and the overall disagreement checks."""
    rng = np.random.default_rng(seed)
    base = np.full((h, w, 3), 150, np.uint8)
    base[10:50, 100:150] = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    return base


def test_stage_full_on_first_frame_and_off_at_once_when_the_view_moves():
    base = textured_room()
    kb = P.KnownBackground()
    kb.set_plate(base)
    run_stage(kb, base, frames=1)
    assert kb.activity == 1.0  # a plate that fits the first frame: nothing to fade in from
    before, after = run_stage(kb, base, frames=1, shift=3)
    assert kb.activity == 0.0  # the view moved: off on this very frame, no fading
    assert np.array_equal(before, after)
    assert kb.state == "moved"


def test_stage_ignores_a_global_change_of_brightness():
    base = textured_room()
    kb = P.KnownBackground()
    kb.set_plate(base)
    for k in (1.0, 1.04, 0.97, 1.05, 0.96):
        run_stage(kb, np.clip(base * k, 0, 255).astype(np.uint8), frames=1)
        assert kb.activity == 1.0 and kb.state == "active"


def smooth_room(h=240, w=320, seed=3):
    """A room with texture at every scale a pan can be measured on (blurred noise)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 250, 0, 255).astype(np.uint8)


def shifted(img, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_shift_measures_the_rooms_pan_not_a_moving_person():
    base = smooth_room()
    h, w = base.shape[:2]
    kb = P.KnownBackground(learn=True)
    gh, gw = h // 2, w // 2

    def grid(img, x):
        g = cv2.cvtColor(cv2.resize(img, (gw, gh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        yy, xx = np.mgrid[:gh, :gw]
        disc = (yy - 60) ** 2 + (xx - x) ** 2 < 25 ** 2
        g[disc] = 90
        return g, P.near_person(disc, 3)

    for (dx, dy), move in (((0.0, 0.0), 6), ((1.5, 0.0), 0), ((-0.8, 1.2), 4), ((3.0, -2.0), 0)):
        a, near_a = grid(base, 70)
        b, near_b = grid(shifted(base, dx, dy), 70 + move)  # the person moves by `move` grid px
        sx, sy = kb._shift(a, near_a, b, near_b, h / gh, w / gw)
        if dx == dy == 0:
            assert math.hypot(sx, sy) < 0.2, (sx, sy)  # a still room, however the person moves
            continue
        # The measured shift comes out short of the true one here (1.5 px read as 0.5:
        # the filled person area and the sub-pixel peak both pull towards 0); the
        # direction and the order of magnitude are what the drift sum needs.
        true, got = math.hypot(dx, dy), math.hypot(sx, sy)
        assert (sx * dx + sy * dy) / (true * got) > 0.9 and 0.25 * true < got < 1.2 * true, ((dx, dy), (sx, sy))


def test_a_slow_pan_switches_a_learnt_plate_off_and_a_still_camera_does_not():
    base = smooth_room(seed=4)
    for pan, expect_moved in ((0.0, False), (0.8, True)):
        kb = P.KnownBackground(learn=True)
        states = []
        for i in range(40):  # under a pixel a frame: each frame looks like the one before
            view = shifted(base, pan * i, 0.3 * pan * i)
            img, disc, g = person_frame(view)
            small = cv2.resize(img, (g.shape[1], g.shape[0]), interpolation=cv2.INTER_AREA)
            alpha = np.ascontiguousarray((cv2.GaussianBlur(disc.astype(np.float32), (0, 0), 3) * 255).astype(np.uint8))
            kb.process(img, small, g, alpha, (0, 0, img.shape[1], img.shape[0]), None)
            states.append(kb.state)
        assert ("moved" in states) == expect_moved, states
        if expect_moved:
            assert kb.activity == 0.0 and kb.status == "known background: off (camera moved)"
        else:
            assert states[-1] == "active"
