"""End-to-end: under CPU hogs the filter gives way before OBS does (pytest -m obs).

A still 640×360 source at 30 fps with the filter (synchronised timing), and busy
processes beside OBS (two per core, each ending by itself): whenever OBS misses frames,
the filter is seen shedding (reading back fewer frames); the synchronised delay keeps
one value through the whole run, shedding included; and the filter says so in the log.
When the hogs are gone and OBS has time to spare again, the filter reads back every
frame again (checked only when the machine is quiet enough for OBS to have that time:
this machine is shared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import cv2
import pytest

import obs_harness as oh
from test_obs_e2e import person_image

pytestmark = pytest.mark.obs

W, H, FPS = 640, 360, 30
SRC, FLT = "photo", "bg"
HOG = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


def stats(folder) -> dict:
    for _ in range(20):
        try:
            return json.loads((folder / f"{FLT}.json").read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    raise AssertionError("the filter wrote no stats")


def wait(folder, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = stats(folder)
        if pred(s):
            return s
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_filter_sheds_under_cpu_hogs(obs_available, tmp_path, capsys):
    img = tmp_path / "person.png"
    cv2.imwrite(str(img), cv2.resize(person_image(), (W, H))[:, :, ::-1])
    home, folder = tmp_path / "home", tmp_path / "stats"
    home.mkdir()
    folder.mkdir()
    report = {}
    hogs = []
    try:
        with oh.Obs(home, img, W, H, FPS, env={"OBS_BG_REPLACE_STATS_DIR": str(folder)}) as obs:
            obs.ws.create_source_filter(SRC, FLT, oh.FILTER_KIND, {"background_type": "color", "timing": "sync"})
            wait(folder, lambda s: s.get("delay_frames") is not None, 240, "the synchronised delay")
            hogs = [subprocess.Popen([sys.executable, "-c", HOG.format(limit=120)])
                    for _ in range(2 * (os.cpu_count() or 2))]
            a, s0 = stats(folder), obs.ws.get_stats()
            delays, levels = set(), set()
            t_end = time.monotonic() + 20
            while time.monotonic() < t_end:
                time.sleep(0.5)
                s = stats(folder)
                delays.add(s.get("delay_frames"))
                levels.add(s.get("shed_level"))
            b, s1 = stats(folder), obs.ws.get_stats()
            for p in hogs:
                p.kill()
            missed = s1.render_skipped_frames - s0.render_skipped_frames
            report["OBS frames missed (render lag) under the hogs"] = missed
            report["frames shed"] = b.get("shed", 0) - a.get("shed", 0)
            report["shed levels seen"] = sorted(levels)
            report["delays seen, frames"] = sorted(delays)
            # load gone: back to every frame where OBS has the time (not on a busy shared machine)
            try:
                wait(folder, lambda s: s.get("shed_level") == 1, 60, "every frame again")
                report["back to every frame"] = True
            except AssertionError:
                report["back to every frame"] = False
            report["OBS average frame ms after"] = obs.ws.get_stats().average_frame_render_time
            report["load average"] = os.getloadavg()[0]
            rc = obs.close()
            log = obs.log_text()
    finally:
        for p in hogs:
            p.kill()
            p.wait()
    with capsys.disabled():
        print("\nshedding under CPU hogs:")
        for k, v in report.items():
            print(f"  {k}: {v}")
    assert rc == 0
    assert not oh.python_tracebacks(log), oh.python_tracebacks(log)
    # OBS missing frames while the filter reads back every frame would be the stream paying.
    if report["OBS frames missed (render lag) under the hogs"] > 0:
        assert report["frames shed"] > 0 and max(report["shed levels seen"]) > 1, report
        assert "giving way to OBS: reading back every" in log
    assert len(report["delays seen, frames"]) == 1, report  # shedding never moves the delay
    if not report["back to every frame"]:
        # only acceptable while OBS itself is still short of time (others' load)
        assert report["OBS average frame ms after"] > 0.3 * 1e3 / FPS or report["load average"] > 2, report
