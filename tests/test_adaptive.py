"""Adaptive rate: the model is skipped while the outline is still, runs at once when it
moves, and at least every max_skip + 1 frames; the setting in Settings and the CLI."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matting.adaptive import POLICIES, SETTLED, AdaptiveRate, settle_frames
from matting.cli import build_parser, settings_from_args
from matting.errors import SettingsError
from matting.pipeline import Pipeline
from matting.settings import Settings
from test_pipeline import _canvas as canvas


def _canvas(person, x0):
    return canvas(person, x0, 640, 360)


@pytest.fixture(scope="module")
def person(astronaut_bgr):
    return cv2.resize(astronaut_bgr, (240, 240), interpolation=cv2.INTER_AREA)


def _disc_matte(h=100, w=120, r=30):
    a = np.zeros((h, w), np.float32)
    cv2.circle(a, (60, 50), r, 1.0, -1)
    return cv2.GaussianBlur(a, (0, 0), 1.5)


def test_rule_watches_the_outline_not_the_inside_or_far_background():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (100, 120), np.uint8)
    rate = AdaptiveRate("balanced")
    rate.ran(gray, _disc_matte(), (0, 0, 120, 100))
    assert rate.may_skip(gray)  # nothing changed
    inside = gray.copy()
    inside[40:60, 50:70] = 255 - inside[40:60, 50:70]  # a mouth moving, well inside the disc
    assert rate.may_skip(inside)
    far = gray.copy()
    far[:10, :10] = 255 - far[:10, :10]  # far out in the background
    assert rate.may_skip(far)
    edge = gray.copy()
    edge[45:55, 85:95] = 255 - edge[45:55, 85:95]  # at the outline (x = 90)
    assert not rate.may_skip(edge)


def test_reference_is_the_run_frames_own_blur_with_or_without_a_look_before():
    """ran() reuses may_skip's blur of the same frame and box, and only that: after a look
    at another frame, or at another box, it blurs its own."""
    from matting.adaptive import _smooth

    rng = np.random.default_rng(1)
    g0, g1, g2 = (rng.integers(0, 255, (100, 120), np.uint8) for _ in range(3))
    rate = AdaptiveRate("balanced")
    rate.ran(g0, _disc_matte(), (0, 0, 120, 100))
    assert not rate.may_skip(g1)  # a new picture: the model runs on it
    rate.ran(g1, _disc_matte(), (0, 0, 120, 100))  # same frame, same box: the look's blur
    np.testing.assert_array_equal(rate._ref, _smooth(g1))
    assert not rate.may_skip(g2)
    rate.ran(g1, _disc_matte(), (0, 0, 120, 100))  # another frame than the look's
    np.testing.assert_array_equal(rate._ref, _smooth(g1))
    assert not rate.may_skip(g2)
    rate.ran(g2, _disc_matte(100, 110), (0, 0, 110, 100))  # another box
    np.testing.assert_array_equal(rate._ref, _smooth(g2[:, :110]))


def _rule_twin(policy, ref_gray, alpha, gray):
    """The rule in plain numpy and OpenCV, the zone made at once: True if ``gray`` may
    carry the matte of a run on ``ref_gray``."""
    from matting.adaptive import _disc, _smooth

    p = policy
    near = cv2.dilate((alpha > p.outside).astype(np.uint8), _disc(p.grow), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0)
    core = cv2.erode((alpha >= p.inside).astype(np.uint8), _disc(p.erode), borderType=cv2.BORDER_CONSTANT,
                     borderValue=0)
    watch = (near > 0) & (core == 0)
    if not watch.any():
        watch[...] = True
    changed = np.count_nonzero((cv2.absdiff(_smooth(gray), _smooth(ref_gray)) > p.level) & watch)
    return changed <= p.share * max(1, np.count_nonzero(watch))


@pytest.mark.parametrize("mode", ["balanced", "saver"])
def test_looks_without_the_zone_answer_as_the_zone_does(mode, monkeypatch):
    """may_skip decides most looks from the soft edge and the whole box, without the
    watched zone: on random frames, with changes from none to many at the edge, inside,
    outside, or everywhere, each answer is the rule's, and all three ways are taken."""
    import matting.adaptive as adaptive

    made = []
    zone_of = adaptive.AdaptiveRate._zone_of
    monkeypatch.setattr(adaptive.AdaptiveRate, "_zone_of", lambda self: (made.append(1), zone_of(self))[1])
    rng = np.random.default_rng(7)
    policy = POLICIES[mode]
    answers = []
    for trial in range(300):
        h, w = rng.integers(20, 90, 2)
        r = int(rng.integers(0, min(h, w) // 2 + 4))  # 0: nobody
        alpha = _disc_matte(h, w, r) if r else np.zeros((h, w), np.float32)
        if r and trial % 3 == 0:
            alpha = cv2.resize(alpha, (w, h))  # fractions at other places
        gray = rng.integers(0, 255, (h, w), np.uint8)
        rate = AdaptiveRate(mode)
        rate.ran(gray, alpha, (0, 0, w, h))
        new = gray.copy()
        where = trial % 4
        n = int(rng.choice([0, 1, 3, 10, 30, 100, 1000]))
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        if where == 1:  # at the edge only
            edge = np.argwhere((alpha > 0.02) & (alpha < 0.98))
            if len(edge):
                ys, xs = edge[rng.integers(0, len(edge), n)].T
        elif where == 2:  # inside only
            inner = np.argwhere(alpha >= 0.98)
            if len(inner):
                ys, xs = inner[rng.integers(0, len(inner), n)].T
        new[ys, xs] = 255 - new[ys, xs]
        if where == 3 and n == 1000:
            new = np.clip(new.astype(int) + int(rng.integers(-30, 30)), 0, 255).astype(np.uint8)  # light changed
        before = len(made)
        got = rate.may_skip(new)
        assert got == _rule_twin(policy, gray, alpha, new), (trial, h, w, r, where, n)
        answers.append((got, len(made) > before))
        if got:  # a second look reuses (or makes) the zone and still answers as the rule
            assert rate.may_skip(new) == _rule_twin(policy, gray, alpha, new)
    ways = {k: answers.count(k) for k in set(answers)}
    assert ways.get((True, False), 0) >= 10 and ways.get((False, False), 0) >= 10, ways  # no zone, both ways
    assert ways.get((True, True), 0) + ways.get((False, True), 0) >= 10, ways  # with the zone


def test_rule_bounds_the_skip_and_off_never_skips():
    gray = np.full((50, 50), 100, np.uint8)
    rate = AdaptiveRate("balanced")
    rate.ran(gray, _disc_matte(50, 50, 15), (0, 0, 50, 50))
    n = POLICIES["balanced"].max_skip
    assert [rate.may_skip(gray) for _ in range(n + 1)] == [True] * n + [False]
    off = AdaptiveRate("off")
    off.ran(gray, _disc_matte(50, 50, 15), (0, 0, 50, 50))
    assert not off.may_skip(gray)
    with pytest.raises(ValueError):
        AdaptiveRate("fast")


def test_nothing_skipped_while_the_start_settles():
    assert settle_frames(0.9) == 22 and settle_frames(0.5) == 4 and settle_frames(0.0) == 0
    assert 0.9 ** settle_frames(0.9) <= SETTLED < 0.9 ** (settle_frames(0.9) - 1)
    gray = np.full((50, 50), 100, np.uint8)
    rate = AdaptiveRate("balanced", settle=3)
    skips = []
    for _ in range(5):
        if not (skips and skips[-1]):
            rate.ran(gray, _disc_matte(50, 50, 15), (0, 0, 50, 50))
        skips.append(rate.may_skip(gray))
    assert skips == [False, False, True, True, True]  # runs 1 and 2 settle, then skips
    rate.restart()  # someone found afresh
    rate.ran(gray, _disc_matte(50, 50, 15), (0, 0, 50, 50))
    assert not rate.may_skip(gray)


def test_still_person_skips_and_motion_runs_at_once(person):
    still = _canvas(person, 200)
    p = Pipeline(adaptive_rate="balanced")
    settle = p.adaptive.settle
    assert settle == settle_frames(p.settings.temporal_strength) > 0
    for _ in range(settle):  # the start settles: the model on every frame
        _, first = p.process(still)
    assert p.model_runs == settle
    alphas = [p.process(still)[1] for _ in range(11)]
    n = POLICIES["balanced"].max_skip
    # then n carried, one forced run, n carried
    assert p.model_runs == settle + 1
    assert all(a is first for a in alphas[:n])  # carried, not recomputed
    assert all(a is alphas[n] for a in alphas[n + 1:])
    assert p.timings["inference"] == 0.0  # the last frame carried the matte
    runs = p.model_runs
    for i, x in enumerate((230, 260, 290)):  # moving: the model runs on every frame
        _, alpha = p.process(_canvas(person, x))
        assert p.model_runs == runs + i + 1
    cols = np.nonzero((alpha >= 128).any(axis=0))[0]
    assert cols.min() >= 290 - 5  # the matte followed the person
    off = Pipeline(adaptive_rate="off")
    for _ in range(1 + 2 * n):
        off.process(still)
    assert off.model_runs == 1 + 2 * n


def test_carried_frame_composites_the_current_pixels(person):
    still = _canvas(person, 200)
    p = Pipeline(adaptive_rate="saver", background="#00ff00")
    for _ in range(p.adaptive.settle):
        p.process(still)
    runs = p.model_runs
    inside = still.copy()
    inside[300:310, 300:310] = (0, 0, 255)  # a small change inside the body
    comp, alpha = p.process(inside)
    assert p.model_runs == runs  # carried
    assert alpha[305, 305] == 255 and tuple(comp[305, 305]) == (0, 0, 255)
    assert tuple(comp[5, 5]) == (0, 255, 0)
    with pytest.raises(ValueError):
        alpha[0, 0] = 1  # shared with later frames: read-only


def test_setting_validated_and_on_the_command_line():
    assert Settings().adaptive_rate == "balanced"
    with pytest.raises(SettingsError, match="adaptive_rate"):
        Settings(adaptive_rate="fast")
    args = build_parser().parse_args(["run", "x.mp4", "--adaptive-rate", "saver"])
    assert settings_from_args(args).adaptive_rate == "saver"
    p = Pipeline(adaptive_rate="off")
    p.configure(adaptive_rate="saver")
    assert p.adaptive.mode == "saver" and p.adaptive.policy is POLICIES["saver"]


def test_someone_found_after_an_empty_room_settles_again(person):
    empty = np.full((360, 640, 3), 90, np.uint8)
    p = Pipeline(adaptive_rate="balanced")
    for _ in range(p.adaptive.settle + 6):
        p.process(empty)
    runs = p.model_runs
    assert runs < p.adaptive.settle + 6  # an empty, still room skips once settled
    still = _canvas(person, 200)
    for _ in range(p.adaptive.settle):
        p.process(still)
    assert p.model_runs == runs + p.adaptive.settle  # found on the whole frame: settles first
    p.process(still)
    assert p.model_runs == runs + p.adaptive.settle  # then carries
