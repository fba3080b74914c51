"""One "Background Replace" filter: its settings, status and what ``video_render`` does.

Threads: OBS calls ``video_render`` on its graphics thread. It only copies the frame to
numpy and hands it to a worker thread (a one-frame slot: older frames are dropped), then
draws the most recent finished result, so inference never stalls OBS. Two compositing
paths give the same picture:

* ``gpu`` (default): the frame is read back at the pipeline's grid size (≤ 960 px), the
  worker returns an 8-bit matte, and a shader blends the full-size frame with it.
* ``cpu`` (reference): the full frame is read back, the worker composites it with
  matting's numba kernel, and the result is uploaded and drawn.
"""

from __future__ import annotations

import time

from matting.errors import MattingError

from . import libobs as ol
from .properties import settings_from_obs
from .worker import Worker, short_error

MIN_SIDE = 16  # smaller sources are passed through (nothing to segment)
MAX_SIDE = 8192  # = matting.pipeline.MAX_SIDE; larger sources are passed through
STATS_REFRESH_S = 2.0  # how often an open properties panel gets new stats
STATS_QUIET_AFTER_EDIT_S = 3.0  # no refresh right after an edit (a refresh rebuilds the panel)


class BgReplaceFilter:
    """State of one "Background Replace" filter. ``source`` is a libobs.FilterSource,
    ``gfx`` a graphics.Graphics (fakes of both in the fast tests)."""

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
            self.error = short_error(exc)
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
