"""Compile the matting kernels before the first live frame needs them.

numba compiles a kernel on its first call: on a fresh checkout that took 20-40 s inside
OBS, so the first matte came that late. :func:`warm_kernels` runs the pipeline on a few
small frames with every compositing variant the filter uses, which compiles each kernel
(or loads it from numba's on-disk cache: ``cache=True``, kept in ``__pycache__`` beside
the modules, or in ``$NUMBA_CACHE_DIR`` when that is set). It runs

* at script load, on a background thread (:func:`start`), so OBS never waits for it and
  the worker's first frame finds the kernels ready (or compiling already: numba compiles
  each kernel once, under its own lock);
* after "Install packages", in the new venv's interpreter (``python -m
  obs_filter.warmup``), so the cache is filled before the filter first runs.

The model's output is replaced by a drawn disc on these frames only: a synthetic frame
holds no person, and the post-processing, refinement and compositing kernels only run
where the matte has an edge. The ONNX model itself needs no compiling.
"""

from __future__ import annotations

import sys
import threading
import time

THREAD_NAME = "obs_bg_replace:warm-up"
# (background, fuse): the GPU path's matte only, and the CPU path's composites.
VARIANTS = (("transparent", False), ("#00b140", True), ("transparent", True), ("blur", True))
SIZES = ((90, 160), (720, 1280))  # one at grid size, one the pipeline shrinks (its area kernels)
# Set once a filter's worker exists: it compiles what it needs on first use, and the
# warm-up holding the kernels' lock would only delay it (and, compiling from a cold cache
# at OBS's exit, outlive the script). The warm-up is for filters added later.
_GIVE_WAY = threading.Event()


def give_way() -> None:
    """A filter's worker started: the warm-up ends after the frame it is on."""
    _GIVE_WAY.set()


def _workers_running() -> bool:
    return any(t.name.startswith("obs_bg_replace:") and t.name != THREAD_NAME for t in threading.enumerate())


def _disc(h: int, w: int):
    import numpy as np

    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((x - w / 2) / (0.3 * w), (y - h * 0.6) / (0.45 * h))
    return np.clip(1.5 - r, 0.0, 1.0).astype(np.float32)  # a soft-edged blob


def warm_kernels(model: str = "general", lock=None, stop=None) -> float:
    """Run each compositing variant on a few frames; the seconds it took. ``lock`` is
    held around each frame (the worker's: numba's threading layer must not be entered from
    two threads at once); a set ``stop`` event ends it early."""
    import contextlib

    import numpy as np

    from matting.pipeline import Pipeline
    from matting.settings import Settings

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    for background, fuse in VARIANTS:
        pipe = Pipeline(Settings(model=model, device="cpu", background=background, threads=1))
        pipe.segmenter.run = lambda tensor, seg=pipe.segmenter: _disc(*seg.input_hw)
        for h, w in SIZES:
            for _ in range(3):  # the first frame detects; later ones track, fuse and may carry
                if stop is not None and stop.is_set():
                    return time.perf_counter() - t0
                frame = rng.integers(0, 256, (h, w, 4), np.uint8)
                with lock or contextlib.nullcontext():  # as the worker calls it:
                    pipe.process(frame, order="RGB", out=frame if fuse else None, fuse=fuse)
        pipe.background.close()
    return time.perf_counter() - t0


def start(log=None, stop=None) -> threading.Thread:
    """:func:`warm_kernels` on a daemon thread, one kernel thread like the worker's;
    ``log(level, text)`` gets one line; ``stop`` (an Event) ends it early."""
    from .worker import _PROCESS_LOCK, _one_thread_kernels

    def run():
        try:
            _one_thread_kernels()
            secs = warm_kernels(lock=_PROCESS_LOCK, stop=either)
            if either.is_set():
                return
            if log:
                log("info", f"matting kernels ready in {secs:.1f} s (compiled or loaded from numba's cache)")
        except Exception as exc:  # noqa: BLE001 - the worker compiles on first use instead
            if log:
                log("warning", f"kernel warm-up failed ({type(exc).__name__}: {exc}); they compile on first use")

    class _Either:  # ``stop`` or a filter's worker started (give_way)
        @staticmethod
        def is_set() -> bool:
            return (stop is not None and stop.is_set()) or _GIVE_WAY.is_set()

    either = _Either()
    _GIVE_WAY.clear()
    if _workers_running():  # a script reload with filters already working
        _GIVE_WAY.set()
    t = threading.Thread(target=run, name=THREAD_NAME, daemon=True)
    t.start()
    return t


if __name__ == "__main__":  # the installer: fill numba's cache with the venv's interpreter
    print(f"matting kernels compiled in {warm_kernels():.1f} s")
    sys.exit(0)
