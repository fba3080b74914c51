"""The worker thread of one filter: runs the matting pipeline on the newest frame.

OBS's graphics thread only submits frames (a one-frame slot: a newer frame replaces an
unprocessed older one) and picks up the newest result; it never waits for inference.
"""

from __future__ import annotations

import math
import threading
import time
from collections import namedtuple

import numpy as np

from matting.errors import MattingError
from matting.settings import Settings

from . import edges
from . import libobs as ol
from .capture import COUNTDOWN_S, FRAMES as CAPTURE_DEFAULT_FRAMES, Capture


def short_error(exc: BaseException) -> str:
    """The first line of an exception's message (for the status line and the log)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# GPU path: ``array`` is the matte; ``background`` an RGBA picture to draw behind (the
# image once prepared at the frame's size: the same object while it lasts; a video frame
# at the matte's size, the blur at 1/8: new each frame), ``edge`` and ``wrap`` the edge
# options' textures (obs_filter.edges), or None. CPU path: ``array`` is the composite.
Result = namedtuple("Result", "seq path size array background edge wrap", defaults=(None, None))

# The worker's kernels run on one thread each: numba's, ONNX Runtime's and OpenCV's.
# Inside OBS the rasteriser and OBS's own threads keep both cores busy, and a parallel
# region waits at its join for a descheduled thread. numba, measured with the model on
# every frame (tools/obs_bench.py, 720p30, sync_off, alternated): worker 17.6-18.7 ->
# 13.2-14.4 ms a frame, OBS render 6.3-18.0 -> 2.4-4.2 ms, OBS CPU 85-88 -> 71-73 %.
# ONNX Runtime and OpenCV: their second thread mostly waits and wakes on a 256x256 model
# and grid-sized images. Offline (tools/worker_cost.py --threads 2:2,1:1, the 1080p GPU
# path's 960x540 readback, model on every frame): the same wall time a frame (5.8-6.0 ms)
# for two thirds of the CPU time (8.3-9.5 -> 6.2-6.5 ms). In OBS (720p30, still source,
# 4 runs before, 6 after, alternated; medians): OBS CPU 53 -> 48 % synchronised, 60 -> 57 %
# model on every frame, 46 -> 42 % CPU compositing; worker 3.3 -> 2.65 ms a frame
# synchronised. (The library keeps their defaults elsewhere.)
NUMBA_THREADS = 1
#: The pipeline's ``threads`` (the panel has no such setting): ONNX Runtime's intra-op
#: threads, and from 2 also the library's helper thread, whose kernels release the GIL
#: (matting/gil.py: in OBS that slowed the render thread, which then waited for the GIL).
MODEL_THREADS = 1
OPENCV_THREADS = 1


def _one_thread_kernels() -> None:
    """This thread's numba thread count (a per-thread setting) to NUMBA_THREADS, and
    OpenCV's (process-wide: only this filter uses OpenCV inside OBS) to OPENCV_THREADS."""
    try:
        import numba

        numba.set_num_threads(min(NUMBA_THREADS, numba.config.NUMBA_NUM_THREADS))
    except Exception as exc:  # numba missing or refusing: the kernels run as they would
        ol.log(ol.LOG_WARNING, f"numba threads left as they are: {short_error(exc)}")
    try:
        import cv2

        cv2.setNumThreads(OPENCV_THREADS)
    except Exception as exc:  # noqa: BLE001 - as above
        ol.log(ol.LOG_WARNING, f"OpenCV threads left as they are: {short_error(exc)}")


def _default_factory(settings):
    from matting.pipeline import Pipeline

    return Pipeline(settings)


# The GPU path's frame for the worker is the source drawn straight at a smaller size, with
# bilinear sampling: an exact box average only when it halves the frame. At 1080p the
# pipeline's own grid (640×360, a third) would be point sampling, measured on a held-out
# 1080p generated set (18 sequences, `tools/readback_quality.py`: the matte upsampled back
# as the shader does it): MAD 11.81 and flicker 0.81 against 11.08 and 0.64 for a 960×540
# readback (the library on the full frame: 10.96, 0.63). So the readback keeps its long
# side ≤ 960 px (720p → 640×360, 1080p → 960×540, 4K → 960×540) and the pipeline takes
# its grid from there.
READBACK_LONG_SIDE = 960


