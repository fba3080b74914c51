"""Background Replace — an OBS Studio video filter (Tools → Scripts → + → this file).

Adds the filter "Background Replace" to any video source: the person stays, the
background becomes an image, a colour, or transparent. The matting itself is the
``matting`` package beside this file; libobs is reached through ``obs_libobs.py``.

Threads: OBS calls ``video_render`` on its graphics thread. It only copies the frame to
numpy and hands it to a worker thread (a one-frame slot: older frames are dropped), then
draws the most recent finished result, so inference never stalls OBS. Two compositing
paths give the same picture:

* ``gpu`` (default): the frame is read back at the pipeline's grid size (≤ 960 px), the
  worker returns an 8-bit matte, and a shader blends the full-size frame with it.
* ``cpu`` (reference): the full frame is read back, the worker composites it with
  matting's numba kernel, and the result is uploaded and drawn.

Where the packages come from: see docs/OBS.md. In short, the site-packages of
``$OBS_BG_REPLACE_PYTHONPATH`` (venvs or site-packages folders, os.pathsep-separated) or
of a ``.venv`` beside this file go first on ``sys.path``, before numpy is imported.
"""

from __future__ import annotations

import os
import site
import sys
import time


def _venv_site_packages(root: str) -> list[str]:
    """site-packages folders of a venv root (or the folder itself if it is one)."""
    if not os.path.isfile(os.path.join(root, "pyvenv.cfg")):
        return [root]
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    cands = [os.path.join(root, "Lib", "site-packages"), os.path.join(root, "lib", ver, "site-packages")]
    return [c for c in cands if os.path.isdir(c)]


def _add_package_paths() -> list[str]:
    """Put the filter's packages first on sys.path. All OBS scripts share one interpreter,
    so this must happen before anything imports numpy."""
    here = os.path.dirname(os.path.abspath(__file__))
    roots = [p for p in os.environ.get("OBS_BG_REPLACE_PYTHONPATH", "").split(os.pathsep) if p]
    if not roots and os.path.isdir(os.path.join(here, ".venv")):
        roots = [os.path.join(here, ".venv")]
    added = []
    for root in roots:
        for sp in _venv_site_packages(os.path.abspath(os.path.expanduser(root))):
            if sp in sys.path:
                continue
            before = list(sys.path)
            site.addsitedir(sp)  # also runs its .pth files (editable installs)
            new = [p for p in sys.path if p not in before]
            sys.path[:] = new + before  # ahead of the system's dist-packages
            added += new
    if here not in sys.path:
        sys.path.insert(0, here)  # matting/ and obs_libobs.py live beside this file
    return added


_ADDED_PATHS = _add_package_paths()

import threading  # noqa: E402
from collections import namedtuple  # noqa: E402

import numpy as np  # noqa: E402

import obs_libobs as ol  # noqa: E402
from matting.errors import MattingError  # noqa: E402
from matting.io import VIDEO_SUFFIXES  # noqa: E402
from matting.settings import Settings  # noqa: E402

FILTER_ID = "obs_bg_replace_filter"
FILTER_NAME = "Background Replace"
MIN_SIDE = 16  # smaller sources are passed through (nothing to segment)
MAX_SIDE = 8192  # = matting.pipeline.MAX_SIDE; larger sources are passed through
STATS_REFRESH_S = 2.0  # how often an open properties panel gets new stats
STATS_QUIET_AFTER_EDIT_S = 3.0  # no refresh right after an edit (a refresh rebuilds the panel)

_D = Settings()
# OBS colours are 0xAABBGGRR.
DEFAULTS = {
    "background_type": "color",
    "background_image": "",
    "background_video": "",
    "background_fit": _D.background_fit,
    "blur_strength": float(_D.blur_strength),
    "background_color": 0xFF40B100,  # #00b140, matting's default green
    "model": "general",
    "model_path": "",
    "device": "auto",
    "compositing": "gpu",
    "smooth_alpha": float(_D.smooth_alpha),
    "smooth_beta": float(_D.smooth_beta),
    "roi_margin": float(_D.roi_margin),
    "min_area": float(_D.min_area),
    "keep_largest": bool(_D.keep_largest),
    "temporal_strength": float(_D.temporal_strength),
    "edge_detail": float(_D.edge_detail),
    # Halo removal and light wrap need the CPU composite (the GPU shader blends α·I +
    # (1−α)·B only), so in OBS they are opt-in and the fast GPU path stays the default.
    "halo_removal": False,
    "light_wrap": 0.0,
}


