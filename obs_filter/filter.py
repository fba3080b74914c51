"""One "Background Replace" filter: its settings, status and what ``video_render`` does.

Threads: OBS calls ``video_render`` on its graphics thread. It only copies the frame to
numpy and hands it to a worker thread (a one-frame slot: older frames are dropped), then
draws the most recent finished result, so inference never stalls OBS. Two compositing
paths give the same picture:

* ``gpu`` (default): the frame is read back small (long side ≤ 960 px: a 2×2 box at
  720p and 1080p), the worker returns an 8-bit matte, and a shader blends the full-size
  frame with it.
* ``cpu`` (reference): the full frame is read back, the worker composites it with
  matting's numba kernel, and the result is uploaded and drawn.

Never the raw room: the camera frame is drawn only under a valid matte. Before the first
matte, and whenever none is valid (settings and model changes, a settings error, a worker
failure, a new size, after a pause), the filter draws the last good composite while it is
recent (:data:`LAST_GOOD_S`), else a safe picture (:meth:`BgReplaceFilter._draw_safe`):
the chosen background alone, and the status says why.
"""

from __future__ import annotations

import os
import time

import numpy as np

from matting.errors import MattingError

from . import libobs as ol
from . import status
from .capture import COUNTDOWN_S
from .graphics import FrameRing
from .properties import settings_from_obs, timing_from_obs
from .shedding import DelayChooser, Shedder
from .stats import Counters
from .worker import Worker, short_error

MIN_SIDE = 16  # smaller sources show the background only (nothing to segment)
MAX_SIDE = 8192  # = matting.pipeline.MAX_SIDE; larger sources show the background only
# The last good result is drawn again while no newer one is valid (a settings or model
# change, a dropped frame) for at most this long; then the safe picture. In sync mode it
# is the matte over its own frame (a frozen composite), in latency mode over the current
# frame, where a move would uncover the room behind the old outline.
LAST_GOOD_S = 1.0
BLUR_FALLBACK = (0.25, 0.25, 0.25)  # blur's safe picture before any frame was read back
# A test hook, off unless OBS runs with this variable set to 1 (tests/obs): the filter
# setting "test_worker_error" = true makes the worker fail on its next frame.
TEST_HOOKS = os.environ.get("OBS_BG_REPLACE_TEST_HOOKS") == "1"
# The panel is rebuilt only when the filter's state changes (obs_filter.status), at most
# once per PANEL_MIN_INTERVAL_S (a capture's countdown needs one a second) and not within
# PANEL_QUIET_AFTER_EDIT_S of an edit (the refresh waits: a rebuild closes open widgets).
PANEL_MIN_INTERVAL_S = 0.9
PANEL_QUIET_AFTER_EDIT_S = 1.5
# A frame is staged for readback STAGE_DELAY frames after it was drawn: 1 on a GPU (its
# copy is queued, nothing waits). A software renderer rasterises behind the render thread
# and makes staging wait for it (2-10 ms a frame at 720p with llvmpipe); when staging
# takes longer than STAGE_SLOW_MS on average, frames are staged one frame later.
STAGE_DELAY, STAGE_DELAY_SLOW = 1, 2
STAGE_SLOW_MS = 1.0
STAGE_SLOW_AFTER = 30  # stagings measured before deciding
BENCH_WORKER_PAUSED = "bench_worker_paused"  # a setting only tools/obs_bench.py sets


