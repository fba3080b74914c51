"""A hostile OBS session (pytest -m obs): what streamers do during a live show.

One real headless OBS (640×360 at 15 fps, the script preloaded) and, through
obs-websocket: the source changing resolution under the filter (odd sizes, at and beyond
the 16..8192 limits), a media source started/stopped/paused/restarted and played to its
end, settings changed 100 times in 10 s (valid and invalid), 200 add/remove/enable/disable
cycles, the filter on a scene and on a group, two filters on two sources at once, the
background file deleted and replaced while in use, and OBS closed while the worker is
busy. After each case the filter must still work; at the end OBS exits cleanly with no
Python traceback, no more leaks than OBS without the script, and every failure showed
the background alone (never the camera frame) with one log line.
"""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest

import obs_harness as oh
import person_clip

pytestmark = pytest.mark.obs

W, H, FPS = 640, 360, 15
BLUE = 0xFFFF0000  # OBS colours are 0xAABBGGRR
RED = 0xFF0000FF
PASS_LINE = "showing the background only"


def person(w: int, h: int) -> np.ndarray:
    """The astronaut's head and shoulders at any size (RGB)."""
    from skimage import data

    return cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)


def wait_for(obs, source, pred, what, timeout=60.0, size=None):
    from obsws_python.error import OBSSDKRequestError

    deadline = oh.Deadline(timeout)
    last = None
    while not deadline.expired():
        if obs.proc.poll() is not None:
            raise AssertionError(f"OBS exited ({obs.proc.returncode}) while waiting for {what}")
        try:
            last = obs.screenshot(source, *(size or (None, None)), native=size is None)
        except OBSSDKRequestError as exc:
            # OBS 30.2 answered 702 "Failed to render screenshot" here while the media
            # source, restarted after its end, had no frame yet (seen in CI; OBS 29 did
            # not). Keep asking: only the deadline decides.
            if getattr(exc, "code", None) != 702:
                raise
        else:
            if pred(last):
                return last
        time.sleep(0.25)
    shape = None if last is None else last.shape
    raise AssertionError(f"timed out after {deadline} waiting for {what} (last shot {shape})")


def corner(rgb):
    return lambda s: np.abs(s[2, 2, :3].astype(int) - rgb).max() <= 3 and s[2, 2, 3] == 255


def only(rgb, size):
    """The background colour alone over the whole source (w, h): no camera pixel."""
    return lambda s: s.shape[:2] == size[::-1] and np.abs(s[:, :, :3].astype(int) - rgb).max() <= 3


def nothing(s):
    """Nothing drawn (transparent): the safe picture when the background file is missing."""
    return s[:, :, 3].max() == 0


def write_rgb(path, rgb):
    cv2.imwrite(str(path), rgb[:, :, ::-1].copy())
    return path


