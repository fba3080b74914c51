"""End-to-end: the filter in a real, headless OBS Studio (pytest -m obs).

One OBS run (scene collection with the script preloaded, an image source showing a
person, 1280×720 at 10 fps) drives the filter through obs-websocket and compares
screenshots with what `matting` produces for the same image; then a clean shutdown.
A second, short OBS run without the script gives the leak count OBS itself reports.
"""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest

import obs_harness as oh

pytestmark = pytest.mark.obs

W, H, FPS = 1280, 720, 10
SRC, FLT = "photo", "bg"
BLUE = 0xFFFF0000  # OBS colours are 0xAABBGGRR
RED = 0xFF0000FF


def person_image() -> np.ndarray:
    """The public-domain astronaut, head and shoulders filling a 1280×720 frame (RGB)."""
    from skimage import data

    return cv2.resize(data.astronaut(), (W, W), interpolation=cv2.INTER_AREA)[:H].copy()


def background_image() -> np.ndarray:
    """A background with structure (gradient + checker), RGB, frame-sized."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 255 // W, y * 255 // H, ((x // 40 + y // 40) % 2) * 200], axis=2)
    return img.astype(np.uint8)


def reference(image: np.ndarray, background: str):
    """What matting makes of the still image after the filter's warm-up (steady state)."""
    from matting.pipeline import Pipeline
    from matting.settings import Settings

    p = Pipeline(Settings(background=background))
    for _ in range(15):
        comp, alpha = p.process(image, order="RGB")
    return comp, alpha


def zones(alpha: np.ndarray, px: int = 6):
    """Pixels surely person / surely background in the reference matte, `px` pixels away
    from any soft edge (where one frame of lag or the grid readback may move the edge)."""
    k = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    person = cv2.erode((alpha >= 250).astype(np.uint8), k).astype(bool)
    back = cv2.erode((alpha <= 5).astype(np.uint8), k).astype(bool)
    return person, back


def wait_for(obs, pred, timeout=60.0, what="condition"):
    """Screenshots until pred(shot) holds; returns the shot."""
    deadline = oh.Deadline(timeout)
    shot = None
    while not deadline.expired():
        shot = obs.screenshot(SRC)
        if pred(shot):
            return shot
        time.sleep(0.3)
    raise AssertionError(f"timed out after {deadline} waiting for {what}")


def frac_close(a: np.ndarray, b: np.ndarray, mask: np.ndarray, tol: int) -> float:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    return float((d[mask] <= tol).mean())


def corner_is(colour_rgb):
    return lambda s: np.abs(s[4, 4, :3].astype(int) - colour_rgb).max() <= 2


def with_person(pred, image, person):
    """``pred`` and the person shown: a composite, not the background alone that the filter
    draws until a matte is ready (never the camera)."""
    return lambda s: pred(s) and frac_close(s[:, :, :3], image, person, 3) >= 0.5