SAFE_WORDS = "showing the background only, never the camera"


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
        self._uploaded = {}  # purpose → (array, texture) of the edge options' textures
        self._zero_tex = None  # 1x1 zero mask: the background alone through the blend shader
        self._good = None  # (Result, monotonic time) last drawn with a valid matte
        self._mean_colour = None  # mean colour of the last frame read back (blur's safe picture)
        self.safe_reason = None  # why the safe picture is drawn (None: a matte is drawn)
        self.broken = False  # drawing raised: nothing is drawn any more (handler.video_render)
        self.active = True
        self.render_ms = 0.0
        self.renders = 0
        self.sum_render = self.sum_capture = self.sum_read = self.sum_draw = 0.0  # ms, for the summary line
        self._panel_state = None  # obs_filter.status.state_key at the last panel refresh
        self._panel_at = 0.0
        self.panel_refreshes = 0  # obs_source_update_properties calls (tests count them)
        self.counters = Counters()
        self.timing = "sync"  # or "latency" (obs_filter.properties)
        self.ring = FrameRing()  # the last frames on the GPU
        self.frame_seq = 0  # OBS frames seen (video_tick); frames and mattes carry it
        self._frame_due = True  # no render yet since the last video_tick
        self._to_stage = []  # (seq, texture, w, h) drawn, to stage for readback on a later frame
        self._read = None  # (frame, size, path, seq) read back in this render, for the worker
        self.stage_delay = STAGE_DELAY
        self._stage_n, self._stage_ms = 0, 0.0  # stagings timed, their mean ms
        self.frame_s = 1 / 30  # OBS's frame interval, from video_tick
        self.delay_frames = None  # mean picture delay (frames drawn behind the newest)
        self.matte_behind = 0  # frames between the newest matte's frame and now
        self._delay_logged = None  # (ms, monotonic time) of the last delay log line
        self._last_edit = 0.0
        self.key = None  # the handler's instance key (the capture button's way back here)
        # Giving way under load and the fixed synchronised delay (obs_filter.shedding)
        self.shedder = Shedder()
        self.delay = DelayChooser()
        self.interval_s = None  # OBS's frame interval (libobs), once known
        self._mattes = []  # recent results, oldest first: a frame is drawn with its own or an earlier one
        self._latest_seen = None
        self._sync_seq = None  # the frame drawn in this render (fixed delay), or None
        self._retime = False  # settings changed: choose the delay again
        self._picked = None  # the result drawn in this frame (later renders draw it again)
        self.bench_worker_paused = False
        self._worker_seen, self._worker_ms = (0, 0.0), None  # (frames, ms) last seen; mean ms a frame

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
        # Not in the panel: tools/obs_bench.py's "passes" case (the filter's GPU passes and
        # readback as usual, the worker given no frame once the delay is chosen)
        self.bench_worker_paused = data.get_bool(BENCH_WORKER_PAUSED)
        self._retime = True  # the worker's time may differ now: measured and chosen again
        timing = timing_from_obs(data)
        if timing != self.timing:
            self.timing, self._delay_logged, self.delay_frames = timing, None, None
        bg = settings.background
        if bg.startswith("#"):
            self.colour = tuple(int(bg[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
        self.worker.configure(settings, path)
        if TEST_HOOKS and data.get_bool("test_worker_error"):
            self.worker.fail_next = True

    # known background
    def capture_background(self) -> None:
        """The panel's "Capture background" button: the worker averages the next second
        of frames into a plate and saves it in OBS's configuration folder; the path is
        then stored in the filter's settings (``video_tick``), so the plate is loaded
        again after a restart."""
        import os
        import re

        folder = ol.config_dir("obs-bg-replace/plates")
        safe = re.sub(r"[^A-Za-z0-9_-]+", "_", self.name)[:40] or "filter"
        path = os.path.join(folder, f"plate-{safe}-{int(time.time())}.png")
        self.worker.capture_background(path)
        ol.log(ol.LOG_INFO, f"filter '{self.name}': capturing the background after a "
                            f"{COUNTDOWN_S:.0f}-second countdown (step out of the picture)")

    def forget_background(self) -> None:
        """The panel's "Forget captured background" button: the plate is dropped and its
        path cleared from the settings (the file stays where Capture saved it)."""
        self.worker.forget_background()
        self.source.set_setting("background_plate", "")
        ol.log(ol.LOG_INFO, f"filter '{self.name}': captured background forgotten")

    def _store_captured_plate(self) -> None:
        path, self.worker.captured = self.worker.captured, None
        if path:
            self.source.set_setting("background_plate", path)

    # status
    def message(self) -> str | None:
        return self.error or self.size_error or self.worker.error or self.worker.frame_error

    def _report(self, msg: str) -> None:
        """One log line per distinct problem (the stats line shows it while it lasts)."""
        if msg and msg not in self._logged:
            self._logged.add(msg)
            ol.log(ol.LOG_WARNING, f"filter '{self.name}': {msg} — {SAFE_WORDS}")

    def delay_ms(self) -> float:
        """How far the drawn picture is behind the newest frame (sync mode, CPU path)."""
        return 1e3 * (self.interval_s or self.frame_s) * (self.delay_frames or 0.0)

    def _timing_text(self) -> str:
        shed = ""
        if self.shedder.level > 1:
            shed = (f" · giving way to OBS: a matte every {self.shedder.level} frames"
                    f"{f' ({self.shedder.reason})' if self.shedder.reason else ''}")
        if self._fixed_delay():
            return (f" · picture delayed {self.delay_ms():.0f} ms = {self.delay.frames} frame(s) "
                    f"(set it as the audio Sync Offset){shed}")
        if self.timing == "sync" and self.path == "gpu":
            return " · measuring the picture delay…" + shed
        if self.delay_frames is None:
            return shed
        if self.path == "cpu":
            return f" · picture delayed {self.delay_ms():.0f} ms (set it as the audio Sync Offset){shed}"
        return f" · matte {self.matte_behind} frame(s) behind the picture{shed}"

    def _log_delay(self) -> None:
        """Log the picture's delay when it is first known and when it changes by more than
        two frames (at most every 10 s), so the audio offset can follow."""
        if self.path != "cpu" and self.timing != "sync":
            return
        ms, now = self.delay_ms(), time.monotonic()
        last = self._delay_logged
        if last is None or (abs(ms - last[0]) > 2e3 * self.frame_s and now - last[1] >= 10.0):
            self._delay_logged = (ms, now)
            ol.log(ol.LOG_INFO, f"filter '{self.name}': picture delayed by {ms:.0f} ms to match its matte "
                                f"(set the same Sync Offset on the audio)")

    def stats_text(self) -> str:
        """The numbers line (obs_filter.status.details)."""
        return status.details(self)

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
        self._good = None  # after the pause the person may be elsewhere
        self.worker.pause()
        self.gfx.readback_clear()  # frames staged before the pause are not wanted
        self._to_stage, self._read = [], None

    def video_tick(self, seconds: float) -> None:
        active = self.source.enabled() and self.source.showing()
        if active != self.active:
            self.show() if active else self.hide()
        msg = self.message()
        if msg:
            self._report(msg)
        if self.worker.captured:
            self._store_captured_plate()
        # A new frame: the next render captures it (later renders in it only draw).
        self.frame_seq += 1
        self._frame_due = True
        self.gfx.next_frame()
        if seconds > 0:
            self.frame_s = 0.9 * self.frame_s + 0.1 * seconds
        if self.active:
            self.counters.add(ticks=1)
            self._watch_load()
        self.counters.maybe_write(self.name, worker_frames=self.worker.total_frames, worker_ms=self.worker.total_ms,
                                  path=self.path, timing=self.timing, delay_ms=self.delay_ms(), ring=len(self.ring),
                                  behind=self.matte_behind, behind_ms=1e3 * self.frame_s * self.matte_behind,
                                  delay_frames=self.delay.frames, shed_level=self.shedder.level,
                                  shed_changes=self.shedder.changes)
        self._refresh_panel()

    def _refresh_panel(self) -> None:
        """Rebuild an open panel when the filter's state changed (never for numbers)."""
        status.sample_cpu(self)
        state = status.state_key(self)
        if state == self._panel_state:
            return
        now = time.monotonic()
        if now - self._panel_at < PANEL_MIN_INTERVAL_S or now - self._last_edit < PANEL_QUIET_AFTER_EDIT_S:
            return  # checked again on the next frame
        first = self._panel_state is None
        self._panel_state, self._panel_at = state, now
        if not first:  # the panel built with the filter already shows its first state
            self.panel_refreshes += 1
            self.source.update_properties()

    def video_render(self) -> None:
        """Called once per render of the filter, which OBS may do several times a frame
        (studio mode, projectors, screenshots): the first render after ``video_tick``
        captures, reads back and submits; every render draws."""
        if self.closed or self.broken or self.settings is None:
            return  # nothing drawn: the source shows transparent, never the camera
        w, h = self.source.target_size()
        if w == 0 or h == 0:  # not loaded yet: nothing to draw
            return
        if self.error or self.worker.error:
            self._good = None
            self._draw_safe(w, h, "error")
            return
        if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
            self.size_error = f"source size {w}x{h} is outside {MIN_SIDE}..{MAX_SIDE} pixels per side"
            self._draw_safe(w, h, "error")
            return
        self.size_error = None
        t0 = time.perf_counter()
        first = self._frame_due
        tc = t1 = t0
        read = False
        if first:
            self._frame_due = False
            if self.ring.size_key != (w, h, self.path):
                self._restart_ring(w, h)
            # Readback before this frame's drawing: a software renderer finishes all queued
            # drawing before it stages, so stage while little is queued.
            read = self._read_and_stage(w, h)
            t1 = time.perf_counter()
            if self._keeps_frames():
                self.ring.capture(self.gfx, self.source, self.frame_seq, w, h)
            self._prepare_readback(w, h)
            tc = time.perf_counter()
        try:
            if first:  # the matte picked once a frame; later renders draw it again
                self._picked = self._pick_matte(w, h)
            res = self._usable(self._picked, w, h)  # this size and path, or the last good one
            drawn = res is not None and self._draw(res, w, h, self.path, first)
            if drawn:
                self.safe_reason = None
            else:
                self._draw_safe(w, h, "starting" if self.worker.frames == 0 else "waiting")
        finally:
            self._submit_read()
        t2 = time.perf_counter()
        # t0 → t1 readback (map, stage), t1 → tc capture (and scaling), tc → t2 draw
        read_ms, cap_ms, draw_ms = 1e3 * (t1 - t0), 1e3 * (tc - t1), 1e3 * (t2 - tc)
        self.counters.add(renders=1, readbacks=read, render_ms=1e3 * (t2 - t0),
                          capture_ms=cap_ms, readback_ms=read_ms, draw_ms=draw_ms)
        ms = 1e3 * (t2 - t0)
        self.render_ms = ms if self.renders == 0 else 0.9 * self.render_ms + 0.1 * ms
        self.renders += 1
        self.sum_render += ms
        self.sum_capture += cap_ms
        self.sum_read += read_ms
        self.sum_draw += draw_ms

    def _submit_read(self) -> None:
        """Give the worker the frame read back in this render (see _read_and_stage)."""
        if self._read is not None:
            frame, size, path, seq = self._read
            self._read = None
            if self.bench_worker_paused and self.delay.frames is not None:
                return  # benchmark: the frame was read back, the worker stays idle
            self.worker.submit(frame, size, path, seq)

    def _restart_ring(self, w, h) -> None:
        """A new size or path: forget the frames on the GPU and the copies in flight."""
        self.ring.reset(self.gfx, (w, h, self.path))
        self.gfx.readback_clear()
        self._to_stage, self._read = [], None
        # measured again for the new size or path (a slow start must not stick)
        self.stage_delay, self._stage_n, self._stage_ms = STAGE_DELAY, 0, 0.0
        self._restart_timing()

    def _read_and_stage(self, w, h) -> bool:
        """Hand the worker the copy staged on an earlier frame, then stage the newest
        texture drawn ``stage_delay`` or more frames ago (never one drawn in this frame).
        True if a frame was read back."""
        t0 = time.perf_counter()
        got = self.gfx.read_staged()
        if got is not None:
            (seq, size, path), frame = got
            if path == self.path and size == (w, h):
                if self.settings.background == "blur":  # its safe picture: an infinite blur
                    self._mean_colour = tuple(float(c) / 255 for c in frame[::8, ::8, :3].mean(axis=(0, 1)))
                # handed over when this render is done (_submit_read): the worker, once
                # woken, takes Python's GIL, which every later libobs call of this render
                # (ctypes releases and retakes it) would then wait for
                self._read = (frame, size, path, seq)
        t1 = time.perf_counter()
        due = [e for e in self._to_stage if e[0] <= self.frame_seq - self.stage_delay]
        if due:
            seq, stex, sw, sh = due[-1]  # older ones are skipped: the worker wants the newest
            self._to_stage = [e for e in self._to_stage if e[0] > seq]
            self.gfx.stage(stex, sw, sh, (seq, (w, h), self.path))
            self._time_stage(1e3 * (time.perf_counter() - t1))
        self.counters.add(map_ms=1e3 * (t1 - t0), stage_ms=1e3 * (time.perf_counter() - t1))
        return got is not None

    def _time_stage(self, ms: float) -> None:
        """Stage a frame later where staging waits for the renderer (see STAGE_SLOW_MS)."""
        if self.stage_delay != STAGE_DELAY:
            return
        self._stage_n += 1
        self._stage_ms += (ms - self._stage_ms) / self._stage_n
        if self._stage_n >= STAGE_SLOW_AFTER:
            if self._stage_ms > STAGE_SLOW_MS:
                self.stage_delay = STAGE_DELAY_SLOW
                ol.log(ol.LOG_INFO, f"filter '{self.name}': staging a frame for readback took {self._stage_ms:.1f} ms "
                                    f"(a software renderer?): frames are now read back {STAGE_DELAY_SLOW} "
                                    "frames after they are drawn, so the render thread does not wait")
            self._stage_n, self._stage_ms = 0, 0.0

    def _keeps_frames(self) -> bool:
        """Whether this frame goes into the frame ring: to be drawn again with its matte
        (sync), read back whole (CPU path), or drawn with the matte as its alpha."""
        return self.path == "cpu" or self.timing == "sync" or self.settings.background == "transparent"

    def _prepare_readback(self, w, h) -> None:
        """This frame for staging on a later frame: only what the worker uses, the
        grid-size frame rendered straight from the source (GPU path) or the full frame
        from the ring (CPU path)."""
        t0 = time.perf_counter()
        if not self.shedder.due(self.frame_seq):  # giving way: this frame is not read back
            self.counters.add(shed=1)
            return
        if self.path == "gpu":
            gh, gw = self.worker.grid(h, w)
            # its own slot until staged (STAGE_DELAY_SLOW frames later at most)
            small = self.gfx.capture_scaled(self.source, w, h, gw, gh, self.frame_seq % (STAGE_DELAY_SLOW + 2))
            entry = (self.frame_seq, small, gw, gh) if small else None
        else:  # the full frame stays in its ring slot (MIN_FRAMES > STAGE_DELAY_SLOW)
            tex = self.ring.texture(self.frame_seq)
            entry = (self.frame_seq, tex, w, h) if tex else None
        if entry:
            self._to_stage = self._to_stage[-STAGE_DELAY_SLOW:] + [entry]
        self.counters.add(scale_ms=1e3 * (time.perf_counter() - t0))

    def _usable(self, res, w, h):
        """``res`` (the picked result) if it fits this size and path, else the last good
        one while it is recent (a settings change dropped the worker's), else None."""
        now = time.monotonic()
        if res is not None and res.path == self.path and res.size == (w, h):
            self._good = (res, now)
            return res
        if self._good is not None:
            good, since = self._good
            if good.path == self.path and good.size == (w, h) and now - since <= LAST_GOOD_S:
                return good
            self._good = None
        return None

    def _draw_safe(self, w, h, reason) -> None:
        """The picture while no valid matte exists, never the camera frame: the chosen
        background alone. A colour; an image or video background once the worker has
        prepared it for this size; for blur the mean colour of the frame (a blur too
        strong to show anything of the room); nothing (transparent) for a transparent
        background and until an image is prepared. ``reason``: "starting", "waiting"
        (settings changed, no matte yet) or "error" (the status line says which)."""
        self.safe_reason = reason
        s = self.settings
        bg = s.background if s is not None else "transparent"
        kind = None
        if bg.startswith("#"):
            kind = {"colour": self.colour}
        elif bg == "blur":
            kind = {"colour": self._mean_colour or BLUR_FALLBACK}
        elif bg != "transparent":
            safe = self.worker.safe_background
            if safe is not None and safe[0] == (bg, (w, h)):
                if safe[1] is not self._bg_uploaded or self._bg_tex is None:
                    self._bg_tex = self.gfx.upload("background", safe[1], keep=2)
                    self._bg_uploaded = safe[1]
                kind = {"background": self._bg_tex}
        if kind is None:
            return  # nothing drawn: transparent
        if self._zero_tex is None:
            self._zero_tex = self.gfx.upload("zero", np.zeros((1, 1), np.uint8), keep=1)
        if self._zero_tex:
            self.gfx.draw_blend(self._zero_tex, self._zero_tex, w, h, **kind)

    def _draw(self, res, w, h, path, first) -> bool:
        """A finished result over its frame. In sync mode (GPU path) the frame the matte
        was computed from, from the ring; the current frame is drawn straight from the
        source, never from a texture rendered in this frame. False if it cannot be drawn
        safely (then nothing was drawn)."""
        gfx = self.gfx
        new = res.seq != self._shown_seq
        self._shown_seq = res.seq
        if path == "cpu":  # the composite is the matte's own frame
            if new or self._comp_tex is None:
                self._comp_tex = gfx.upload("composite", res.array)
            self._count(res.seq, res.seq, first)
            gfx.draw(self._comp_tex, w, h)
            return True
        drawn, old = self.frame_seq, None
        if self.timing == "sync":
            want = res.seq if self._sync_seq is None else self._sync_seq  # the fixed delay's frame
            old = self.ring.texture(want)
            if old:
                drawn = want
        self._count(drawn, res.seq, first)
        if new or self._mask_tex is None:
            self._mask_tex = gfx.upload("mask", res.array)
        bg = self.settings.background
        kind = {}
        if bg == "transparent":
            old = old or self.ring.texture(self.frame_seq)  # the matte becomes the alpha
            if not old:
                return False
        elif res.background is not None:
            if res.background is not self._bg_uploaded or self._bg_tex is None:
                # a new picture per matte for video and blur (small), once for an image
                self._bg_tex = gfx.upload("background", res.background, keep=3)
                self._bg_uploaded = res.background
            kind = {"background": self._bg_tex}
            if res.wrap is not None:
                kind["wrap"] = self._texture("wrap", res.wrap)
        elif bg.startswith("#"):
            kind = {"colour": self.colour}
        else:  # image background not prepared yet (settings just changed)
            return False
        if kind and res.edge is not None:  # halo removal, light wrap
            kind["edge"] = self._texture("edge", res.edge)
        if old:
            gfx.draw_blend(old, self._mask_tex, w, h, **kind)
        elif gfx.draw_source(self.source):
            if "edge" in kind:
                kind["halo"] = self.settings.halo_removal
            gfx.draw_over(self._mask_tex, w, h, **kind)
        else:
            return False
        return True

    def _texture(self, purpose: str, array):
        """The texture of ``array`` (an edge-option array of the shown matte), uploaded
        once per array."""
        tex = self._uploaded.get(purpose)
        if tex is None or tex[0] is not array:
            tex = (array, self.gfx.upload(purpose, array))
            self._uploaded[purpose] = tex
        return tex[1]

    # giving way under load, and the fixed delay (obs_filter.shedding)
    def _fixed_delay(self) -> bool:
        """Whether the picture delay is the fixed one: synchronised GPU path, chosen."""
        return self.timing == "sync" and self.path == "gpu" and self.delay.frames is not None

    def _restart_timing(self) -> None:
        """Settings or size change: choose the delay again from the mattes that follow.
        The shedding level stays: the load around OBS did not change with the settings
        (starting again from every frame made OBS miss frames for the 3 s it took to
        step back up, measured under load)."""
        self.delay.reset()
        self._mattes, self._latest_seen, self._sync_seq = [], None, None
        self.delay_frames = None
        self._worker_ms = None

    def _watch_load(self) -> None:
        """Once a frame: OBS's and the worker's numbers to the shedder; a change is logged."""
        probe = getattr(self.gfx, "obs_timing", None)
        lagged = obs_ms = None
        if probe is not None:
            try:
                lagged, obs_ms, interval = probe()
                self.interval_s = interval if interval > 0 else None
            except Exception:  # noqa: BLE001 - an OBS without these calls: the worker's time alone
                self.gfx.obs_timing = None
        # the worker's mean ms per frame since the last look (adaptive rate makes single frames
        # cheap or dear)
        w = self.worker
        n, ms = w.total_frames, w.total_ms
        if n > self._worker_seen[0]:
            mean = (ms - self._worker_seen[1]) / (n - self._worker_seen[0])
            self._worker_ms = mean if self._worker_ms is None else 0.8 * self._worker_ms + 0.2 * mean
            self._worker_seen = (n, ms)
        worker_ms = self._worker_ms
        before = self.shedder.level
        if self.shedder.update(time.monotonic(), self.interval_s or self.frame_s, lagged, obs_ms, worker_ms):
            level = self.shedder.level
            how = "every frame again" if level == 1 else f"every {level} frames"
            why = f" ({self.shedder.reason})" if level > before else " (load gone)"
            ol.log(ol.LOG_INFO, f"filter '{self.name}': giving way to OBS: reading back {how}{why}")

    def _pick_matte(self, w, h):
        """The result to draw this frame. Synchronised GPU path with its delay fixed: the
        matte of the frame ``delay`` frames back (``_sync_seq``), or the nearest earlier
        one when that frame has none (shedding); else the newest."""
        if self._retime:
            self._retime = False
            self._restart_timing()
        latest = self.worker.latest()
        self._sync_seq = None
        self._picked = latest
        if latest is None or latest.path != self.path or latest.size != (w, h):
            return latest
        if latest is not self._latest_seen:
            self._latest_seen = latest
            self._mattes = self._mattes[-(self.ring.MAX_FRAMES + 1):] + [latest]
            if self.timing == "sync" and self.path == "gpu" and self.delay.observe(self.frame_seq - latest.seq):
                self._log_fixed_delay()
        if not self._fixed_delay():
            return latest
        target = self.frame_seq - self.delay.frames
        for i in range(len(self._mattes) - 1, -1, -1):
            res = self._mattes[i]
            if res.seq <= target:
                self._sync_seq, self._picked = target, res
                del self._mattes[:i]  # older ones are never drawn again
                return res
        return latest  # nothing that old yet (just started): the newest over its own frame

    def _log_fixed_delay(self) -> None:
        fps = 1.0 / (self.interval_s or self.frame_s)
        self.delay_frames = self.delay.frames
        ol.log(ol.LOG_INFO, f"filter '{self.name}': picture delayed by {self.delay_ms():.0f} ms "
                            f"({self.delay.frames} frame(s) at {fps:.3g} fps) to match its matte; it stays so "
                            f"until the settings or the size change (set the same Sync Offset on the audio)")

    def _count(self, drawn: int, matte: int, first: bool) -> None:
        """Once per frame: the matte's age, the picture's delay, the ring's size."""
        if not first:
            return
        self.counters.age(drawn - matte)
        newest = self._latest_seen.seq if self._latest_seen is not None else matte
        behind = self.frame_seq - newest  # how old the newest matte is
        if self.timing == "sync" and self.path == "gpu":
            # keep the drawn frame and the newest matte's (and a few more) on the GPU
            self.ring.want(max(behind, self.delay.frames or 0) + self.ring.SLACK)
        self.matte_behind = behind
        if self.timing == "sync" and self.path == "gpu":  # fixed once chosen (_pick_matte)
            self.delay_frames = self.delay.frames
            return
        delay = self.frame_seq - drawn
        self.delay_frames = delay if self.delay_frames is None else 0.9 * self.delay_frames + 0.1 * delay
        self._log_delay()

    def close(self, enter_graphics: bool = True) -> None:
        """Stop the worker and free GPU objects (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.log_summary()
        self.worker.stop()
        self.gfx.destroy(enter_graphics)
        self._mask_tex = self._comp_tex = self._bg_tex = self._zero_tex = None
        self._uploaded = {}
