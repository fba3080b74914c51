"""The held-object / enclosed-gap sequences (matting.lab.held_object): the shapes on a
drawn person, the scores on known mattes, and a tiny generated sequence from the shared
data (skipped without it)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matting.lab import held_object as H
from matting.lab.datasets import default_root


def _person(h=180, w=320):
    """A drawn head and shoulders, float32 matte in [0, 1]."""
    a = np.zeros((h, w), np.uint8)
    cv2.ellipse(a, (w // 2, h // 2), (45, 60), 0, 0, 360, 255, -1)
    cv2.rectangle(a, (w // 2 - 90, h - 50), (w // 2 + 90, h), 255, -1)
    return a.astype(np.float32) / 255


@pytest.mark.parametrize("side", [-1, 1])
def test_held_object_touches_the_person_on_its_side(side):
    a = _person()
    ao, fo = H.held_object(a, (0.1, 0.2, 0.9), side)
    assert ao.shape == a.shape and fo.shape == a.shape + (3,)
    obj = ao >= 0.5
    assert obj.any() and (obj & (a >= 0.5)).any(), "the object overlaps the person's outline"
    assert (obj & (a < 0.5)).sum() > 0.4 * obj.sum(), "most of it sticks out"
    xs = np.nonzero(obj.any(axis=0))[0]
    centre = a.shape[1] / 2
    assert (xs.mean() - centre) * side > 0
    assert H.held_object(np.zeros_like(a), (1, 1, 1), side) is None


def test_gaps_lie_inside_the_person():
    a = _person()
    anchors = H.gap_anchors(a, np.random.default_rng(0))
    assert anchors, "the drawn person has room for holes"
    new, taken = H.punch_gaps(a, anchors)
    assert (taken > 0.5).any()
    np.testing.assert_allclose(new + taken, a, atol=1e-6)
    # every hole is enclosed: its pixels are inside the person's outline and surrounded by it
    holes = (taken > 0.1).view(np.uint8)
    n, lab = cv2.connectedComponents(holes)
    for i in range(1, n):
        ring = cv2.dilate((lab == i).view(np.uint8), np.ones((5, 5), np.uint8)) & ~(lab == i).view(np.uint8) & 1
        assert a[ring > 0].min() > 0.99
    # no room: no hole
    thin = np.zeros_like(a)
    thin[:, 100:103] = 1
    assert not (H.punch_gaps(thin, anchors)[1] > 0).any()


def test_scores_on_known_mattes():
    person = _person()
    ao, _ = H.held_object(person, (0.1, 0.2, 0.9), 1)
    truth = ao + (1 - ao) * person
    assert H.object_iou(truth, truth, ao, person, 3) == pytest.approx(1.0)
    assert H.object_iou(person, truth, ao, person, 3) == pytest.approx(0.0)
    new, taken = H.punch_gaps(person, H.gap_anchors(person, np.random.default_rng(1)))
    assert H.gap_mad(new, new, taken, 3) == pytest.approx(0.0)
    # the model's usual mistake: the hole filled in
    assert H.gap_mad(person, new, taken, 3) > 0.2
    assert H.gap_mad(person, new, np.zeros_like(taken), 3) is None


@pytest.mark.skipif(not (default_root() / "greenscreen").is_dir(), reason="needs the shared development data")
def test_generates_a_scoreable_sequence(tmp_path):
    folders = H.generate(tmp_path, limit=1, frames=2, size=(320, 180))
    assert len(folders) == 1
    f = folders[0]
    for sub in ("images", "alpha", "fgr", "object", "gaps"):
        assert len(list((f / sub).iterdir())) == 2, sub
    plate = cv2.imread(str(f / "plate.png"))
    assert plate.shape == (180, 320, 3)
    truth = cv2.imread(str(f / "alpha" / "00000.png"), cv2.IMREAD_GRAYSCALE)
    obj = cv2.imread(str(f / "object" / "00000.png"), cv2.IMREAD_GRAYSCALE)
    assert (obj > 128).any() and (truth[obj > 250] >= 250).all(), "the object is in the truth"
