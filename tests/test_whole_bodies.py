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


def test_a_leg_joined_through_soft_alpha_stays():
    out = PP.filter_components(_person_with_leg(0.35), 0.5, 300, False)
    assert out[70:90, 45:50].min() > 0.7  # the lower leg stays
    assert out[60:66, 45:50].min() > 0.3  # and so does its soft bridge
    # Not joined at all (the bridge below the link level): a separate small blob goes.
    out = PP.filter_components(_person_with_leg(0.1), 0.5, 300, False)
    assert out[70:90, 45:50].max() == 0
    # The old rule (link at the threshold) dropped the leg joined at 0.35.
    saved = PP.LINK_LEVEL
    try:
        PP.LINK_LEVEL = 0.5
        assert PP.filter_components(_person_with_leg(0.35), 0.5, 300, False)[70:90, 45:50].max() == 0
    finally:
        PP.LINK_LEVEL = saved


def test_small_person_alone_stands_below_min_area_haze_does_not():
    prob = np.zeros((100, 100), np.float32)
    prob[40:60, 45:52] = 0.95  # a small whole person, 140 px, sure
    assert PP.filter_components(prob, 0.5, 300, False)[45, 48] > 0.9
    assert PP.filter_components(prob, 0.5, 300, True)[45, 48] > 0.9
    haze = np.zeros((100, 100), np.float32)
    haze[40:60, 45:52] = 0.6  # a blob the model half-believes, nothing sure
    assert PP.filter_components(haze, 0.5, 300, False).max() == 0
    soft = np.full((100, 100), 0.3, np.float32)  # soft haze only: nothing at the threshold
    assert PP.filter_components(soft, 0.5, 10, False).max() == 0


def test_furniture_beside_a_person_still_goes():
    prob = np.zeros((100, 100), np.float32)
    prob[10:90, 10:40] = 0.95  # the streamer
    prob[50:90, 60:90] = 0.6  # an armchair the model half-believes, apart
    out = PP.filter_components(prob, 0.5, 300, False)
    assert out[20, 20] > 0.9 and out[60:90, 62:88].max() == 0
