"""The filter's counters (obs_filter/stats.py) and tools/obs_bench.py's arithmetic."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from obs_filter import stats as S  # noqa: E402


def test_window_gives_counts_and_matte_age_between_two_snapshots():
    c = S.Counters()
    c.add(renders=3, readback_ms=1.5)
    c.age(0)
    c.age(2)
    a = c.snapshot(worker_frames=1)
    c.add(renders=2, readback_ms=0.5)
    for age in (1, 1, 3, 99):
        c.age(age)
    b = c.snapshot(worker_frames=4)
    d = S.window(a, b)
    assert d["renders"] == 2 and d["readback_ms"] == pytest.approx(0.5) and d["worker_frames"] == 3
    assert d["age_frames"] == 4 and d["age_max"] == S.AGE_BINS - 1  # 99 lands in the last bin
    assert d["age_mean"] == pytest.approx((1 + 1 + 3 + S.AGE_BINS - 1) / 4)
    e = S.window(b, c.snapshot())
    assert e["age_frames"] == 0 and math.isnan(e["age_mean"]) and math.isnan(e["age_max"])


def test_stats_file_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(S.STATS_DIR_ENV, raising=False)
    c = S.Counters()
    c.maybe_write("cam")
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(S.STATS_DIR_ENV, str(tmp_path))
    c = S.Counters()
    c.add(ticks=5)
    c.maybe_write("my cam/1", path="gpu")
    data = json.loads((tmp_path / "my_cam_1.json").read_text())
    assert data["ticks"] == 5 and data["path"] == "gpu" and len(data["age_hist"]) == S.AGE_BINS
    c.add(ticks=1)
    c.maybe_write("my cam/1")  # within 0.5 s: not rewritten
    assert json.loads((tmp_path / "my_cam_1.json").read_text())["ticks"] == 5


def test_obs_bench_options():
    sys.path.insert(0, str(ROOT / "tools"))
    import obs_bench

    assert obs_bench.parse_size("1280x720") == (1280, 720)
    for bad in ("720p", "10x10", "1280x"):
        with pytest.raises(Exception):
            obs_bench.parse_size(bad)
    with pytest.raises(SystemExit):
        obs_bench.main(["--cases", "none,bogus"])
    text = obs_bench.table({"size": "640x360", "fps": 10, "seconds": 1, "source": "still", "load_before": (1, 1, 1),
                            "load_after": (2, 2, 2), "cases": {"none": {"obs_render_ms": 0.5, "active_fps": 10.0}}})
    assert "| none | 0.50 |" in text and "–" in text


def test_obs_bench_backgrounds_and_cpu_hogs():
    sys.path.insert(0, str(ROOT / "tools"))
    import time

    import obs_bench

    assert obs_bench.parse_background("image+halo") == ("image", {"halo_removal": True, "light_wrap": 0.0})
    assert obs_bench.parse_background("blur+wrap+halo")[1] == {"halo_removal": True, "light_wrap": 0.5}
    files = {"image": "/x/bg.png", "video": "/x/bg.avi"}
    assert obs_bench.background_settings("video", files)["background_video"] == "/x/bg.avi"
    for bad in ("plaid", "image+sparkle"):
        with pytest.raises(ValueError):
            obs_bench.parse_background(bad)
        with pytest.raises(SystemExit):
            obs_bench.main(["--background", bad])
    with pytest.raises(SystemExit):
        obs_bench.main(["--cpu-hog", "-1"])
    # hogs run until stopped, and each also ends by itself after its limit
    hogs = obs_bench.start_hogs(2, 60)
    try:
        assert all(p.poll() is None for p in hogs)
    finally:
        obs_bench.stop_hogs(hogs)
    assert all(p.returncode is not None for p in hogs)
    short = obs_bench.start_hogs(1, 0.2)
    deadline = time.monotonic() + 30
    while short[0].poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert short[0].returncode == 0
    text = obs_bench.table({"size": "640x360", "fps": 10, "seconds": 1, "source": "still", "load_before": (1, 1, 1),
                            "cpu_hogs": 1, "cases": {"sync/blur": {"obs_render_ms": 0.5, "delays_ms": [100, 133],
                                                                   "shed_share": 0.25}}})
    assert "1 CPU hog(s)" in text and "| 100, 133 |" in text and "25%" in text


def test_window_leaves_out_values_unknown_in_either_snapshot():
    from obs_filter.stats import window

    a = {"time": 0.0, "delay_frames": None, "shed": 1, "age_hist": [0] * 32}
    b = {"time": 1.0, "delay_frames": 4, "shed": 3, "age_hist": [0] * 32}
    d = window(a, b)
    assert d["shed"] == 2 and "delay_frames" not in d
