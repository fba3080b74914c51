"""The people generator (matting.lab.people) on tiny synthetic inputs, and tune's folding
by person."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from matting.errors import InputError
from matting.lab import people as PE
from matting.lab import tune as T
from matting.lab.datasets import discover


@pytest.fixture()
def tiny_data(tmp_path):
    """portraits_vikram (3 heads cut at the bottom), voc_person (one whole person),
    davis/walk (4 frames of a moving figure) and two background photos."""
    data = tmp_path / "data"
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:60, :40]

    def write(folder, name, img, mask):
        for sub in ("images", "alpha"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "images" / f"{name}.png"), img)
        cv2.imwrite(str(folder / "alpha" / f"{name}.png"), mask)

    for i in range(3):
        mask = (((xx - 20) ** 2 / 144 + (yy - 25) ** 2 / 196 <= 1) | ((yy > 40) & (abs(xx - 20) < 15))).astype(np.uint8) * 255
        img = rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)
        img[mask > 0] = (30 + 40 * i, 60, 90)
        write(data / "portraits_vikram", f"{i:03d}", img, mask)
    body = ((abs(xx - 20) < 5) & (yy > 5) & (yy < 55)).astype(np.uint8) * 255
    write(data / "voc_person", "000", np.full((60, 40, 3), 120, np.uint8), body)
    for k in range(4):
        m = np.zeros((48, 64), np.uint8)
        cv2.rectangle(m, (10 + 3 * k, 8), (18 + 3 * k, 40), 255, -1)
        write(data / "davis" / "walk", f"{k:05d}", np.full((48, 64, 3), 200, np.uint8), m)
    for k in range(3):  # the green-screen person: a true soft matte and its foreground colour
        m = np.zeros((48, 64), np.uint8)
        m[20:, 20:44] = 255
        m[18:20, 20:44] = 100  # soft hair
        for sub, img in (("alpha", m), ("fgr", np.dstack([m // 2] * 3))):
            (data / "greenscreen" / "a-static" / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(data / "greenscreen" / "a-static" / sub / f"{k:05d}.png"), img)
    (data / "backgrounds").mkdir()
    for i in range(2):
        cv2.imwrite(str(data / "backgrounds" / f"{i:03d}.jpg"), rng.integers(0, 256, (50, 80, 3), dtype=np.uint8))
    return data


def test_people_layout_truth_and_determinism(tiny_data, tmp_path):
    people = PE.find_people(tiny_data, persons=5)
    assert {p.name for p in people} == {"portraits_vikram/000", "portraits_vikram/001", "portraits_vikram/002",
                                        "voc_person/000", "davis/walk", "greenscreen"}
    assert [p.soft for p in people if p.name == "greenscreen"] == [True]
    assert {p.name: p.kind for p in people}["voc_person/000"] == "body"
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    folders = PE.generate(out_a, tiny_data, persons=5, frames=3, size=(96, 64))
    PE.generate(out_b, tiny_data, persons=5, frames=3, size=(96, 64))
    assert len(folders) == 10 + len(PE.CASES)  # two sequences per person, the soft-matte one in every case
    cases = set()
    for f in folders:
        meta = json.loads((f / "meta.json").read_text())
        cases.add(meta["case"])
        assert meta["person"] in {p.name for p in people}
        assert ("a true matte" if meta["person"] == "greenscreen" else "not a true matte") in meta["truth"]
        for sub in ("images", "alpha", "fgr"):
            files = sorted((f / sub).iterdir())
            assert len(files) == 3
            for p in files:
                assert p.read_bytes() == (out_b / f.name / sub / p.name).read_bytes()
        alpha = cv2.imread(str(f / "alpha" / "00000.png"), cv2.IMREAD_GRAYSCALE)
        assert alpha.shape == (64, 96) and alpha.max() == 255
        assert np.count_nonzero((alpha > 0) & (alpha < 255)) > 0  # feathered, soft edge
        if meta["person"] == "greenscreen":  # the true matte, scaled, not feathered again
            assert np.count_nonzero((alpha > 80) & (alpha < 120)) > 0
        if meta["kind"] == "body":
            assert 0.01 < meta["person_share"][0] < 0.3  # small
    assert cases == set(PE.CASES)
    assert all(ds.kind == "sequence" for ds in discover([out_a]))


def test_stripes_are_high_contrast():
    g = PE._stripes(64, 48, np.random.default_rng(0), checks=False)
    assert g.shape == (48, 64, 3) and g.max() - g.min() > 0.7


def test_people_refuses_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        PE.generate(tmp_path / "o", tmp_path / "empty")


def test_tune_folds_by_person(tiny_data, tmp_path):
    """Everything one person is in shares a fold: the sequences cut from a portrait and
    the portrait itself in the image set's chunk."""
    gen = tmp_path / "gen"
    PE.generate(gen, tiny_data, persons=5, frames=2, size=(96, 64))
    items = T.load_items([gen, tiny_data / "portraits_vikram"], frames=2, images=5, folds=2)
    fold_of = {}
    for it in items:
        if it.kind != "images":
            assert fold_of.setdefault(it.person, it.fold) == it.fold
    folds = T.assign_folds(list(fold_of) + ["portraits_vikram/000"], 2)
    chunk = next(it for it in items if it.name == f"portraits_vikram#{folds['portraits_vikram/000']}")
    assert len(chunk.frames) >= 1
    assert {it.fold for it in items} == {0, 1}
    assert all(it.case for it in items)
    # The green-screen person's sequences are one person's: one fold.
    assert len({it.fold for it in items if it.person == "greenscreen"}) == 1


def test_tune_refuses_one_person(tiny_data, tmp_path, capsys):
    from matting.cli import main

    gen = tmp_path / "gs"
    PE.generate(gen, tiny_data, persons=0, frames=2, size=(96, 64))
    assert {json.loads((f / "meta.json").read_text())["person"] for f in gen.iterdir()} >= {"greenscreen"}
    only = tmp_path / "only"
    only.mkdir()
    for f in gen.iterdir():
        if json.loads((f / "meta.json").read_text())["person"] == "greenscreen":
            f.rename(only / f.name)
    assert main(["tune", str(only), "--params", "hysteresis"]) == 2
    assert "fewer than 2" in capsys.readouterr().err
