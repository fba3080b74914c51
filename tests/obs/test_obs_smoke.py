"""Smoke test in a real, headless OBS Studio: the one real-OBS test of the default run.

The filter, stored on an image source of a person, loads with the script, replaces the
background with a colour while keeping the person, and OBS shuts down cleanly: exit code
0, no Python traceback, no worker thread left, no more leaks than OBS reports without
the script. The full suite (pytest -m obs) drives every other path.
"""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest

import obs_harness as oh
from test_obs_e2e import FLT, FPS, H, W, corner_is, frac_close, person_image, reference, wait_for, zones

pytestmark = [pytest.mark.obs, pytest.mark.smoke]

BLUE = 0xFFFF0000  # OBS colours are 0xAABBGGRR


def test_filter_loads_replaces_and_unloads(obs_available, tmp_path, capsys):
    image = person_image()
    img_path = tmp_path / "person.png"
    cv2.imwrite(str(img_path), image[:, :, ::-1])
    _, ref_alpha = reference(image, "#0000ff")
    person, back = zones(ref_alpha)

    home = tmp_path / "home"
    home.mkdir()
    t0 = time.monotonic()
    with oh.Obs(home, img_path, W, H, FPS,
                filters=[(oh.FILTER_KIND, FLT, {"background_type": "color", "background_color": BLUE})]) as obs:
        # Until the first matte the filter draws the background alone (never the room), so
        # wait for the person too: the composite, not the safe picture.
        shot = wait_for(obs, lambda s: corner_is((0, 0, 255))(s) and frac_close(s[:, :, :3], image, person, 3) >= 0.5,
                        120, "the background replaced around the person")
        first = time.monotonic() - t0
        # The composite settles within a few frames of the first one.
        blue = np.zeros_like(image) + [0, 0, 255]
        shot = wait_for(obs, lambda s: frac_close(s[:, :, :3], blue, back, 3) >= 0.995
                        and frac_close(s[:, :, :3], image, person, 3) >= 0.995, 30, "the whole background blue")
        kept = frac_close(shot[:, :, :3], image, person, 3)
        rc = obs.close()
        log = obs.log_text()
    with capsys.disabled():  # a measurement, not a limit: the checkout's numba cache decides it
        print(f"\nsmoke: OBS start to the first composite {first:.1f} s (numba cache of the checkout)")
    base_rc, base_leaks = oh.baseline_leaks(tmp_path / "home-baseline", img_path, W, H, FPS)

    assert kept >= 0.995, f"person kept on {kept:.4f} of the sure-person pixels"
    assert rc == 0 and base_rc == 0, f"OBS exit code {rc} (without the script {base_rc})"
    assert "script loaded (registered 'Background Replace'" in log
    assert not oh.python_tracebacks(log), "Python traceback in the OBS log:\n" + "\n".join(oh.python_tracebacks(log))
    m = re.search(r"script unloaded \((\d+) filter\(s\) released, (\d+) worker thread\(s\) still running\)", log)
    assert m and m.group(2) == "0", "worker threads outlived the script"
    leaks = oh.leak_count(log)
    assert leaks is not None and base_leaks is not None, "no leak count in the OBS log"
    assert leaks <= base_leaks, f"memory leaks {leaks} > {base_leaks} of OBS without the script"