def test_hostile_session(obs_available, tmp_path, capsys):
    main_img = write_rgb(tmp_path / "person.png", person(W, H))
    second = write_rgb(tmp_path / "second.png", person(320, 240))
    clip = person_clip.moving_clip(tmp_path / "clip one.mp4", 320, 180, 15, speed=4, travel=60).path
    media = {"id": "ffmpeg_source", "name": "clip",
             "settings": {"local_file": str(clip), "is_local_file": True, "looping": True, "hw_decode": False,
                          "restart_on_activate": True}}
    inner = {"id": "image_source", "name": "inner", "settings": {"file": str(second)}, "in_scene": False}
    # A group's size is stored with it (OBS computes it only when a user edits the group).
    group = {"id": "group", "name": "grp", "settings": {"id_counter": 1, "custom_size": True, "cx": 320, "cy": 240,
                                                        "items": [{"name": "inner", "id": 1, "visible": True}]}}
    home = tmp_path / "home"
    home.mkdir()
    times = {}
    blue = {"background_type": "color", "background_color": BLUE}
    expected_pass_lines = []  # distinct problems, each must be logged once

    with oh.Obs(home, main_img, W, H, FPS, extra_sources=[media, inner, group]) as obs:
        ws = obs.ws
        t = time.monotonic()

        # 1. Resolution changes under the filter (image file swapped in place).
        ws.create_source_filter("photo", "bg", oh.FILTER_KIND, blue)
        wait_for(obs, "photo", corner((0, 0, 255)), "the first composite", 120)
        for w, h in [(1281, 721), (15, 15), (16, 16), (9000, 20), (333, 777), (8192, 16), (17, 8200), (W, H)]:
            img = person(w, h)
            path = write_rgb(tmp_path / f"size {w}x{h}.png", img)
            ws.set_input_settings("photo", {"file": str(path)}, True)
            if 16 <= w <= 8192 and 16 <= h <= 8192:
                wait_for(obs, "photo", lambda s, w=w, h=h: s.shape[:2] == (h, w) and corner((0, 0, 255))(s),
                         f"a composite at {w}x{h}", 60)
            else:
                wait_for(obs, "photo", only((0, 0, 255), (w, h)), f"the background alone at {w}x{h}", 30)
                expected_pass_lines.append(f"source size {w}x{h} is outside")
        times["1 resolution changes"] = time.monotonic() - t

        # 2. A media source: play, pause, stop, restart, and playing to its end.
        t = time.monotonic()
        ws.create_source_filter("clip", "bg", oh.FILTER_KIND, blue)
        wait_for(obs, "clip", corner((0, 0, 255)), "the composite on the media source", 60)
        for action in ["PAUSE", "PLAY", "STOP", "PLAY", "RESTART", "STOP", "RESTART", "PAUSE", "PLAY"] * 2:
            ws.trigger_media_input_action("clip", f"OBS_WEBSOCKET_MEDIA_INPUT_ACTION_{action}")
            time.sleep(0.2)
        wait_for(obs, "clip", corner((0, 0, 255)), "the media source after start/stop", 60)
        ws.set_input_settings("clip", {"looping": False}, True)
        ws.trigger_media_input_action("clip", "OBS_WEBSOCKET_MEDIA_INPUT_ACTION_RESTART")
        time.sleep(3.0)  # the 2 s clip ends: the source has no frame (cleared on end)
        ws.set_input_settings("clip", {"looping": True}, True)
        ws.trigger_media_input_action("clip", "OBS_WEBSOCKET_MEDIA_INPUT_ACTION_RESTART")
        wait_for(obs, "clip", corner((0, 0, 255)), "the media source looping again", 60)
        times["2 media source"] = time.monotonic() - t

        # 3. Settings changed 100 times in 10 s, valid and invalid ones mixed.
        t = time.monotonic()
        bg_file = write_rgb(tmp_path / "back ground.png", person_clip.room(W, H))
        rng = np.random.default_rng(0)
        variants = [
            {"background_color": RED}, {"background_color": BLUE}, {"temporal_strength": 0.0},
            {"temporal_strength": 0.9}, {"edge_detail": 0.0}, {"edge_detail": 1.0}, {"compositing": "cpu"},
            {"compositing": "gpu"}, {"background_type": "transparent"}, {"background_type": "blur"},
            {"background_type": "image", "background_image": str(bg_file)}, {"model": "landscape"},
            {"model": "general"}, {"halo_removal": True}, {"light_wrap": 0.5}, {"min_area": 0.1},
            {"smooth_alpha": 0.01}, {"roi_margin": 1.0}, {"background_fit": "contain"},
            {"model": "custom", "model_path": ""}, {"model": "custom", "model_path": str(tmp_path / "nope.onnx")},
            {"background_type": "image", "background_image": ""}, {"device": "cuda"}, {"temporal_strength": 5.0},
        ]
        t_loop = time.monotonic()
        for i in range(100):
            ws.set_source_filter_settings("photo", "bg", variants[int(rng.integers(len(variants)))], True)
            time.sleep(max(0.0, t_loop + 0.1 * (i + 1) - time.monotonic()))
        times["3 100 changes, s"] = time.monotonic() - t_loop
        ws.set_source_filter_settings("photo", "bg", {}, False)  # back to the defaults...
        ws.set_source_filter_settings("photo", "bg", blue, True)  # ...with a blue background
        wait_for(obs, "photo", corner((0, 0, 255)), "recovery after 100 changes", 90)
        times["3 settings storm"] = time.monotonic() - t

        # 4. 200 add/remove/enable/disable cycles (a second filter on the same source).
        t = time.monotonic()
        for i in range(200):
            ws.create_source_filter("photo", "tmp", oh.FILTER_KIND, {"background_type": "color",
                                                                      "background_color": RED})
            ws.set_source_filter_enabled("photo", "tmp", i % 2 == 0)
            if i % 3 == 0:
                ws.set_source_filter_enabled("photo", "bg", False)
                ws.set_source_filter_enabled("photo", "bg", True)
            ws.remove_source_filter("photo", "tmp")
            if i % 10 == 0:
                time.sleep(0.15)  # let a few frames render between bursts
        times["4 200 cycles, s"] = time.monotonic() - t
        wait_for(obs, "photo", corner((0, 0, 255)), "the filter after 200 cycles", 60)

        # 5. On a scene and on a group; 6. two filters on two sources at once.
        t = time.monotonic()
        ws.create_source_filter("grp", "bg", oh.FILTER_KIND, blue)
        wait_for(obs, "grp", corner((0, 0, 255)), "the filter on a group", 60)
        wait_for(obs, "photo", corner((0, 0, 255)), "the source's filter beside the group's", 30)
        ws.set_source_filter_enabled("photo", "bg", False)
        ws.create_source_filter("Scene", "bg", oh.FILTER_KIND, {"background_type": "color", "background_color": RED})
        wait_for(obs, "Scene", corner((255, 0, 0)), "the filter on a scene", 60)
        ws.remove_source_filter("Scene", "bg")
        ws.set_source_filter_enabled("photo", "bg", True)
        times["5-6 scene, group, two at once"] = time.monotonic() - t

        # 7. The background file deleted and replaced while in use.
        t = time.monotonic()
        ws.set_source_filter_settings("photo", "bg", {"background_type": "image", "background_image": str(bg_file)},
                                      True)
        back_rgb = cv2.imread(str(bg_file))[:, :, ::-1]
        wait_for(obs, "photo", corner(back_rgb[2, 2]), "the image background", 60)
        bg_file.unlink()  # in use: the loaded picture stays until the settings change
        time.sleep(1.0)
        wait_for(obs, "photo", corner(back_rgb[2, 2]), "the background after its file was deleted", 30)
        ws.set_source_filter_settings("photo", "bg", {"background_fit": "stretch"}, True)  # reloads: missing
        wait_for(obs, "photo", nothing, "nothing drawn with the file gone", 60)
        expected_pass_lines.append(f"not found: {bg_file}")
        green = np.zeros((H, W, 3), np.uint8)
        green[:, :, 1] = 200
        write_rgb(bg_file, green)  # replaced: the next settings change picks it up
        ws.set_source_filter_settings("photo", "bg", {"background_fit": "cover"}, True)
        wait_for(obs, "photo", corner((0, 200, 0)), "the replaced background file", 60)
        bg_file.write_bytes(b"\x89PNG truncated")  # replaced by a broken file
        ws.set_source_filter_settings("photo", "bg", {"background_fit": "contain"}, True)
        wait_for(obs, "photo", nothing, "nothing drawn on a broken file", 60)
        expected_pass_lines.append("cannot decode background image")
        times["7 background file"] = time.monotonic() - t

        # 8. Close while the worker is busy: CPU path with halo removal on a big frame, a
        # model switch requested just before the close.
        ws.set_input_settings("photo", {"file": str(write_rgb(tmp_path / "big.png", person(1920, 1080)))}, True)
        ws.set_source_filter_settings("photo", "bg", {"background_type": "color", "background_color": RED,
                                                      "compositing": "cpu", "halo_removal": True}, True)
        wait_for(obs, "photo", corner((255, 0, 0)), "the CPU path at 1080p", 90)
        ws.set_source_filter_settings("photo", "bg", {"model": "landscape"}, True)
        ws.set_source_filter_settings("clip", "bg", {"model": "landscape"}, True)
        rc = obs.close()
        log = obs.log_text()

    base_rc, base_leaks = oh.baseline_leaks(tmp_path / "home-baseline", main_img, W, H, FPS)

    with capsys.disabled():
        print("\nhostile OBS session, seconds per case:")
        for k, v in times.items():
            print(f"  {k}: {v:.1f}")
        for line in log.splitlines():
            if "summary:" in line or "still running" in line:
                print("  " + line.split("] ", 1)[-1])

    assert rc == 0 and base_rc == 0, f"OBS exit code {rc}"
    tracebacks = oh.python_tracebacks(log)
    assert not tracebacks, "Python traceback in the OBS log:\n" + "\n".join(tracebacks)
    leaks = oh.leak_count(log)
    assert leaks is not None and base_leaks is not None and leaks <= base_leaks, (leaks, base_leaks)
    assert re.search(r"script unloaded \(\d+ filter\(s\) released", log)
    assert "rendering failed" not in log and "unexpected error" not in log
    pass_lines = [ln for ln in log.splitlines() if PASS_LINE in ln]
    for problem in expected_pass_lines:
        n = sum(problem in ln for ln in pass_lines)
        assert n == 1, f"{problem!r} logged {n} times (one line per distinct problem):\n" + "\n".join(pass_lines)
    assert times["3 100 changes, s"] <= 20, "settings changes were not taken at 10 per second"