def colour_to_hex(abgr: int) -> str:
    """OBS colour int (0xAABBGGRR) → '#RRGGBB'."""
    return f"#{abgr & 0xFF:02x}{(abgr >> 8) & 0xFF:02x}{(abgr >> 16) & 0xFF:02x}"


def settings_from_obs(data) -> tuple[Settings, str]:
    """The filter's obs_data → (validated matting Settings, compositing path).
    Raises MattingError (SettingsError) with a message for the user."""
    btype = data.get_string("background_type") or "color"
    if btype in ("image", "video"):
        background = data.get_string(f"background_{btype}").strip()
        if not background:
            raise MattingError(f"background: choose a{'n image' if btype == 'image' else ' video'} file "
                               "(or pick a colour)")
    elif btype == "blur":
        background = "blur"
    elif btype == "transparent":
        background = "transparent"
    else:
        background = colour_to_hex(data.get_int("background_color"))
    model = data.get_string("model") or "general"
    if model == "custom":
        model = data.get_string("model_path").strip()
        if not model:
            raise MattingError("model: choose a custom .onnx file")
    settings = Settings(
        model=model,
        device=data.get_string("device") or "auto",
        background=background,
        smooth_alpha=data.get_double("smooth_alpha"),
        smooth_beta=data.get_double("smooth_beta"),
        roi_margin=data.get_double("roi_margin"),
        min_area=data.get_double("min_area"),
        keep_largest=data.get_bool("keep_largest"),
        temporal_strength=data.get_double("temporal_strength"),
        background_fit=data.get_string("background_fit") or "cover",
        blur_strength=data.get_double("blur_strength"),
        edge_detail=data.get_double("edge_detail"),
        halo_removal=data.get_bool("halo_removal"),
        light_wrap=data.get_double("light_wrap"),
    )
    path = "cpu" if data.get_string("compositing") == "cpu" or needs_cpu_composite(settings) else "gpu"
    return settings, path


def needs_cpu_composite(settings: Settings) -> bool:
    """Features the GPU shader does not do: a per-frame background (video, blur), the
    estimated foreground colour (halo removal) and light wrap."""
    return (settings.background == "blur" or settings.halo_removal or settings.light_wrap > 0
            or settings.background.lower().endswith(tuple(VIDEO_SUFFIXES)))


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# -- the worker thread -------------------------------------------------------------------
Result = namedtuple("Result", "seq path size array background")


def _default_factory(settings):
    from matting.pipeline import Pipeline

    return Pipeline(settings)


def _default_grid(h, w):
    from matting.pipeline import grid_size

    return grid_size(h, w)[:2]


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
        self.error = None  # settings-level error (model/background/device): pass through
        self.frame_error = None  # last per-frame error
        self.pipeline = None
        self.provider = ""
        self.timings = {}
        self.fps = 0.0
        self.frames = 0
        self.sum_inference = self.sum_total = 0.0
        self._bg = None  # (spec, matting Background) for the GPU path's image backgrounds
        self._last_done = None
        self._seq = 0
        self._applied = None  # (Settings, path) in use, for the log of changes
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    # called from OBS threads
    def configure(self, settings: Settings, path: str) -> None:
        with self._cond:
            self._pending = (settings, path)
            self.error = None
            self._cond.notify()

    def submit(self, frame: np.ndarray, size, path: str) -> None:
        with self._cond:
            self._seq += 1
            self._frame = (self._seq, frame, size, path, self._epoch)
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
        msg = _short_error(exc)
        if sticky:
            self.error = msg
        else:
            self.frame_error = msg
        self._result = None

    def _apply(self, settings: Settings, path: str) -> None:
        # The GPU path blends on the GPU: the worker only needs the matte.
        pipe_settings = settings.replace(background="transparent") if path == "gpu" else settings
        t0 = time.perf_counter()
        with _PROCESS_LOCK:
            if self.pipeline is None:
                self.pipeline = self._factory(pipe_settings)
                ol.log(ol.LOG_INFO, f"{self.thread.name}: model {settings.model!r} loaded in "
                                    f"{time.perf_counter() - t0:.2f} s on {self.pipeline.provider}")
            else:
                self.pipeline.configure(pipe_settings)
        self.provider = getattr(self.pipeline, "provider", "")
        if self._applied is not None:
            changed = [f"{k}={v}" for k, v in vars(settings).items() if getattr(self._applied[0], k) != v]
            if path != self._applied[1]:
                changed.append(f"compositing={path}")
            if changed:
                ol.log(ol.LOG_INFO, f"{self.thread.name}: applied {', '.join(changed)}")
        self._applied = (settings, path)
        spec = settings.background
        if path == "gpu" and spec != "transparent" and not spec.startswith("#"):
            if self._bg is None or self._bg[0] != (spec, settings.background_fit):
                from matting.background import Background

                self._bg = ((spec, settings.background_fit), Background(spec, settings.background_fit))
        else:
            self._bg = None
        self._result = None  # a result of the old settings could show the old background

    def _process(self, seq, frame, size, path, epoch) -> None:
        with _PROCESS_LOCK:
            composite, alpha = self.pipeline.process(frame, order="RGB", out=None if path == "gpu" else frame)
        background = None
        if path == "gpu" and self._bg is not None:
            w, h = size
            background = self._bg[1].frame(h, w, 4, "RGB")  # prepared once per size, cached
        with self._cond:
            if epoch != self._epoch:
                return
            self._result = Result(seq, path, size, alpha if path == "gpu" else composite, background)
        self.frame_error = None
        t = dict(getattr(self.pipeline, "timings", {}) or {})
        self.timings = t
        self.frames += 1
        self.sum_inference += t.get("inference", 0.0)
        self.sum_total += t.get("total", 0.0)
        now = time.perf_counter()
        if self._last_done is not None:
            dt = max(now - self._last_done, 1e-6)
            self.fps = 1.0 / dt if self.fps == 0 else 0.8 * self.fps + 0.2 / dt
        self._last_done = now