def test_filter_in_real_obs(obs_available, tmp_path, capsys):
    image = person_image()
    img_path = tmp_path / "person.png"
    cv2.imwrite(str(img_path), image[:, :, ::-1])
    bg = background_image()
    bg_path = tmp_path / "background.png"
    cv2.imwrite(str(bg_path), bg[:, :, ::-1])

    ref_blue, ref_alpha = reference(image, "#0000ff")
    person, back = zones(ref_alpha)
    assert person.mean() > 0.15 and back.mean() > 0.15, "test image must show both person and background"
    report = {"edge band share of the frame": float(1 - person.mean() - back.mean())}

    home = tmp_path / "home"
    home.mkdir()
    t_start = time.monotonic()
    with oh.Obs(home, img_path, W, H, FPS) as obs:
        ws = obs.ws
        # Without the filter the screenshot is the image itself (also checks the readback).
        plain = wait_for(obs, lambda s: s[:, :, 3].min() == 255, 20, "the image source")
        assert np.abs(plain[:, :, :3].astype(int) - image).max() <= 1

        # 1. Background replaced, person kept (GPU compositing, the default).
        ws.create_source_filter(SRC, FLT, oh.FILTER_KIND, {"background_type": "color", "background_color": BLUE})
        gpu = wait_for(obs, with_person(corner_is((0, 0, 255)), image, person), 90, "the first composite (GPU path)")
        time.sleep(1.5)  # a few more frames: tracking and temporal state settle
        gpu = obs.screenshot(SRC)
        report["gpu: person kept"] = frac_close(gpu[:, :, :3], image, person, 3)
        report["gpu: background blue"] = frac_close(gpu[:, :, :3], np.array([0, 0, 255]) + 0 * image, back, 3)
        report["gpu: vs matting, |d|<=8"] = frac_close(gpu[:, :, :3], ref_blue, np.ones((H, W), bool), 8)
        report["gpu: vs matting, mean |d|"] = float(np.abs(gpu[:, :, :3].astype(int) - ref_blue).mean())

        # 2. The reference CPU compositing gives the same picture.
        ws.set_source_filter_settings(SRC, FLT, {"compositing": "cpu"}, True)
        time.sleep(0.5)
        cpu = wait_for(obs, with_person(corner_is((0, 0, 255)), image, person), 60, "the first composite (CPU path)")
        time.sleep(1.5)
        cpu = obs.screenshot(SRC)
        report["cpu: vs matting, |d|<=8"] = frac_close(cpu[:, :, :3], ref_blue, np.ones((H, W), bool), 8)
        report["cpu: vs matting, mean |d|"] = float(np.abs(cpu[:, :, :3].astype(int) - ref_blue).mean())
        report["gpu vs cpu, |d|<=8"] = frac_close(gpu[:, :, :3], cpu[:, :, :3], np.ones((H, W), bool), 8)
        report["gpu vs cpu, mean |d|"] = float(np.abs(gpu[:, :, :3].astype(int) - cpu[:, :, :3]).mean())
        ws.set_source_filter_settings(SRC, FLT, {"compositing": "gpu"}, True)

        # 3. Settings take effect: colour, image, transparent, temporal strength.
        ws.set_source_filter_settings(SRC, FLT, {"background_color": RED, "temporal_strength": 0.0}, True)
        red = wait_for(obs, with_person(corner_is((255, 0, 0)), image, person), 30, "the red background")
        report["red: background red"] = frac_close(red[:, :, :3], np.array([255, 0, 0]) + 0 * image, back, 3)
        ws.set_source_filter_settings(SRC, FLT, {"background_type": "image", "background_image": str(bg_path)}, True)
        on_picture = lambda s: np.abs(s[4, 4, :3].astype(int) - bg[4, 4]).max() <= 2  # noqa: E731
        shot = wait_for(obs, with_person(on_picture, image, person), 30, "the image background")
        time.sleep(0.5)
        shot = obs.screenshot(SRC)
        report["image: background is the picture"] = frac_close(shot[:, :, :3], bg, back, 3)
        report["image: person kept"] = frac_close(shot[:, :, :3], image, person, 3)
        ws.set_source_filter_settings(SRC, FLT, {"background_type": "transparent"}, True)
        shot = wait_for(obs, lambda s: s[4, 4, 3] == 0 and (s[:, :, 3][person] >= 252).mean() >= 0.5, 30,
                        "the transparent background around the person")
        report["transparent: alpha 0 behind"] = float((shot[:, :, 3][back] <= 3).mean())
        report["transparent: alpha 255 on person"] = float((shot[:, :, 3][person] >= 252).mean())

        # 4. A failure shows the background alone, never the camera: for a missing
        # background image there is none to show, so nothing (transparent).
        ws.set_source_filter_settings(SRC, FLT, {"background_type": "image",
                                                 "background_image": str(tmp_path / "missing.png")}, True)
        shot = wait_for(obs, lambda s: s[:, :, 3].max() == 0, 30, "nothing drawn on a missing background")
        ws.set_source_filter_settings(SRC, FLT, {"background_type": "color"}, True)
        wait_for(obs, with_person(corner_is((255, 0, 0)), image, person), 30, "recovery after the error")

        # 5. Disable / remove / re-add, 20 times; it must keep working afterwards.
        t_cycles = time.monotonic()
        for i in range(20):
            ws.set_source_filter_enabled(SRC, FLT, False)
            if i % 5 == 0:  # disabled: the source is drawn without the filter
                wait_for(obs, lambda s: np.abs(s[:, :, :3].astype(int) - image).max() <= 1, 20, "disabled filter")
            ws.set_source_filter_enabled(SRC, FLT, True)
            ws.remove_source_filter(SRC, FLT)
            ws.create_source_filter(SRC, FLT, oh.FILTER_KIND, {"background_type": "color", "background_color": BLUE})
        report["20 cycles, s"] = time.monotonic() - t_cycles
        shot = wait_for(obs, with_person(corner_is((0, 0, 255)), image, person), 60, "the filter after 20 re-adds")
        time.sleep(1.0)
        shot = obs.screenshot(SRC)
        report["after cycles: person kept"] = frac_close(shot[:, :, :3], image, person, 3)
        report["after cycles: background blue"] = frac_close(shot[:, :, :3], np.array([0, 0, 255]) + 0 * image,
                                                            back, 3)

        # 6. Clean shutdown.
        rc = obs.close()
        log = obs.log_text()
    report["OBS run, s"] = time.monotonic() - t_start

    base_rc, base_leaks = oh.baseline_leaks(tmp_path / "home-baseline", img_path, W, H, FPS)

    with capsys.disabled():
        print("\nreal-OBS end-to-end measurements:")
        for k, v in report.items():
            print(f"  {k}: {v:.4f}")
        for line in log.splitlines():
            if "summary:" in line:
                print("  " + line.split("] ", 1)[-1])

    # Tolerances: see docs/OBS.md ("What the end-to-end test checks").
    assert rc == 0, f"OBS exit code {rc}"
    assert base_rc == 0
    assert not oh.python_tracebacks(log), "Python traceback in the OBS log:\n" + "\n".join(oh.python_tracebacks(log))
    leaks = oh.leak_count(log)
    assert leaks is not None and base_leaks is not None, "no leak count in the OBS log"
    assert leaks <= base_leaks, f"memory leaks {leaks} > {base_leaks} of OBS without the script"
    assert "script loaded (registered 'Background Replace'" in log
    m = re.search(r"script unloaded \((\d+) filter\(s\) released, (\d+) worker thread\(s\) still running\)", log)
    assert m and m.group(2) == "0", "worker threads outlived the script"
    assert re.search(r"applied .*temporal_strength=0\.0", log), "temporal strength change not applied"
    # The properties panel's view of the filter, built inside OBS by tests/obs/props_probe.py.
    m = re.search(r"props-probe: (\d+) properties; image field shown (\w+), hidden (\w+); stats: (.*)", log)
    assert m, "the properties probe did not run"
    assert m.group(1) == "14" and m.group(2) == m.group(3) == "True", m.group(0)
    assert "device CPU" in m.group(4) and "fps" in m.group(4), m.group(4)
    assert log.count("missing.png") >= 1
    assert len([ln for ln in log.splitlines() if "missing.png" in ln and "showing the background only" in ln]) == 1, \
        "the missing background must be reported exactly once"

    for key in ("gpu: person kept", "gpu: background blue", "red: background red",
                "image: background is the picture", "image: person kept", "after cycles: person kept",
                "after cycles: background blue"):
        assert report[key] >= 0.995, f"{key}: {report[key]:.4f}"
    assert report["transparent: alpha 0 behind"] >= 0.995
    assert report["transparent: alpha 255 on person"] >= 0.995
    # The same picture as matting / as each other, except inside the soft-edge band
    # (5.7 % of this frame), where the grid readback and how many frames the worker saw
    # under load move the edge by a pixel or two (measured 0.6–1.2 % of pixels > 8 levels
    # off, mean |d| 0.05–0.22 levels). Outside the band it is exact within 3 levels (above).
    for key in ("gpu: vs matting", "cpu: vs matting", "gpu vs cpu"):
        assert report[f"{key}, |d|<=8"] >= 0.97, f"{key}: {report[f'{key}, |d|<=8']:.4f}"
        assert report[f"{key}, mean |d|"] <= 1.5, f"{key}: mean {report[f'{key}, mean |d|']:.3f}"
