"""The quality rules of issue 10: refinement's trust band, hysteresis, the keep-largest
prior, and the cross-validation harness (matting.lab.tune) on tiny generated data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matting import pipeline as P
from matting import roi as R
from matting.cli import main
from matting.errors import InputError
from matting.lab import tune as T
from matting.postprocess import filter_components
from matting.settings import Settings


def test_trust_band_keeps_refinement_near_the_model():
    from matting.refine import apply_guided_color, flat_cells

    grid = np.zeros((10, 10), np.float32)
    grid[:, 5:] = 0.95  # the model is sure: person on the right half
    band = P.trust_band(grid, 0.12, 0.88)
    trust = 255 * 0.3
    image = np.zeros((40, 40, 3), np.uint8)
    a = np.zeros((10, 10, 3), np.float32)
    b = np.zeros((10, 10), np.float32)  # the refinement cut everything away (busy wall)
    b[:, :1] = 1.0  # and added a blob where the model said background
    for flat in (np.zeros((0, 0), np.int16), flat_cells(a, b, 0.12, 0.88, band, trust)):
        refined = np.zeros((40, 40), np.uint8)
        apply_guided_color(image, a, b, 0.25, 0.25, 0.12, 0.88, refined, flat, band, trust)
        r_person = min(1.0, (0.95 - 0.12) / 0.76)
        assert refined[:, 24:].min() >= round(255 * (r_person - 0.3)) - 1  # not pulled below the model − trust
        assert refined[:, :2].max() <= round(255 * 0.3) + 1  # nor pushed far above it
    free = np.zeros((40, 40), np.uint8)
    half = np.full((10, 10), 0.5, np.float32)  # uncertain everywhere: refinement is free within ±trust
    b_half = np.full((10, 10), 0.5, np.float32)
    apply_guided_color(image, a, b_half, 0.25, 0.25, 0.12, 0.88, free, np.zeros((0, 0), np.int16),
                       P.trust_band(half, 0.12, 0.88), trust)
    assert (np.abs(free.astype(float) - 127.5) <= 1).all()  # the refinement kept


def test_cells_the_trust_band_forces_are_constant_whatever_the_guide():
    """Textured inside and outside (ā far from 0): the guided bounds alone leave every
    cell open, but where the band ± trust lies wholly above 255 or below 0 the cell is
    constant, and skipping its arithmetic changes no pixel."""
    from matting.refine import apply_guided_color, flat_cells

    rng = np.random.default_rng(3)
    grid = np.zeros((10, 10), np.float32)
    grid[:, 6:] = 1.0  # sure person on the right, sure background on the left
    grid[:, 4:6] = 0.5  # the model's soft edge
    band = P.trust_band(grid, 0.12, 0.88)
    trust = 255 * 0.15
    a = rng.uniform(-2, 2, (10, 10, 3)).astype(np.float32)
    b = rng.uniform(-1, 2, (10, 10)).astype(np.float32)
    assert (flat_cells(a, b, 0.12, 0.88, np.zeros((0, 0), np.float32), 0.0) >= 0).sum() == 0
    flat = flat_cells(a, b, 0.12, 0.88, band, trust)
    assert (flat[:, :3] == 0).all() and (flat[:, 6:9] == 255).all() and (flat[:, 3:6] == -1).all()
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    want, got = np.zeros((40, 40), np.uint8), np.zeros((40, 40), np.uint8)
    apply_guided_color(image, a, b, 0.25, 0.25, 0.12, 0.88, want, np.zeros((0, 0), np.int16), band, trust)
    apply_guided_color(image, a, b, 0.25, 0.25, 0.12, 0.88, got, flat, band, trust)
    np.testing.assert_array_equal(got, want)
    assert (want[:, :12] == 0).all() and (want[:, 26:] == 255).all()


def test_temporal_hysteresis_holds_wavering_pixels_only():
    from matting.postprocess import temporal_fuse

    def px(*v):
        return np.array([v], np.float32)

    prev = px(0.6, 0.6, 0.4, 0.4, 0.9, 0.1, 0.6)
    cur = px(0.45, 0.2, 0.55, 0.8, 0.7, 0.3, 0.0)
    out = temporal_fuse(cur, prev, np.ones_like(cur), 0.9, np.empty_like(cur), 0.5, 0.15)  # all moving
    # small crossings hold the old value; large ones, and changes that do not cross, go through
    np.testing.assert_allclose(out, px(0.6, 0.2, 0.4, 0.8, 0.7, 0.3, 0.0))
    # A still pixel the model is sure is background (someone left): the decaying value is
    # not held just above the threshold, it goes on down to 0.
    a = px(0.7)
    for _ in range(80):
        temporal_fuse(px(0.0), a, px(0.0), 0.9, a, 0.5, 0.25, 0.5 / 255)
    assert a[0, 0] == 0.0
    # A still pixel the model wavers on (0.45 / 0.55) stays on one side.
    a = px(0.6)
    sides = set()
    for i in range(40):
        temporal_fuse(px(0.45 if i % 2 else 0.55), a, px(0.0), 0.5, a, 0.5, 0.25)
        sides.add(bool(a[0, 0] >= 0.5))
    assert sides == {True}


def test_keep_largest_follows_the_previous_person():
    prob = np.zeros((60, 80), np.float32)
    prob[10:50, 5:20] = 0.9  # the main person (smaller)
    prob[5:55, 40:75] = 0.9  # a crowd behind, larger
    prior = np.zeros_like(prob)
    prior[12:48, 6:19] = 1.0  # last frame's matte: the main person
    assert filter_components(prob, 0.5, 10, True)[30, 60] > 0  # no prior: the largest
    kept = filter_components(prob, 0.5, 10, True, prior)
    assert kept[30, 10] > 0 and kept[30, 60] == 0
    assert filter_components(prob, 0.5, 10, True, np.zeros_like(prob))[30, 60] > 0  # no overlap: largest


def test_applied_sets_and_restores_constants():
    before = (P.EDGE_LOW, P.EDGE_HIGH, P.MOTION_LOW, P.MOTION_HIGH, P.HYSTERESIS, R.MAX_STRETCH)
    with T.applied({"edge_low": 0.05, "motion_low": 2.0, "hysteresis": 0.0, "max_stretch": 3.0,
                    "threshold": 0.4}, Settings()) as s:
        assert (P.EDGE_LOW, P.EDGE_HIGH, P.MOTION_LOW, P.MOTION_HIGH) == (0.05, 0.95, 2.0, 8.0)
        assert P.HYSTERESIS == 0.0 and R.MAX_STRETCH == 3.0 and s.threshold == 0.4
        assert R.fit_box((300, 0, 310, 480), 640, 480, 32, 1.0) == R.fit_box((300, 0, 310, 480), 640, 480, 32, 1.0, 3.0)
    assert (P.EDGE_LOW, P.EDGE_HIGH, P.MOTION_LOW, P.MOTION_HIGH, P.HYSTERESIS, R.MAX_STRETCH) == before


def test_summary_and_vote():
    items = [T.Item("a", "g", "sequence", base={"iou": 0.9, "mad": 10.0, "flicker": 1.0}),
             T.Item("b", "g", "images", base={"iou": 0.8, "mad": 20.0})]
    res = {"a": {"iou": 0.92, "mad": 5.0, "flicker": 0.5}, "b": {"iou": 0.79, "mad": 10.0}}
    s = T.summary(res, items)
    assert s["mad_ratio"] == pytest.approx(0.5) and s["worse"] == 1 and s["worse_items"] == ["b"]
    assert s["objective"] == pytest.approx(0.5 + 0.55 / 1.05 + 0.5)
    assert T._vote([0.3, 0.15, 0.15], 0.3) == 0.15 and T._vote([0.3, 0.15], 0.5) == 0.15
    assert T._vote([0.3, 0.15], 0.3) == 0.3


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory, astronaut_bgr):
    """Two 4-frame sequences and a 4-image set of the astronaut with an ellipse truth."""
    root = tmp_path_factory.mktemp("tune")
    h, w = 96, 128
    img = cv2.resize(astronaut_bgr, (w, h), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((h, w), np.uint8)
    cv2.ellipse(alpha, (w // 2, int(h * 0.6)), (w // 3, int(h * 0.45)), 0, 0, 360, 255, -1)
    for folder, n, dx in ((root / "clips" / "s1", 4, 2), (root / "clips" / "s2", 4, -2), (root / "imgs", 4, 5)):
        for sub in ("images", "alpha"):
            (folder / sub).mkdir(parents=True)
        for i in range(n):
            m = np.float32([[1, 0, dx * i], [0, 1, 0]])
            cv2.imwrite(str(folder / "images" / f"{i:03d}.png"), cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
            cv2.imwrite(str(folder / "alpha" / f"{i:03d}.png"), cv2.warpAffine(alpha, m, (w, h)))
    return root


def test_cross_validation_runs_and_reports(tiny_sets, capsys):
    items = T.load_items([tiny_sets], frames=3, images=4, folds=2)
    assert {it.name for it in items} == {"clips/s1", "clips/s2", "imgs#0", "imgs#1"}
    assert {it.fold for it in items} == {0, 1} and all(len(it.frames) <= 3 for it in items)
    runner = T.Runner(Settings())
    report = T.cross_validate(runner, items, ["hysteresis", "edge_trust"], 2, log=lambda m: None)
    assert len(report["folds"]) == 2 and set(report["picked"]) == {"hysteresis", "edge_trust"}
    for f in report["folds"]:
        assert f["held_out"]["items"] + f["fit"]["items"] == len(items)
        assert f["chosen"]["hysteresis"] in T.PARAMS["hysteresis"][2]
    assert runner.pipeline.segmenter.hits > 0  # reruns reuse the model's outputs
    assert P.HYSTERESIS == report["defaults"]["hysteresis"]  # constants restored
    T.print_report(report, items)
    assert "## Fit vs held-out" in capsys.readouterr().out


def test_tune_cli_errors(tiny_sets, capsys):
    assert main(["tune", str(tiny_sets), "--params", "bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["tune", str(tiny_sets), "--folds", "1"]) == 2
    with pytest.raises(InputError):
        T.load_items([tiny_sets / "nowhere"], 3, 3, 2)