# -- one filter instance ----------------------------------------------------------------
class BgReplaceFilter:
    """State of one "Background Replace" filter. ``source`` is an obs_libobs.FilterSource,
    ``gfx`` an obs_libobs.Graphics (fakes of both in the fast tests)."""

    def __init__(self, source, gfx, factory=None, grid=None):
        self.source = source
        self.gfx = gfx
        self.name = source.name  # for messages; OBS may have dropped the name at shutdown
        self.worker = Worker(f"obs_bg_replace:{self.name}", factory, grid)
        self.settings = None
        self.path = "gpu"
        self.colour = (0.0, 0.0, 0.0)
        self.error = None  # settings that do not validate
        self.size_error = None
        self.closed = False
        self._logged = set()
        self._shown_seq = None  # result already uploaded
        self._bg_uploaded = None
        self._mask_tex = self._comp_tex = self._bg_tex = None
        self.active = True
        self.render_ms = 0.0
        self.renders = 0
        self.sum_render = self.sum_capture = self.sum_read = self.sum_draw = 0.0  # ms, for the summary line
        self._since_refresh = 0.0
        self._last_edit = 0.0
        self._last_stats = ""

    # settings
    def update(self, data) -> None:
        self._last_edit = time.monotonic()
        self.name = self.source.name or self.name
        try:
            settings, path = settings_from_obs(data)
        except MattingError as exc:
            self.error = _short_error(exc)
            self._report(self.error)
            return
        if self.settings is not None and path != self.path:
            self.log_summary()
        self.error = None
        self.settings, self.path = settings, path
        bg = settings.background
        if bg.startswith("#"):
            self.colour = tuple(int(bg[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
        self.worker.configure(settings, path)

    # status
    def message(self) -> str | None:
        return self.error or self.size_error or self.worker.error or self.worker.frame_error

    def _report(self, msg: str) -> None:
        """One log line per distinct problem (the stats line shows it while it lasts)."""
        if msg and msg not in self._logged:
            self._logged.add(msg)
            ol.log(ol.LOG_WARNING, f"filter '{self.name}': {msg} — passing the frame through")

    def stats_text(self) -> str:
        msg = self.message()
        if msg:
            return f"Error: {msg} (the frame passes through unchanged)"
        if self.settings is None or self.worker.frames == 0:
            return "Loading the model…" if self.active else "Paused (source hidden)"
        t = self.worker.timings
        device = (self.worker.provider or "?").replace("ExecutionProvider", "")
        state = "" if self.active else " · paused"
        return (f"inference {t.get('inference', 0):.1f} ms · total {t.get('total', 0):.1f} ms · "
                f"worker {self.worker.fps:.1f} fps · device {device} · render {self.render_ms:.2f} ms · "
                f"{self.path.upper()} compositing{state}")

    def log_summary(self) -> None:
        w = self.worker
        if self.renders == 0:
            return
        n = max(w.frames, 1)
        ol.log(ol.LOG_INFO, f"filter '{self.name}' summary: path={self.path} renders={self.renders} "
                            f"render_ms_mean={self.sum_render / self.renders:.3f} "
                            f"(capture {self.sum_capture / self.renders:.3f}, readback {self.sum_read / self.renders:.3f}, draw {self.sum_draw / self.renders:.3f}) "
                            f"worker_frames={w.frames} "
                            f"inference_ms_mean={w.sum_inference / n:.2f} total_ms_mean={w.sum_total / n:.2f} "
                            f"device={w.provider or '?'}")
        self.renders = 0
        self.sum_render = self.sum_capture = self.sum_read = self.sum_draw = 0.0
        w.frames, w.sum_inference, w.sum_total = 0, 0.0, 0.0

    # OBS callbacks
    def show(self) -> None:
        self.active = True

    def hide(self) -> None:
        self.active = False
        self.worker.pause()

    def video_tick(self, seconds: float) -> None:
        active = self.source.enabled() and self.source.showing()
        if active != self.active:
            self.show() if active else self.hide()
        msg = self.message()
        if msg:
            self._report(msg)
        self._since_refresh += seconds
        if self._since_refresh >= STATS_REFRESH_S:
            self._since_refresh = 0.0
            text = self.stats_text()
            if text != self._last_stats and time.monotonic() - self._last_edit > STATS_QUIET_AFTER_EDIT_S:
                self._last_stats = text
                self.source.update_properties()

    def video_render(self) -> None:
        if self.closed or self.error or self.worker.error or self.settings is None:
            self.source.skip()
            return
        w, h = self.source.target_size()
        if w == 0 or h == 0:  # not loaded yet: nothing to say
            self.source.skip()
            return
        if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
            self.size_error = f"source size {w}x{h} is outside {MIN_SIDE}..{MAX_SIDE} pixels per side"
            self.source.skip()
            return
        self.size_error = None
        t0 = time.perf_counter()
        tex = self.gfx.capture(self.source, w, h)
        if not tex:
            self.source.skip()
            return
        tc = time.perf_counter()
        path = self.path
        if path == "gpu":
            gh, gw = self.worker.grid(h, w)
            small = self.gfx.scaled(tex, w, h, gw, gh)
            frame = self.gfx.read(small, gw, gh) if small else None
        else:
            frame = self.gfx.read(tex, w, h)
        t1 = time.perf_counter()
        if frame is not None:
            self.worker.submit(frame, (w, h), path)
        self._draw(self.worker.latest(), tex, w, h, path)
        t2 = time.perf_counter()
        ms = 1e3 * (t2 - t0)
        self.render_ms = ms if self.renders == 0 else 0.9 * self.render_ms + 0.1 * ms
        self.renders += 1
        self.sum_render += ms
        self.sum_capture += 1e3 * (tc - t0)
        self.sum_read += 1e3 * (t1 - tc)
        self.sum_draw += 1e3 * (t2 - t1)

    def _draw(self, res, tex, w, h, path) -> None:
        """The latest finished result, or the frame unchanged before the first one."""
        if res is None or res.path != path or res.size != (w, h):
            self.gfx.draw(tex, w, h)
            return
        new = res.seq != self._shown_seq
        self._shown_seq = res.seq
        if path == "cpu":
            if new or self._comp_tex is None:
                self._comp_tex = self.gfx.upload("composite", res.array)
            self.gfx.draw(self._comp_tex, w, h)
            return
        if new or self._mask_tex is None:
            self._mask_tex = self.gfx.upload("mask", res.array)
        if self.settings.background == "transparent":
            self.gfx.draw_blend(tex, self._mask_tex, w, h)
        elif res.background is not None:
            if res.background is not self._bg_uploaded or self._bg_tex is None:
                self._bg_tex = self.gfx.upload("background", res.background)
                self._bg_uploaded = res.background
            self.gfx.draw_blend(tex, self._mask_tex, w, h, background=self._bg_tex)
        elif self.settings.background.startswith("#"):
            self.gfx.draw_blend(tex, self._mask_tex, w, h, colour=self.colour)
        else:  # image background not prepared yet (settings just changed)
            self.gfx.draw(tex, w, h)

    def close(self, enter_graphics: bool = True) -> None:
        """Stop the worker and free GPU objects (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.log_summary()
        self.worker.stop()
        self.gfx.destroy(enter_graphics)
        self._mask_tex = self._comp_tex = self._bg_tex = None


# -- properties -------------------------------------------------------------------------
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*.*)"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v);;All files (*.*)"


def _on_background_type(props, data) -> bool:
    t = data.get_string("background_type")
    props.set_visible("background_image", t == "image")
    props.set_visible("background_video", t == "video")
    props.set_visible("background_fit", t in ("image", "video"))
    props.set_visible("blur_strength", t == "blur")
    props.set_visible("background_color", t == "color")
    return True


def _on_model(props, data) -> bool:
    props.set_visible("model_path", data.get_string("model") == "custom")
    return True


def build_properties(props, filt) -> None:
    """Fill an obs_libobs.Properties (or a fake) with the filter's controls."""
    p = props.add_list("background_type", "Background", [("Image", "image"), ("Video (loops)", "video"),
                                                         ("Blur of the real background", "blur"),
                                                         ("Solid colour", "color"),
                                                         ("Transparent (stack over other sources)",
                                                          "transparent")])
    props.on_modified(p, _on_background_type)
    props.add_path("background_image", "Background image", IMAGE_FILTER)
    props.add_path("background_video", "Background video", VIDEO_FILTER)
    props.add_list("background_fit", "Fit", [("Cover (crop to fill)", "cover"), ("Contain (letterbox)", "contain"),
                                             ("Stretch", "stretch")])
    props.add_float("blur_strength", "Blur strength", 0.0, 1.0, 0.01)
    props.add_color("background_color", "Background colour")
    p = props.add_list("model", "Model", [("General (256×256, close-ups)", "general"),
                                          ("Landscape (144×256, faster)", "landscape"),
                                          ("Custom .onnx file", "custom")])
    props.on_modified(p, _on_model)
    props.set_tooltip(props.add_path("model_path", "Custom model", "ONNX model (*.onnx);;All files (*.*)"),
                      "Any ONNX model with one RGB image input (values 0–1, NCHW or NHWC; a dynamic size runs at "
                      "256 px on the short side) and a person matte output: 1 channel (probability, or logits → "
                      "sigmoid) or 2 channels (background, person; logits → softmax). RVM-style recurrent models "
                      "(src, r1i…r4i, downsample_ratio → pha, r1o…r4o) keep their state from frame to frame and "
                      "always see the whole frame (no ROI crop). Details: models/MODEL_CARD.md")
    props.add_list("device", "Inference device", [("Auto (best available)", "auto"), ("DirectML (Windows)", "dml"),
                                                  ("CUDA (NVIDIA)", "cuda"), ("CoreML (macOS)", "coreml"),
                                                  ("CPU", "cpu")])
    props.add_list("compositing", "Compositing", [("GPU shader (fast)", "gpu"), ("CPU (reference)", "cpu")])
    p = props.add_float("smooth_alpha", "Tracking smoothing α (1 = none)", 0.01, 1.0, 0.01)
    props.set_tooltip(p, "Weight of the newest person box; lower = steadier crop, slower to follow")
    p = props.add_float("smooth_beta", "Tracking trend β", 0.0, 1.0, 0.01)
    props.set_tooltip(p, "How quickly the crop learns the person's motion")
    props.add_float("roi_margin", "ROI margin (fraction of the person box)", 0.0, 1.0, 0.01)
    props.add_float("min_area", "Minimum blob area (fraction of the frame)", 0.0, 0.1, 0.001)
    props.add_bool("keep_largest", "Keep the largest person only")
    p = props.add_float("temporal_strength", "Temporal strength (0 = off)", 0.0, 0.95, 0.01)
    props.set_tooltip(p, "How much still pixels follow the previous frames (less flicker)")
    p = props.add_float("edge_detail", "Edge detail (0 = soft)", 0.0, 1.0, 0.01)
    props.set_tooltip(p, "How closely the matte's edge follows the picture's edges (hair, shoulders)")
    p = props.add_bool("halo_removal", "Halo removal (CPU compositing)")
    props.set_tooltip(p, "Removes the old room's colour from the soft edge; composites on the CPU")
    p = props.add_float("light_wrap", "Light wrap (CPU compositing)", 0.0, 1.0, 0.01)
    props.set_tooltip(p, "Spills a little of the new background onto the edge; composites on the CPU")
    text = filt.stats_text() if filt is not None else "Not running"
    props.add_info("stats", text, error=text.startswith("Error"))


# -- glue between libobs callbacks and instances -----------------------------------------
class Handler:
    """Bound to obs_libobs's trampolines: one method per obs_source_info callback."""

    def __init__(self, make_gfx=None, factory=None, grid=None):
        self.make_gfx = make_gfx or ol.Graphics
        self.factory, self.grid = factory, grid

    def _new(self, source_ptr, settings_ptr):
        filt = BgReplaceFilter(ol.FilterSource(source_ptr), self.make_gfx(), self.factory, self.grid)
        filt.update(ol.Data(settings_ptr))
        return filt

    def create(self, settings_ptr, source_ptr):
        return ol.new_key(self._new(source_ptr, settings_ptr))

    def destroy(self, key):
        filt = ol.instance(key)
        ol.drop_key(key)
        if isinstance(filt, BgReplaceFilter):
            filt.close()

    def get_defaults(self, settings_ptr):
        data = ol.Data(settings_ptr)
        for name, value in DEFAULTS.items():
            data.set_default(name, value)

    def get_properties(self, key):
        props = ol.Properties()
        build_properties(props, ol.instance(key))
        return props.ptr

    def update(self, key, settings_ptr):
        filt = ol.instance(key)
        if filt is not None:
            filt.update(ol.Data(settings_ptr))

    def show(self, key):
        filt = ol.instance(key)
        if filt is not None:
            filt.show()

    def hide(self, key):
        filt = ol.instance(key)
        if filt is not None:
            filt.hide()

    def video_tick(self, key, seconds):
        filt = ol.instance(key)
        if filt is not None:
            filt.video_tick(seconds)

    def video_render(self, key, _effect):
        filt = ol.instance(key)
        if filt is None:
            return
        try:
            filt.video_render()
        except Exception as exc:  # noqa: BLE001
            # Something failed mid-frame (GPU object, odd size): never leave the frame
            # undrawn, never retry every frame with a traceback each time.
            filt.error = f"rendering failed: {_short_error(exc)}"
            ol.log(ol.LOG_ERROR, f"filter '{filt.name}': {filt.error}")
            filt.source.skip()

    def filter_remove(self, key, _parent):
        filt = ol.instance(key)
        if filt is not None:
            filt.worker.pause()

    def on_callback_error(self, method, exc):
        ol.log(ol.LOG_ERROR, f"{method} failed: {_short_error(exc)}")


class PassThrough:
    """Bound while the script is unloaded: filters draw their source unchanged."""

    def create(self, _settings_ptr, source_ptr):
        return ol.new_key(_Dormant(ol.FilterSource(source_ptr)))

    def destroy(self, key):
        ol.drop_key(key)

    def video_render(self, key, _effect):
        filt = ol.instance(key)
        if filt is not None:
            filt.source.skip()

    def on_callback_error(self, method, exc):
        pass


class _Dormant:
    def __init__(self, source):
        self.source = source


# -- script API -------------------------------------------------------------------------
def script_description():
    return ("<b>Background Replace</b><br>Adds the video filter <i>Background Replace</i>: "
            "right-click a camera → Filters → + → Background Replace.")


def script_load(_settings):
    st = ol.store()
    fresh = ol.register_filter(FILTER_ID, FILTER_NAME)
    handler = Handler()
    with st.lock:
        # After a reload, filters created by the previous code are rebuilt with this code.
        for key, old in list(st.instances.items()):
            if isinstance(old, BgReplaceFilter) and not old.closed:
                old.close()
            src = old.source
            data = src.settings()
            try:
                st.instances[key] = handler._new(src.ptr, data.ptr)
            finally:
                src.release(data)
        st.handler = handler
    ol.log(ol.LOG_INFO, f"script loaded ({'registered' if fresh else 're-bound'} '{FILTER_NAME}'; "
                        f"python {sys.version.split()[0]}, numpy {np.__version__}"
                        + (f"; packages from {', '.join(_ADDED_PATHS)}" if _ADDED_PATHS else "") + ")")


def script_unload():
    st = ol.store()
    with st.lock:
        st.handler = PassThrough()
        instances = list(st.instances.items())
    workers = []
    if instances:
        ol.enter_graphics()
        try:
            for key, filt in instances:
                if isinstance(filt, BgReplaceFilter):
                    filt.close(enter_graphics=False)
                    workers.append(filt.worker.thread)
                    st.instances[key] = _Dormant(filt.source)
        finally:
            ol.leave_graphics()
    # Workers finish their current frame, then exit; wait briefly so none outlives us.
    deadline = time.monotonic() + 2.0
    for t in workers:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threading.enumerate() if t.name.startswith("obs_bg_replace:")]
    ol.log(ol.LOG_INFO, f"script unloaded ({len(instances)} filter(s) released, "
                        f"{len(alive)} worker thread(s) still running)")
