"""Issue 32's blob rules: a limb joined to the body only through soft alpha stays with
it, and a small person alone in the frame is not dropped for being small."""

from __future__ import annotations

import numpy as np

from matting import postprocess as PP


def _person_with_leg(bridge: float) -> np.ndarray:
    prob = np.zeros((100, 100), np.float32)
    prob[10:60, 40:60] = 0.95  # the body
    prob[60:66, 45:50] = bridge  # a knee the model is unsure of
    prob[66:90, 44:51] = 0.8  # the lower leg: 168 px, below min_area
    return prob


def test_a_leg_joined_through_soft_alpha_stays_when_linking_is_on():
    """LINK_LEVEL below the threshold joins parts through soft alpha (off by default:
    measured, it joins room objects too)."""
    saved = PP.LINK_LEVEL
    try:
        PP.LINK_LEVEL = 0.25
        out = PP.filter_components(_person_with_leg(0.35), 0.5, 300, False)
        assert out[70:90, 45:50].min() > 0.7  # the lower leg stays
        assert out[60:66, 45:50].min() > 0.3  # and so does its soft bridge (within the edge)
        # Not joined at all (the bridge below the link level): a separate small blob goes.
        out = PP.filter_components(_person_with_leg(0.1), 0.5, 300, False)
        assert out[70:90, 45:50].max() == 0
        PP.LINK_LEVEL = 0.5  # the default: components at the threshold
        assert PP.filter_components(_person_with_leg(0.35), 0.5, 300, False)[70:90, 45:50].max() == 0
    finally:
        PP.LINK_LEVEL = saved


def test_small_person_alone_stands_below_min_area_when_on_haze_does_not():
    """SMALL_ALONE (off by default: measured) keeps a sure small blob below min_area."""
    prob = np.zeros((100, 100), np.float32)
    prob[40:60, 45:52] = 0.95  # a small whole person, 140 px, sure
    assert PP.filter_components(prob, 0.5, 300, False).max() == 0  # the default: min_area rules
    saved = PP.SMALL_ALONE
    try:
        PP.SMALL_ALONE = 1
        assert PP.filter_components(prob, 0.5, 300, False)[45, 48] > 0.9
        assert PP.filter_components(prob, 0.5, 300, True)[45, 48] > 0.9
        haze = np.zeros((100, 100), np.float32)
        haze[40:60, 45:52] = 0.6  # a blob the model half-believes, nothing sure
        assert PP.filter_components(haze, 0.5, 300, False).max() == 0
    finally:
        PP.SMALL_ALONE = saved


def test_furniture_beside_a_person_still_goes():
    prob = np.zeros((100, 100), np.float32)
    prob[10:90, 10:40] = 0.95  # the streamer
    prob[50:90, 60:90] = 0.6  # an armchair the model half-believes, apart
    out = PP.filter_components(prob, 0.5, 300, False)
    assert out[20, 20] > 0.9 and out[60:90, 62:88].max() == 0


def test_refinement_falls_back_to_the_model_where_the_room_is_striped():
    """Trust 0: the output is the model's own matte upsampled; trust 1: unchanged; and a
    striped room next to a flat one gets trust 0 there and 1 here."""
    import cv2

    from matting import pipeline as P
    from matting.refine import (apply_guided_color, background_texture, edge_trust, fall_back, flat_cells,
                                guided_coefficients_color)

    rng = np.random.default_rng(3)
    gh, gw, f = 24, 32, 4
    alpha = np.clip(cv2.GaussianBlur(rng.random((gh, gw)).astype(np.float32), (0, 0), 2) * 3 - 1, 0, 1)
    image = rng.integers(0, 256, (gh * f, gw * f, 3), dtype=np.uint8)
    small = cv2.resize(image, (gw, gh), interpolation=cv2.INTER_AREA)
    trust_levels = {}
    for t in (0.0, 1.0):
        a, b = (x.copy() for x in guided_coefficients_color(small, alpha, 2, 1e-3))
        band = P.trust_band(alpha, 0.28, 0.72)
        fall_back(a, b, band, alpha, np.full((gh, gw), t, np.float32), 0.28, 0.72)
        out = np.zeros((gh * f, gw * f), np.uint8)
        apply_guided_color(image, a, b, 1 / f, 1 / f, 0.28, 0.72, out, flat_cells(a, b, 0.28, 0.72, band, 38.25),
                           band, 38.25)
        trust_levels[t] = out
    model = cv2.resize(alpha * 255, (gw * f, gh * f), interpolation=cv2.INTER_LINEAR)
    assert np.abs(trust_levels[0.0].astype(np.float32) - model).max() <= 1.01
    assert np.abs(trust_levels[1.0].astype(np.float32) - model).max() > 20  # refinement does move it
    # The measure: a striped room on the left, a flat one on the right, person in the middle.
    h, w = 60, 120
    room = np.full((h, w, 3), 128, np.uint8)
    room[:, :50] = ((np.arange(50) // 4) % 2 * 255)[None, :, None]
    person = np.zeros((h, w), np.float32)
    person[:, 50:70] = 1
    trust = edge_trust(background_texture(room, person, (w, h), 2), 0.06, 0.25)
    assert trust[:, 45].max() == 0 and trust[:, 75].min() == 1
    assert (edge_trust(background_texture(room, person, (w, h), 2)) == 1).all()  # off by default
