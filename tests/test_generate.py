"""The sequence generator (matting.lab.generate) on tiny synthetic inputs, and once on
../shared/data where it is present."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from matting.cli import main
from matting.errors import InputError
from matting.lab import generate as G
from matting.lab.datasets import discover


@pytest.fixture()
def tiny_sources(tmp_path):
    """data/greenscreen/{s1,s2}/{fgr,alpha} (4 frames 64×48: a soft disc moving right)
    and data/backgrounds/ (5 photos: noise, stripes, flat colours)."""
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :64]
    for s, colour in (("s1", (40, 80, 200)), ("s2", (200, 90, 30))):
        for sub in ("fgr", "alpha"):
            (data / "greenscreen" / s / sub).mkdir(parents=True)
        for i in range(4):
            d = np.sqrt((xx - 28 - i) ** 2 + (yy - 30) ** 2)
            alpha = np.clip((16 - d) / 3, 0, 1)
            fgr = (np.array(colour, np.float32) * (alpha[..., None] > 0)).astype(np.uint8)
            cv2.imwrite(str(data / "greenscreen" / s / "alpha" / f"{i:05d}.png"), (alpha * 255).round().astype(np.uint8))
            cv2.imwrite(str(data / "greenscreen" / s / "fgr" / f"{i:05d}.png"), fgr)
    (data / "backgrounds").mkdir()
    stripes = ((xx // 3) % 2 * 255).astype(np.uint8)
    photos = [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), cv2.merge([stripes] * 3),
              np.full((50, 50, 3), 128, np.uint8), np.full((90, 120, 3), (0, 200, 0), np.uint8),
              rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)]
    for i, p in enumerate(photos):
        cv2.imwrite(str(data / "backgrounds" / f"{i:03d}.png"), p)
    return data


def test_layout_and_determinism(tiny_sources, tmp_path):
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    folders = G.generate(out_a, tiny_sources, frames=3, size=(64, 48))
    G.generate(out_b, tiny_sources, frames=3, size=(64, 48))
    assert len(folders) == 5  # one sequence per background photo
    cameras = set()
    for f in folders:
        meta = json.loads((f / "meta.json").read_text())
        cameras.add(meta["camera"])
        for sub in ("images", "alpha", "fgr"):
            files = sorted((f / sub).iterdir())
            assert len(files) == 3
            for p in files:  # same seed, same files
                assert p.read_bytes() == (out_b / f.name / sub / p.name).read_bytes()
        assert cv2.imread(str(f / "images" / "00000.jpg")).shape == (48, 64, 3)
    assert cameras == set(G.CAMERAS)
    sets = discover([out_a])
    assert [s.kind for s in sets] == ["sequence"] * 5 and all(len(s) == 3 for s in sets)
    frame = next(sets[0].frames())
    assert frame.fgr is not None and frame.alpha.shape == (48, 64)


def test_static_frames_are_the_compositing_equation(tiny_sources, tmp_path):
    """images = α·F + (1−α)·B up to JPEG: where α = 1 the person's colour, where α = 0
    the (blurred) photo, and the truth is a person-shaped soft disc."""
    folders = G.generate(tmp_path / "o", tiny_sources, frames=2, size=(64, 48))
    static = next(f for f in folders if f.name.endswith("static"))
    img = cv2.imread(str(static / "images" / "00000.jpg")).astype(np.float32)
    alpha = cv2.imread(str(static / "alpha" / "00000.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    fgr = cv2.imread(str(static / "fgr" / "00000.jpg")).astype(np.float32)
    meta = json.loads((static / "meta.json").read_text())
    inside = alpha > 0.99
    assert inside.sum() > 50 and ((alpha > 0) & (alpha < 1)).any()  # soft edge kept
    expected = np.clip(fgr * meta["fg_gain"], 0, 255)
    assert np.abs(img[inside] - expected[inside]).mean() < 6
    # the person is not where the photo is alone
    assert np.abs(img[alpha == 0] - expected[alpha == 0]).mean() > 10


def test_plate_is_the_clean_background_of_the_first_frame(tiny_sources, tmp_path):
    folders = {f.name.split("-")[-1]: f for f in G.generate(tmp_path / "o", tiny_sources, frames=4, size=(64, 48))}
    for camera, f in folders.items():
        plate = cv2.imread(str(f / "plate.png")).astype(np.float32)
        img0 = cv2.imread(str(f / "images" / "00000.jpg")).astype(np.float32)
        img3 = cv2.imread(str(f / "images" / "00003.jpg")).astype(np.float32)
        bg = cv2.imread(str(f / "alpha" / "00000.png"), 0) == 0
        bg3 = bg & (cv2.imread(str(f / "alpha" / "00003.png"), 0) == 0)
        assert plate.shape == img0.shape and bg.sum() > 100
        if camera == "static":  # the room itself, up to JPEG
            assert np.abs(img0 - plate)[bg].mean() < 2.5
        if camera == "panzoom":  # the camera leaves the plate's view
            assert np.abs(img3 - plate)[bg3].mean() > np.abs(img0 - plate)[bg3].mean() + 3


def test_cameras_differ(tiny_sources, tmp_path):
    folders = {f.name.split("-")[-1]: f for f in G.generate(tmp_path / "o", tiny_sources, frames=4, size=(64, 48))}

    def bg_change(f):
        a0 = cv2.imread(str(f / "alpha" / "00000.png"), 0) == 0
        a3 = cv2.imread(str(f / "alpha" / "00003.png"), 0) == 0
        i0 = cv2.imread(str(f / "images" / "00000.jpg")).astype(np.float32)
        i3 = cv2.imread(str(f / "images" / "00003.jpg")).astype(np.float32)
        return np.abs(i0 - i3)[a0 & a3].mean()

    # a static camera keeps the background; a pan/zoom moves it; noise changes every frame
    assert bg_change(folders["static"]) < 2.5
    assert bg_change(folders["panzoom"]) > bg_change(folders["static"]) + 3
    assert bg_change(folders["noisy"]) > bg_change(folders["static"]) + 1


def test_limit_keeps_every_camera(tiny_sources):
    sources = G.find_sources(tiny_sources / "greenscreen")
    photos = [tiny_sources / "backgrounds" / f"{i:03d}.png" for i in range(12)]
    items = G.plan(sources, photos, limit=4)
    assert len(items) == 4 and {it["camera"] for it in items} == set(G.CAMERAS)
    assert [it["name"] for it in items] == [it["name"] for it in G.plan(sources, photos, limit=4)]
    assert {it["source"].name for it in G.plan(sources, photos)} == {"s1", "s2"}


def test_cli(tiny_sources, tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", "--data", str(tiny_sources), "--out", str(out), "--limit", "3",
                 "--frames", "2", "--size", "64x48"]) == 0
    assert len(list(out.iterdir())) == 3
    assert main(["generate", "--data", str(tiny_sources), "--out", "out/gen_here"]) == 2
    assert "inside the repository" in capsys.readouterr().err
    assert main(["generate", "--data", str(tiny_sources), "--out", str(out), "--size", "big"]) == 2
    assert main(["generate", "--data", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    with pytest.raises(InputError):
        G.generate(out, tiny_sources, frames=1)


def test_on_shared_data(shared_data, tmp_path):
    folders = G.generate(tmp_path / "gen", shared_data, limit=3, frames=3, size=(320, 180))
    assert len(folders) == 3
    sets = discover([tmp_path / "gen"])
    assert len(sets) == 3 and all(s.kind == "sequence" for s in sets)
    frame = next(sets[0].frames())
    assert frame.image.shape == (180, 320, 3) and 0.02 < (frame.alpha > 127).mean() < 0.6
