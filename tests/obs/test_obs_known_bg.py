"""End-to-end: the known background in a real, headless OBS Studio (pytest -m obs).

An image source shows an empty room (a still source). The filter "kb" is added; the
test helper tests/obs/props_probe.py presses the panel's "Capture background" button as
soon as the filter runs and logs the status line of the properties panel whenever it
changes. Checked: the status reaches "active"; the plate file is saved and its path
kept in the filter's settings; a re-created filter with those settings is active again
without a new capture; and when the source changes (the room shifted, as if the camera
had moved) the known background switches itself off.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import obs_harness as oh

pytestmark = pytest.mark.obs

W, H, FPS = 640, 360, 10
SRC, FLT = "photo", "kb"


def room(shift: int = 0) -> np.ndarray:
    """A room with structure (BGR), shifted right by ``shift`` px (a moved camera)."""
    rng = np.random.default_rng(3)
    small = rng.integers(20, 230, (H // 12, W // 12 + 4, 3), dtype=np.uint8)
    big = cv2.resize(small, ((W // 12 + 4) * 12, H), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[:, 24 - shift:24 - shift + W])


def wait_log(obs, start: int, pred, timeout: float, what: str) -> str:
    """The first probe status line after log offset ``start`` satisfying ``pred``."""
    deadline = oh.Deadline(timeout)
    while not deadline.expired():
        for line in obs.log_text()[start:].splitlines():
            if "kb-probe: stats:" in line and pred(line):
                return line
        time.sleep(0.5)
    tail = [ln for ln in obs.log_text()[start:].splitlines() if "kb-probe" in ln][-5:]
    raise AssertionError(f"timed out after {deadline} waiting for {what}; last status lines: {tail}")


def test_known_background_in_real_obs(obs_available, tmp_path):
    still = tmp_path / "room.png"
    moved = tmp_path / "room_moved.png"
    cv2.imwrite(str(still), room())
    cv2.imwrite(str(moved), room(12))
    home = tmp_path / "home"
    home.mkdir()
    with oh.Obs(home, still, W, H, FPS) as obs:
        ws = obs.ws
        ws.create_source_filter(SRC, FLT, oh.FILTER_KIND, {"background_type": "color"})
        wait_log(obs, 0, lambda ln: "known background: active" in ln, 120, "the status to reach active")
        log = obs.log_text()
        assert "kb-probe: pressed Capture background" in log and "background plate captured" in log
        settings = ws.get_source_filter(SRC, FLT).filter_settings
        plate = Path(settings["background_plate"])
        assert plate.is_file() and str(plate).startswith(str(home)), plate  # in OBS's config folder
        assert cv2.imread(str(plate)).shape == (H, W, 3)

        # Re-created from its settings (as after an OBS restart): active without a capture.
        ws.remove_source_filter(SRC, FLT)
        start = len(obs.log_text())
        ws.create_source_filter(SRC, FLT, oh.FILTER_KIND, settings)
        wait_log(obs, start, lambda ln: "known background: active" in ln, 120, "active after re-creation")
        assert obs.log_text()[start:].count("background plate captured") == 0

        # The source changes (the room shifted): switched off.
        start = len(obs.log_text())
        ws.set_input_settings(SRC, {"file": str(moved)}, True)
        line = wait_log(obs, start, lambda ln: "off (camera moved)" in ln or "stale" in ln, 60,
                        "the known background to switch off")
        assert "active" not in line
        rc = obs.close()
        log = obs.log_text()
    assert rc == 0
    assert not oh.python_tracebacks(log), "\n".join(oh.python_tracebacks(log))
