"""The kernel warm-up (obs_filter/warmup.py): after it, a live frame compiles nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_FRAME = """
import sys
sys.path[:0] = [{root!r}, {obs_tests!r}]
import numpy as np
from person_clip import person_image
from matting.pipeline import Pipeline
from matting.settings import Settings
img = person_image(1280, 720)
frame = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
for background, fuse in (("transparent", False), ("#00b140", True)):  # the GPU and the CPU path's calls
    p = Pipeline(Settings(background=background, threads=1, device="cpu"))
    for _ in range(3):
        f = frame.copy()
        _, alpha = p.process(f, order="RGB", out=f if fuse else None, fuse=fuse)
    assert alpha.max() == 255 and alpha.min() == 0, "the person must be found"
"""


def _cache_entries(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*.nbi")}


@pytest.mark.slow
def test_after_the_warm_up_a_real_first_frame_compiles_nothing(tmp_path):
    """numba's cache (NUMBA_CACHE_DIR, empty at first) holds after `python -m
    obs_filter.warmup` every kernel that a person's first frames need."""
    pytest.importorskip("skimage")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, "-m", "obs_filter.warmup"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "matting kernels compiled in" in run.stdout
    warmed = _cache_entries(tmp_path / "cache")
    assert warmed, "the warm-up wrote no cache"
    code = FIRST_FRAME.format(root=str(ROOT), obs_tests=str(ROOT / "tests" / "obs"))
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _cache_entries(tmp_path / "cache") == warmed, "kernels compiled after the warm-up"


def test_warm_up_thread_stops_when_asked_and_logs_nothing():
    from obs_filter import warmup

    stop = threading.Event()
    stop.set()
    lines = []
    t = warmup.start(log=lambda level, text: lines.append((level, text)), stop=stop)
    t.join(60)
    assert not t.is_alive() and lines == []
    assert t.name.startswith("obs_bg_replace:")  # script_unload waits for it like for the workers


def test_the_warm_up_gives_way_to_a_filter_worker():
    """A filter's worker compiles what it needs itself: while one runs the warm-up thread
    ends after its current frame (at OBS's exit it must not be compiling for nobody)."""
    from obs_filter import warmup

    done = threading.Event()
    worker = threading.Thread(target=done.wait, name="obs_bg_replace:a filter", daemon=True)
    worker.start()  # a worker thread already there (a script reload): no warm-up at all
    lines = []
    try:
        t = warmup.start(log=lambda level, text: lines.append((level, text)))
        t.join(60)
        assert not t.is_alive() and lines == []  # ended early: no "kernels ready" line
    finally:
        done.set()
        warmup._GIVE_WAY.clear()
