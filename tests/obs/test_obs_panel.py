"""End-to-end: the filter's properties panel in a real, headless OBS Studio (pytest -m obs).

A person (the astronaut) is the camera; the filter "bg" runs with its default settings
and its Filters dialog is open (obs-websocket OpenInputFiltersDialog), as a streamer has
it while trying settings. The helper tests/obs/panel_probe.py counts the filter's
``update_properties`` signals — each one rebuilds the open panel, closing a dropdown the
user has open — and logs the panel's status line and numbers.

Checked: during 60 s with nobody touching anything and no state change, the panel is not
rebuilt once while its numbers do move (so the old "refresh when the text changes"
would have rebuilt it); then "Capture empty room" pressed with the person in the picture
counts down, is refused with a message saying someone is in the picture, and keeps no
plate.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import pytest

import obs_harness as oh
import person_clip

pytestmark = pytest.mark.obs

W, H, FPS = 640, 360, 10
PROBE = Path(__file__).resolve().parent / "panel_probe.py"
QUIET_S = 60.0


def probe_lines(obs, start: int = 0, what: str = "") -> list[str]:
    return [ln.split("panel-probe: ", 1)[1] for ln in obs.log_text()[start:].splitlines()
            if "panel-probe: " + what in ln]


def wait_probe(obs, pred, timeout: float, what: str, start: int = 0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in probe_lines(obs, start):
            if pred(line):
                return line
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last probe lines: "
                         f"{probe_lines(obs, start)[-6:]}")


def rebuilds(obs) -> int:
    counts = [int(m.group(1)) for m in re.finditer(r"panel-probe: rebuilds (\d+)", obs.log_text())]
    return counts[-1] if counts else 0


def test_panel_stays_still_and_capture_with_someone_in_the_picture_is_refused(obs_available, tmp_path):
    image = tmp_path / "person.png"
    cv2.imwrite(str(image), person_clip.person_image(W, H)[:, :, ::-1])
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    with oh.Obs(home, image, W, H, FPS, extra_scripts=[PROBE], env={"OBS_BG_PANEL_PROBE_DIR": str(probe_dir)},
                filters=[(oh.FILTER_KIND, "bg", {})]) as obs:
        wait_probe(obs, lambda ln: ln.startswith("status: Running"), 180, "the filter to run")
        wait_probe(obs, lambda ln: ln.startswith("details: inference"), 60, "the numbers")
        obs.ws.send("OpenInputFiltersDialog", {"inputName": "photo"})
        assert probe_lines(obs, 0, "advanced folded") == ["advanced folded True"]  # folded by default

        # 60 s, nobody touches anything: no rebuild, while the numbers move.
        time.sleep(3.0)  # the state settles (the first numbers, the CPU sample)
        before, start = rebuilds(obs), len(obs.log_text())
        t0 = time.monotonic()
        while time.monotonic() - t0 < QUIET_S:
            time.sleep(1.0)
        after = rebuilds(obs)
        details = probe_lines(obs, start, "details:")
        statuses = probe_lines(obs, start, "status:")
        assert after == before, f"the panel was rebuilt {after - before} times in {QUIET_S:.0f} s: {statuses}"
        assert len(set(details)) >= 3, f"the numbers did not move (the check would prove nothing): {details}"
        assert not statuses, f"the state changed during the quiet minute: {statuses}"

        # Capture with the person in the picture: countdown, then refused, no plate.
        start = len(obs.log_text())
        (probe_dir / "capture").write_text("")
        wait_probe(obs, lambda ln: ln.startswith("pressed Capture"), 30, "the capture press", start)
        wait_probe(obs, lambda ln: "step out of the picture, 3" in ln, 30, "the countdown", start)
        line = wait_probe(obs, lambda ln: "Capture refused" in ln, 60, "the refusal", start)
        assert "someone is still in the picture" in line, line
        settings = obs.ws.get_source_filter("photo", "bg").filter_settings
        assert not settings.get("background_plate"), settings
        log = obs.log_text()
        assert "background plate captured" not in log
        assert rebuilds(obs) > after  # the countdown and the outcome were shown (state changes)
        # unfolded by its check box (the group's bool setting): the Advanced controls show
        obs.ws.set_source_filter_settings("photo", "bg", {"show_advanced": True}, True)
        wait_probe(obs, lambda ln: ln == "advanced folded False", 30, "Advanced to unfold", start)
        rc = obs.close()
        log = obs.log_text()
    assert rc == 0
    assert not oh.python_tracebacks(log), "\n".join(oh.python_tracebacks(log))