def _default_grid(h, w):
    """(height, width) the GPU path reads the frame back at."""
    f = max(1, math.ceil(max(h, w) / READBACK_LONG_SIDE))
    return max(1, round(h / f)), max(1, round(w / f))


CAPTURE_FRAMES = CAPTURE_DEFAULT_FRAMES  # frames averaged into a captured plate (about a second)

# numba's default threading layer must not be entered from two threads at once, and two
# filters would only fight over the same cores: one pipeline runs at a time.
_PROCESS_LOCK = threading.Lock()


class Worker:
    """Runs the pipeline on the latest submitted frame; never blocks the caller."""

    def __init__(self, name: str, factory=None, grid=None):
        self._factory = factory or _default_factory
        self.grid = grid or _default_grid
        self._cond = threading.Condition()
        self._frame = None  # (seq, array, (w, h), path, epoch): one slot, newer replaces older
        self._epoch = 0  # bumped by pause(): a frame in flight then is not published
        self._pending = None  # (Settings, path) to apply before the next frame
        self._reset = False
        self._stop = False
        self._result = None
        self.error = None  # settings-level error (model/background/device): the filter's safe picture
        self.frame_error = None  # last per-frame error
        self.pipeline = None
        self.provider = ""
        self.timings = {}
        self.fps = 0.0
        self.frames = 0
        self.sum_inference = self.sum_total = 0.0
        self.total_frames, self.total_ms = 0, 0.0  # never reset (obs_filter.stats)
        self.cpu_ms = 0.0  # CPU time of this thread so far (its own clock, read after each frame)
        self._bg = None  # (spec, matting Background) for the GPU path's image, video and blur backgrounds
        self._wrap = None
        self._edges = (False, 0.0)  # GPU path: (halo removal, light wrap) prepared by the worker
        self._last_done = None
        self._seq = 0
        self._applied = None  # (Settings, path) in use, for the log of changes
        self.known_status = ""  # the pipeline's known-background status line
        self.capture = None  # obs_filter.capture.Capture of the last "Capture" press
        self._forget = False  # "Forget captured background" pressed: drop the plate
        self.captured = None  # path of the last plate captured (the filter stores it)
        # (spec, (w, h)), RGBA array: the image or video background alone at the frame's size,
        # published before the frame's matte (the filter's safe picture until one exists)
        self.safe_background = None
        self.fail_next = False  # the test hook (obs_filter.filter.TEST_HOOKS): fail on the next frame
        from . import warmup

        warmup.give_way()  # this worker compiles what it needs; the warm-up would only hold the lock
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    # called from OBS threads
    def configure(self, settings: Settings, path: str) -> None:
        with self._cond:
            self._pending = (settings, path)
            self.error = None
            self._cond.notify()

    def submit(self, frame: np.ndarray, size, path: str, seq: int | None = None) -> int:
        """Hand over a frame (replacing one not started yet) with its frame number ``seq``
        (by default one more than the last); its result carries it. Returns it."""
        with self._cond:
            self._seq = self._seq + 1 if seq is None else seq
            self._frame = (self._seq, frame, size, path, self._epoch)
            self._cond.notify()
            return self._seq

    def capture_background(self, path: str, countdown_s: float = COUNTDOWN_S) -> None:
        """After a countdown, average the next ``CAPTURE_FRAMES`` frames into the known
        background's plate and save it to ``path`` (:attr:`captured` is then set to the
        path), unless the model's matte finds a person in them (obs_filter.capture)."""
        with self._cond:
            self.capture = Capture(path, countdown_s, CAPTURE_FRAMES)

    def forget_background(self) -> None:
        """Drop the captured plate (the known background goes back to learning or off)."""
        with self._cond:
            self._forget, self.capture = True, None
            self._cond.notify()

    def latest(self):
        return self._result

    def pause(self) -> None:
        """Drop the pending frame and the last result; the next frame starts fresh."""
        with self._cond:
            self._frame = None
            self._result = None
            self._reset = True
            self._last_done = None
            self._epoch += 1

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._frame = None
            self._cond.notify()

    # the thread
    def _run(self) -> None:
        _one_thread_kernels()
        while True:
            with self._cond:
                while not self._stop and self._frame is None and self._pending is None:
                    self._cond.wait()
                if self._stop:
                    break
                pending, self._pending = self._pending, None
                job, self._frame = self._frame, None
                reset, self._reset = self._reset, False
            try:
                if pending is not None:
                    self._apply(*pending)
                if job is not None and self.error is None and self.pipeline is not None:
                    if reset:
                        self.pipeline.reset()
                    self._process(*job)
            except MattingError as exc:
                self._fail(exc, sticky=pending is not None)
            except Exception as exc:  # noqa: BLE001 - a bug: log it in full, keep OBS alive
                import traceback

                ol.log(ol.LOG_ERROR, "unexpected error in the worker:\n" + traceback.format_exc())
                self._fail(exc, sticky=True)
        self.pipeline = None  # frees the ONNX session with the thread

    def _fail(self, exc, sticky: bool) -> None:
        msg = short_error(exc)
        if sticky:
            self.error = msg
            # settings that did not apply: their picture is not the one chosen (a background
            # file gone, say); the safe picture is then nothing until settings apply again
            self.safe_background = None
        else:
            self.frame_error = msg
        self._result = None

    def _apply(self, settings: Settings, path: str) -> None:
        # The GPU path blends on the GPU: the worker only needs the matte (and, for halo
        # removal, the colour means, which the pipeline computes for an opaque background).
        spec = settings.background
        halo = settings.halo_removal and spec != "transparent"
        pipe_settings = settings.replace(background="#000000" if halo else "transparent") if path == "gpu" else settings
        pipe_settings = pipe_settings.replace(threads=MODEL_THREADS)
        t0 = time.perf_counter()
        with _PROCESS_LOCK:
            if self.pipeline is None:
                if self._stop:  # the filter went while this waited for the lock: load nothing
                    return
                self.pipeline = self._factory(pipe_settings)
                ol.log(ol.LOG_INFO, f"{self.thread.name}: model {settings.model!r} loaded in "
                                    f"{time.perf_counter() - t0:.2f} s on {self.pipeline.provider}")
                _log_onnxruntime_once()
            else:
                self.pipeline.configure(pipe_settings)
        self.provider = getattr(self.pipeline, "provider", "")
        if self._applied is not None:
            changed = [f"{k}={v}" for k, v in vars(settings).items() if getattr(self._applied[0], k) != v]
            if path != self._applied[1]:
                changed.append(f"compositing={path}")
            if changed:
                ol.log(ol.LOG_INFO, f"{self.thread.name}: applied {', '.join(changed)}")
        if self.safe_background is not None and self.safe_background[0][0] != settings.background:
            self.safe_background = None
        self._applied = (settings, path)
        if path == "gpu" and spec != "transparent" and not spec.startswith("#"):
            key = (spec, settings.background_fit)
            if self._bg is None or self._bg[0] != key or self._bg[1].outdated:
                from matting.background import Background

                if self._bg is not None:
                    self._bg[1].close()
                self._bg = (key, Background(spec, settings.background_fit, settings.blur_strength))
            self._bg[1].blur_strength = settings.blur_strength
        else:
            if self._bg is not None:
                self._bg[1].close()
            self._bg = None
        self._wrap = None  # (background array, its blurred copy) for a still background
        self._edges = (halo and path == "gpu", settings.light_wrap if path == "gpu" and spec != "transparent" else 0.0)
        self._result = None  # a result of the old settings could show the old background

    def _capture_frame(self, cap, frame, alpha) -> None:
        """One recorded frame with its matte; when enough: the plate, or a refusal."""
        self.known_status = f"known background: capturing ({len(cap.frames) + 1}/{cap.want})"
        if not cap.add(frame, alpha):
            return
        refusal = cap.verdict()
        if refusal:
            cap.finish("refused", refusal)
            ol.log(ol.LOG_WARNING, f"{self.thread.name}: {refusal}")
            return
        try:
            self.pipeline.capture_background(cap.frames, order="RGB")
            self.pipeline.known_bg.save(cap.path)
        except (MattingError, OSError) as exc:
            cap.finish("failed", f"Capture failed: {short_error(exc)}")
            ol.log(ol.LOG_WARNING, f"{self.thread.name}: {cap.message}")
            return
        n = len(cap.frames)
        cap.finish("captured", "Empty room captured")
        self.captured = cap.path
        ol.log(ol.LOG_INFO, f"{self.thread.name}: background plate captured from {n} frames → {cap.path}")

    def _publish_safe_background(self, size, path) -> None:
        """The chosen image or video background alone at this size (see safe_background):
        from the GPU path's prepared background, or the CPU path's pipeline (for a video,
        one of its frames)."""
        spec = self._applied[0].background if self._applied else "transparent"
        if spec in ("transparent", "blur") or spec.startswith("#"):
            self.safe_background = None
            return
        if self.safe_background is not None and self.safe_background[0] == (spec, size):
            return
        bg = self._bg[1] if path == "gpu" and self._bg is not None else getattr(self.pipeline, "background", None)
        w, h = size
        arr = bg.frame(h, w, 4, "RGB") if bg is not None else None
        if arr is not None:
            self.safe_background = ((spec, size), np.array(arr))  # a copy: a video reuses its buffer

    def _process(self, seq, frame, size, path, epoch) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("test hook: the worker failed on purpose (OBS_BG_REPLACE_TEST_HOOKS)")
        self._publish_safe_background(size, path)
        if self._forget:
            self._forget = False
            self.pipeline.set_background_plate(None)
        cap = self.capture
        # copied before a CPU composite overwrites the frame
        recorded = frame[:, :, :3].copy() if cap is not None and cap.recording() else None
        with _PROCESS_LOCK:
            # The GPU path blends on the GPU: the matte alone (no composite to allocate and fill).
            composite, alpha = self.pipeline.process(frame, order="RGB", out=None if path == "gpu" else frame,
                                                     fuse=path != "gpu")
        if recorded is not None:
            self._capture_frame(cap, recorded, alpha)
        background = edge = wrap = None
        if path == "gpu":
            background, edge, wrap = self._gpu_extras(frame, alpha, size)
        with self._cond:
            if epoch != self._epoch:
                return
            self._result = Result(seq, path, size, alpha if path == "gpu" else composite, background, edge, wrap)
        self.frame_error = None
        if cap is None or not cap.busy():
            self.known_status = getattr(self.pipeline, "known_background_status", "")
        t = dict(getattr(self.pipeline, "timings", {}) or {})
        self.timings = t
        self.frames += 1
        self.sum_inference += t.get("inference", 0.0)
        self.sum_total += t.get("total", 0.0)
        self.total_frames += 1
        self.total_ms += t.get("total", 0.0)
        self.cpu_ms = 1e3 * time.thread_time()
        now = time.perf_counter()
        if self._last_done is not None:
            dt = max(now - self._last_done, 1e-6)
            self.fps = 1.0 / dt if self.fps == 0 else 0.8 * self.fps + 0.2 / dt
        self._last_done = now

    def _gpu_extras(self, frame, alpha, size):
        """The GPU path's background picture and edge textures for this frame
        (obs_filter.edges): (background, edge, wrap), each an RGBA array or None."""
        w, h = size
        background = wrap = edge = None
        bg = self._bg[1] if self._bg is not None else None
        if bg is not None:
            if bg.kind == "blur":
                background = edges.blur_background(bg, frame, h, w)
            elif bg.kind == "video":  # the next frame, at the matte's size (its own array: sent on)
                background = bg.frame(frame.shape[0], frame.shape[1], 4, "RGB").copy()
            else:
                background = bg.frame(h, w, 4, "RGB")  # prepared once per size, cached
        halo, light = self._edges
        if light > 0 and background is not None:
            if bg.dynamic:
                wrap = edges.wrap_image(background, h, w, small=bg.kind == "blur")
            else:  # a still picture: blurred once
                if self._wrap is None or self._wrap[0] is not background:
                    self._wrap = (background, edges.wrap_image(background, h, w))
                wrap = self._wrap[1]
        if halo or light > 0:
            shape = alpha.shape
            box, means = getattr(self.pipeline, "edge_colours", ((0, 0, 0, 0), None))
            shift = edges.halo_shift(frame, alpha, box, means) if halo else None
            gain = None
            if light > 0 and hasattr(self.pipeline, "light_wrap_gain"):
                gain = edges.wrap_gain(self.pipeline.light_wrap_gain(), shape)
            edge = edges.edge_texture(shape, shift, gain)
        return background, edge, wrap


def _log_onnxruntime_once() -> None:
    """Name the onnxruntime build and native libraries really in the process (another OBS
    plugin may have loaded its own onnxruntime first), once, after the first session."""
    from . import ortinfo

    st = ol.store()
    if not getattr(st, "ort_logged", False):
        st.ort_logged = True
        try:
            ol.log(ol.LOG_INFO, ortinfo.describe())
        except Exception as exc:  # noqa: BLE001 - a log line must not stop the filter
            ol.log(ol.LOG_WARNING, f"could not describe onnxruntime: {exc}")
