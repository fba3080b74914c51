"""End-to-end: "Install packages" in a real, headless OBS, from a checkout with no venv.

A copy of the checkout (script, obs_filter/, matting/, models/, pyproject.toml; no .venv)
is loaded into OBS with a "Background Replace" filter already on an image source. The
script must load without its packages, hide the source (never the raw room) and show the missing
packages with the button. tests/obs/install_probe.py then clicks the button as the panel
does: first with pip pointed at a closed local port (no network: one clear line, nothing
breaks), then with pip pointed at a local wheel folder (no index). The packages install
into the copy's own .venv, load without restarting OBS, and the filter replaces the
background. The wheel folder is $OBS_BG_TEST_WHEELS (tests/obs/versions.sh fills one per
root) or the one .ci/install-obs.sh downloads for this machine's OBS.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import obs_harness as oh
from test_obs_e2e import FLT, FPS, SRC, H, W, corner_is, frac_close, person_image, reference, wait_for, zones

pytestmark = pytest.mark.obs

BLUE = 0xFFFF0000
PROBE = Path(__file__).resolve().parent / "install_probe.py"
HOST_WHEELS = Path("/var/cache/obs-bg-wheels")  # .ci/install-obs.sh


def wheel_dir() -> Path:
    d = Path(os.environ.get("OBS_BG_TEST_WHEELS") or HOST_WHEELS)
    if not any(d.glob("numpy-*.whl")):
        why = f"no runtime wheels in {d} (run .ci/install-obs.sh, or set OBS_BG_TEST_WHEELS)"
        if os.environ.get("OBS_BG_REQUIRE_OBS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return d


def copy_checkout(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    dst.mkdir()
    for name in ("obs_filter", "matting", "models"):
        shutil.copytree(oh.ROOT / name, dst / name, ignore=ignore)
    for name in ("obs_bg_replace.py", "pyproject.toml"):
        shutil.copy2(oh.ROOT / name, dst / name)
    return dst / "obs_bg_replace.py"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_log(obs, pattern, timeout, what):
    deadline = oh.Deadline(timeout)
    while not deadline.expired():
        m = re.search(pattern, obs.log_text())
        if m:
            return m
        if obs.proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"timed out after {deadline} waiting for {what}; log tail:\n{obs.log_text()[-3000:]}")


def test_install_button_in_real_obs(obs_available, tmp_path, capsys):
    wheels = wheel_dir()
    script = copy_checkout(tmp_path / "checkout")
    venv = script.parent / ".venv"
    image = person_image()
    img_path = tmp_path / "person.png"
    cv2.imwrite(str(img_path), image[:, :, ::-1])
    _, ref_alpha = reference(image, "#0000ff")
    person, back = zones(ref_alpha)

    env = {"OBS_BG_REPLACE_PYTHONPATH": None,  # no venv but the one the button makes
           "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": None, "PIP_EXTRA_INDEX_URL": None, "PIP_NO_INDEX": None,
           "PIP_INDEX_URL": f"http://127.0.0.1:{_closed_port()}/simple", "PIP_RETRIES": "1", "PIP_TIMEOUT": "2",
           "OBS_BG_PROBE_WHEELS": str(wheels), "OBS_BG_PROBE_GO": str(tmp_path / "go")}
    home = tmp_path / "home"
    home.mkdir()
    t0 = time.monotonic()
    times = {}
    with oh.Obs(home, img_path, W, H, FPS, env=env, scripts=[script, PROBE],
                filters=[(oh.FILTER_KIND, FLT, {"background_type": "color", "background_color": BLUE})]) as obs:
        # 1. Loaded without packages: the filter exists and draws nothing (never the room).
        wait_log(obs, r"script loaded without its packages", 60, "the script in setup mode")
        wait_for(obs, lambda s: s[:, :, 3].max() == 0, 30, "the source hidden by the filter")
        time.sleep(2.0)
        assert not venv.exists(), "nothing may be installed before the click"
        (tmp_path / "go").touch()  # now the probe clicks
        panel = wait_log(obs, r"install-probe: panel: (.*)", 60, "the install panel").group(1)
        assert panel.startswith("Missing packages: ") and "numpy>=1.24 (not installed)" in panel, panel
        script_panel = wait_log(obs, r"install-probe: script panel: (.*)", 10, "the script panel").group(1)
        assert script_panel.startswith("button True; Missing packages"), script_panel

        # 2. Offline: one clear line, the source still hidden.
        offline = wait_log(obs, r"install-probe: offline result: (.*)", 240, "the offline failure").group(1)
        times["offline failure, s"] = time.monotonic() - t0
        assert offline.startswith("Install failed: no network:") and "Install packages again" in offline, offline
        assert obs.screenshot(SRC)[:, :, 3].max() == 0  # still hidden, never the room

        # 3. From the local wheels: installed, loaded without a restart, background replaced.
        wait_log(obs, r"install-probe: clicked \(local wheels\)", 30, "the second click")
        t1 = time.monotonic()
        wait_log(obs, r"install: packages loaded, the filter is active", 600, "the install")
        times["install + load, s"] = time.monotonic() - t1
        shot = wait_for(obs, corner_is((0, 0, 255)), 300, "the background replaced after the install")
        time.sleep(1.5)
        shot = obs.screenshot(SRC)
        times["click to composite, s"] = time.monotonic() - t1
        kept = frac_close(shot[:, :, :3], image, person, 3)
        blue = frac_close(shot[:, :, :3], np.array([0, 0, 255]) + 0 * image, back, 3)
        done = wait_log(obs, r"install-probe: (installed; .*|local result: .*)", 30, "the probe's end").group(1)
        rc = obs.close()
        log = obs.log_text()

    with capsys.disabled():
        print("\ninstall-button end-to-end:", ", ".join(f"{k} {v:.1f}" for k, v in times.items()),
              f"; person kept {kept:.4f}, background blue {blue:.4f}")
        for line in log.splitlines():
            if "onnxruntime" in line and "native libraries" in line:
                print("  " + line.split("] ", 1)[-1])
    assert done == "installed; the filter's panel has stats", done
    assert rc == 0, f"OBS exit code {rc}"
    assert not oh.python_tracebacks(log), "\n".join(oh.python_tracebacks(log))
    assert venv.is_dir() and (venv / "pyvenv.cfg").is_file()
    # The onnxruntime in use is the one the button installed into the copy's .venv.
    m = re.search(r"onnxruntime \S+ \(\w+\) from (\S+); providers .*native libraries loaded: (.*)", log)
    assert m and m.group(1).startswith(str(venv)) and str(venv) in m.group(2), m and m.group(0)
    assert kept >= 0.995 and blue >= 0.995, (kept, blue)
