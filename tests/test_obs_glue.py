"""Fast tests of the OBS glue (obs_bg_replace.py, obs_filter/) with fake libobs objects.

The real proof is tests/obs (a headless OBS); these pin the glue's behaviour that is hard
to provoke there: a slow model, failures, odd sizes, pause, destroy, script reload.
"""

from __future__ import annotations

import ctypes
import importlib
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import obs_bg_replace as glue  # noqa: E402
from obs_filter import filter as F  # noqa: E402
from obs_filter import libobs as ol  # noqa: E402
from obs_filter import properties as P  # noqa: E402
from obs_filter import worker as W  # noqa: E402
from matting.errors import ModelError  # noqa: E402
from matting.settings import Settings  # noqa: E402


# -- fakes --------------------------------------------------------------------------------
class FakeData:
    """obs_data: user values over defaults (the filter's DEFAULTS, as OBS sets them)."""

    def __init__(self, values=None):
        self.defaults = dict(P.DEFAULTS)
        self.values = dict(values or {})  # the user values
        self.ptr = self  # ol.Data is the identity in the fakes

    def _get(self, k, empty):
        return self.values.get(k, self.defaults.get(k, empty))

    def get_string(self, k):
        return str(self._get(k, ""))

    def get_int(self, k):
        return int(self._get(k, 0))

    def get_double(self, k):
        return float(self._get(k, 0.0))

    def get_bool(self, k):
        return bool(self._get(k, False))

    def set_default(self, k, v):
        self.defaults[k] = v

    def set_value(self, k, v):
        self.values[k] = v

    def has_user_value(self, k):
        return k in self.values

    def erase(self, k):
        self.values.pop(k, None)


class FakeSource:
    def __init__(self, w=1280, h=720, name="cam"):
        self.size = (w, h)
        self.name = name
        self.ptr = id(self)
        self.skips = 0
        self.prop_updates = 0
        self.is_enabled = self.is_showing = True
        self.data = FakeData()

    def target_size(self):
        return self.size

    def enabled(self):
        return self.is_enabled

    def showing(self):
        return self.is_showing

    def skip(self):
        self.skips += 1

    def update_properties(self):
        self.prop_updates += 1

    def settings(self):
        return self.data

    def release(self, _data):
        pass

    def set_setting(self, name, value):
        self.data.values[name] = value
        self.set_settings = getattr(self, "set_settings", []) + [(name, value)]


class FakeGfx:
    """Records what would be drawn; a staged copy reads back as a frame of its size on a
    later frame (like obs_filter.graphics.ReadbackRing)."""

    def __init__(self):
        self.draws = []
        self.uploads = []
        self.captures = 0
        self.staged = []  # (tag, w, h, frame)
        self.frame = 0
        self.destroyed = False

    def capture(self, source, w, h, slot=0):
        self.captures += 1
        return ("tex", slot, w, h)

    def capture_scaled(self, source, w, h, ow, oh, slot=0):
        return ("small", ow, oh)

    def draw_source(self, source):
        self.draws.append(("plain", "source"))
        return True

    def draw_over(self, mask, w, h, colour=None, background=None, edge=None, wrap=None, halo=False):
        kind = "image" if background is not None else "colour"
        assert self.draws[-1] == ("plain", "source")  # over the frame just drawn: one drawing
        self.draws[-1] = ("over", kind)
        self.extras = {"background": background, "edge": edge, "wrap": wrap, "halo": halo}

    def next_frame(self):
        self.frame += 1

    def stage(self, tex, w, h, tag):
        self.staged.append((tag, w, h, self.frame))

    def read_staged(self):
        if not self.staged or self.staged[0][3] >= self.frame:
            return None
        tag, w, h, _ = self.staged.pop(0)
        return tag, np.full((h, w, 4), 128, np.uint8)

    def readback_clear(self):
        self.staged = []

    def drop_slots(self, prefix, keep):
        pass

    def upload(self, purpose, array, keep=3):
        self.uploads.append((purpose, array.shape))
        return (purpose, array.shape)

    def draw(self, tex, w, h):
        self.draws.append(("plain", tex[0]))

    def draw_blend(self, image, mask, w, h, colour=None, background=None, edge=None, wrap=None):
        kind = "image" if background is not None else "colour" if colour is not None else "transparent"
        self.draws.append(("blend", kind))
        self.blended = image
        self.extras = {"background": background, "edge": edge, "wrap": wrap}

    def destroy(self, enter=True):
        self.destroyed = True


class FakePipeline:
    def __init__(self, settings, delay=0.0):
        self.settings = settings
        self.delay = delay
        self.provider = "CPUExecutionProvider"
        self.timings = {}
        self.calls = 0
        self.resets = 0

    def configure(self, settings):
        self.settings = settings

    def reset(self):
        self.resets += 1

    def process(self, frame, order="BGR", out=None, fuse=True):
        self.calls += 1
        self.fused = fuse
        time.sleep(self.delay)  # an "artificially slow model" (sleep releases the GIL like ORT)
        alpha = np.zeros(frame.shape[:2], np.uint8)
        self.timings = {"inference": self.delay * 1e3, "total": self.delay * 1e3 + 0.1}
        return ((out if out is not None else frame.copy()) if fuse else None), alpha


def grid(h, w):
    return max(1, h // 2), max(1, w // 2)


def _libobs_modules():
    """Every libobs module the code under test may call: the one imported here and, after
    a script reload, the fresh one the script uses."""
    return {id(m): m for m in (ol, glue.ol, sys.modules.get("obs_filter.libobs")) if m is not None}.values()


@pytest.fixture(autouse=True)
def quiet_log(monkeypatch):
    lines = []
    for mod in _libobs_modules():
        monkeypatch.setattr(mod, "log", lambda level, msg: lines.append(msg))
    return lines


def make_filter(values=None, factory=None, w=1280, h=720):
    src = FakeSource(w, h)
    filt = F.BgReplaceFilter(src, FakeGfx(), factory or (lambda s: FakePipeline(s)), grid)
    # a colour background unless the test says otherwise (the panel's default is transparent)
    filt.update(FakeData({"background_type": "color", **(values or {})}))
    return filt


def wait_until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.005)
    return False


def frame(filt, renders=1):
    """One OBS frame: video_tick, then ``renders`` renders (studio mode, projectors…)."""
    filt.video_tick(1 / 30)
    for _ in range(renders):
        filt.video_render()


RAW = (("plain", "source"), ("plain", "tex"))  # the camera frame drawn as it is


def raw_shown(filt) -> bool:
    """Whether the camera frame reached the output unmatted: passed through (skip) or
    drawn without a matte over it (draw_over turns the source's entry into "over")."""
    return filt.source.skips > 0 or any(d in RAW for d in filt.gfx.draws)


def safe_drawn(filt, kind):
    """The last drawing is the background alone (the blend shader with the zero mask)."""
    return filt.gfx.draws[-1] == ("blend", kind) and filt.gfx.blended[0] == "zero"


def render_until_result(filt, timeout=5.0):
    def step():
        frame(filt)
        res = filt.worker.latest()
        return res is not None and res.size == filt.source.size
    assert wait_until(step, timeout), "no result from the worker"
    frame(filt)


# -- settings -----------------------------------------------------------------------------
def test_defaults_map_to_matting_defaults():
    s, path = P.settings_from_obs(FakeData())
    assert path == "gpu"
    d = Settings()
    assert s.background == "transparent"  # as OBS filters do (the library's own default is a colour)
    for k in ("model", "device", "smooth_alpha", "smooth_beta", "roi_margin", "min_area", "keep_largest",
              "temporal_strength"):
        assert getattr(s, k) == getattr(d, k), k


def test_settings_mapping():
    s, path = P.settings_from_obs(FakeData({"background_type": "color", "background_color": 0xFF0000FF,
                                               "compositing": "cpu",
                                               "model": "custom", "model_path": "/m/x.onnx", "device": "cuda",
                                               "temporal_strength": 0.25}))
    assert (s.background, path, s.model, s.device, s.temporal_strength) == ("#ff0000", "cpu", "/m/x.onnx",
                                                                          "cuda", 0.25)
    assert P.settings_from_obs(FakeData({"background_type": "transparent"}))[0].background == "transparent"
    s, _ = P.settings_from_obs(FakeData({"background_type": "image", "background_image": " /a/b.png "}))
    assert s.background == "/a/b.png"


@pytest.mark.parametrize("values, words", [
    ({"background_type": "image", "background_image": ""}, "choose an image"),
    ({"model": "custom", "model_path": ""}, "custom .onnx"),
    ({"smooth_alpha": 0.0}, "Follow speed (α): expected 1 % to 100 %, got 0 %"),  # an old key, migrated
    ({"steadiness": 99}, "Edge steadiness"),
    ({"device": "tpu"}, "device"),
])
def test_bad_settings_show_nothing_of_the_camera_with_one_message(values, words, quiet_log):
    filt = make_filter(values)
    try:
        assert words in filt.stats_text() and filt.stats_text().startswith("Error")
        for _ in range(5):
            filt.video_render()
            filt.video_tick(0.1)
        # no valid settings, so no background either: nothing drawn (transparent)
        assert filt.source.skips == 0 and filt.gfx.draws == []
        assert "never the camera" in filt.stats_text()
        assert len([m for m in quiet_log if words in m]) == 1
    finally:
        filt.close()


def test_max_side_matches_the_library():
    from matting.pipeline import MAX_SIDE

    assert F.MAX_SIDE == MAX_SIDE


@pytest.mark.parametrize("size, want", [((720, 1280), (360, 640)), ((1080, 1920), (540, 960)),
                                        ((2160, 3840), (540, 960)), ((480, 854), (480, 854)),
                                        ((1280, 720), (640, 360))])
def test_gpu_readback_halves_1080p_rather_than_point_sampling_a_third(size, want):
    """The GPU draws the worker's frame bilinearly: only a halving is a box average."""
    from obs_filter.worker import _default_grid

    assert _default_grid(*size) == want


# -- rendering ----------------------------------------------------------------------------
def test_gpu_path_draws_the_background_until_first_result_then_blends():
    filt = make_filter()
    try:
        filt.video_render()
        assert safe_drawn(filt, "colour")  # nothing finished yet: the background colour alone
        assert "waiting for the first matte" in filt.stats_text()
        render_until_result(filt)
        # its own frame from the ring, or the current one if that frame left the ring already
        assert filt.gfx.draws[-1] in (("blend", "colour"), ("over", "colour"))
        assert ("mask", (360, 640)) in filt.gfx.uploads  # the grid-size matte, not the frame
        assert "inference" in filt.stats_text() and "GPU compositing" in filt.stats_text()
    finally:
        filt.close()


def test_cpu_path_uploads_the_composite():
    filt = make_filter({"compositing": "cpu"})
    try:
        render_until_result(filt)
        assert ("composite", (720, 1280, 4)) in filt.gfx.uploads
        assert filt.gfx.draws[-1] == ("plain", "composite")
    finally:
        filt.close()


def test_transparent_and_image_backgrounds_use_their_shaders(tmp_path):
    import cv2

    filt = make_filter({"background_type": "transparent"})
    try:
        render_until_result(filt)
        assert filt.gfx.draws[-1] == ("blend", "transparent")
    finally:
        filt.close()
    img = tmp_path / "bg.png"
    cv2.imwrite(str(img), np.zeros((10, 20, 3), np.uint8))
    filt = make_filter({"background_type": "image", "background_image": str(img)})
    try:
        render_until_result(filt)
        assert filt.gfx.draws[-1] in (("blend", "image"), ("over", "image"))
        assert ("background", (720, 1280, 4)) in filt.gfx.uploads
    finally:
        filt.close()


class EdgePipeline(FakePipeline):
    """A fake pipeline with what the GPU path's edge options read: a soft matte, its box
    and colour means, and a light-wrap gain on its grid."""

    def process(self, frame, order="BGR", out=None, fuse=True):
        _, alpha = super().process(frame, order, out, fuse)
        h, w = alpha.shape
        alpha[:, : w // 2] = 255
        alpha[:, w // 2: w // 2 + 4] = 128
        self.edge_colours = ((0, 0, w, h), (np.full((2, 2, 3), 200, np.float32), np.full((2, 2, 3), 20, np.float32)))
        return None, alpha

    def light_wrap_gain(self):
        return np.full((90, 160), 0.25, np.float32)


@pytest.mark.parametrize("values, bg_shape", [
    ({"background_type": "blur"}, (90, 160, 4)),  # 1/8 of 1280×720
    ({"background_type": "video"}, (360, 640, 4)),  # the matte's size
    ({"background_type": "image", "halo_removal": True, "light_wrap": 0.5}, (720, 1280, 4)),
    ({"background_type": "color", "halo_removal": True}, None),
])
def test_blur_video_halo_and_light_wrap_stay_on_the_gpu_path(values, bg_shape, tmp_path):
    import cv2

    img = tmp_path / "bg.png"
    cv2.imwrite(str(img), np.full((10, 20, 3), 90, np.uint8))
    clip = tmp_path / "bg.avi"
    vw = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 36))
    for i in range(3):
        vw.write(np.full((36, 64, 3), 60 * i, np.uint8))
    vw.release()
    values = dict(values, background_image=str(img), background_video=str(clip))
    filt = make_filter(values, factory=lambda s: EdgePipeline(s))
    try:
        assert filt.path == "gpu"
        render_until_result(filt)
        assert filt.gfx.draws[-1][0] in ("blend", "over")
        extras = filt.gfx.extras
        uploads = dict(filt.gfx.uploads)
        if bg_shape is None:
            assert extras["background"] is None
        else:
            assert extras["background"] is not None and uploads["background"] == bg_shape
        halo, light = values.get("halo_removal", False), values.get("light_wrap", 0.0)
        assert (extras["edge"] is not None) == (halo or light > 0)
        if extras["edge"] is not None:
            assert uploads["edge"] == (360, 640, 4)  # the matte's size
        assert (extras["wrap"] is not None) == (light > 0)
        if light:
            assert uploads["wrap"] == (90, 160, 4)
    finally:
        filt.close()


def test_halo_removal_in_lowest_latency_mode_blends_over_the_drawn_frame():
    filt = make_filter({"timing": "latency", "halo_removal": True, "light_wrap": 0.2},
                       factory=lambda s: EdgePipeline(s))
    try:
        render_until_result(filt)
        assert filt.gfx.draws[-1] == ("over", "colour")  # this frame from the source, nothing sampled
        assert filt.gfx.extras["edge"] is not None and filt.gfx.extras["halo"] is True
        pipe = filt.worker.pipeline.settings
        assert pipe.background == "#000000" and pipe.halo_removal  # opaque: the colour means are computed
    finally:
        filt.close()


def _render_times(delay, n=40):
    filt = make_filter(factory=lambda s: FakePipeline(s, delay))
    try:
        render_until_result(filt, timeout=10)
        times = []
        for _ in range(n):
            filt.video_tick(1 / 30)
            t0 = time.perf_counter()
            filt.video_render()
            times.append(time.perf_counter() - t0)
            time.sleep(0.01)  # ~ frame pacing: the worker runs meanwhile
        return times, filt.worker.pipeline.calls
    finally:
        filt.close()


def test_slow_model_does_not_slow_video_render():
    fast, fast_calls = _render_times(0.0)
    slow, slow_calls = _render_times(0.2)
    fast_ms, slow_ms = 1e3 * statistics.median(fast), 1e3 * statistics.median(slow)
    # The model takes 200 ms per frame; render must not wait for it.
    assert slow_ms <= 3 * fast_ms + 1.0, (fast_ms, slow_ms)
    assert 1e3 * max(slow) < 100, "a render waited for inference"
    assert slow_calls < 40 // 4, "frames must be dropped, not queued, while the model is busy"
    assert fast_calls > slow_calls


def test_odd_sizes_pass_through_with_a_message(quiet_log):
    filt = make_filter(w=1, h=1)
    try:
        for _ in range(3):
            filt.video_render()
            filt.video_tick(0.1)
        assert filt.source.skips == 0 and safe_drawn(filt, "colour")  # the background alone
        assert "1x1" in filt.stats_text()
        assert len([m for m in quiet_log if "1x1" in m]) == 1
        filt.source.size = (9000, 100)
        filt.video_render()
        assert "9000x100" in filt.stats_text()
        filt.source.size = (0, 0)  # source not loaded yet: quietly skipped
        filt.video_render()
        filt.source.size = (640, 360)
        render_until_result(filt)
        assert not filt.stats_text().startswith("Error")
        assert not raw_shown(filt)
    finally:
        filt.close()


def test_model_failure_shows_the_background_only(quiet_log):
    def broken(_settings):
        raise ModelError("model file not found: /nope.onnx")

    filt = make_filter(factory=broken)
    try:
        assert wait_until(lambda: filt.worker.error is not None)
        for _ in range(4):
            filt.video_render()
            filt.video_tick(0.1)
        assert not raw_shown(filt) and safe_drawn(filt, "colour")
        assert "model file not found" in filt.stats_text()
        assert len([m for m in quiet_log if "model file not found" in m]) == 1
    finally:
        filt.close()


def test_resolution_change_drops_stale_results():
    filt = make_filter()
    try:
        render_until_result(filt)
        filt.source.size = (640, 360)
        filt.gfx.draws.clear()
        filt.video_render()
        assert safe_drawn(filt, "colour")  # the old result has the old size
        render_until_result(filt)
        assert filt.gfx.draws[-1] in (("blend", "colour"), ("over", "colour"))
        assert filt.worker.pipeline.fused is False  # the GPU blends: the worker makes only the matte
    finally:
        filt.close()


def test_hide_pauses_and_forgets_state():
    filt = make_filter()
    try:
        render_until_result(filt)
        filt.source.is_showing = False
        filt.video_tick(0.016)
        assert not filt.active and filt.worker.latest() is None
        calls = filt.worker.pipeline.calls
        time.sleep(0.1)
        assert filt.worker.pipeline.calls == calls  # no work while hidden
        filt.source.is_showing = True
        filt.video_tick(0.016)
        filt.gfx.draws.clear()
        filt.video_render()
        assert safe_drawn(filt, "colour")  # nothing stale drawn, nor the camera
        render_until_result(filt)
        assert filt.worker.pipeline.resets >= 1
    finally:
        filt.close()


def test_the_panel_is_refreshed_only_when_the_state_changes(monkeypatch):
    """Rebuilding the panel closes an open dropdown: never for moving numbers."""
    filt = make_filter()
    try:
        from obs_filter import status

        render_until_result(filt)
        filt._last_edit = 0.0
        # the panel catches up with the state (refreshes are at least 0.9 s apart)
        assert wait_until(lambda: (frame(filt), filt._panel_state == status.state_key(filt))[1], 5)
        base = filt.source.prop_updates
        assert base <= 2  # starting → waiting → running, each once at most
        for _ in range(40):
            frame(filt)
            time.sleep(0.01)
        assert filt.source.prop_updates == base == filt.panel_refreshes
        # a state change (an error) refreshes once; its end refreshes once more
        filt.size_error = "source size 1x1 is outside 16..8192 pixels per side"
        for _ in range(5):
            filt.video_tick(0.1)
        monkeypatch.setattr(F, "PANEL_MIN_INTERVAL_S", 0.0)
        filt.video_tick(0.1)
        assert filt.source.prop_updates == base + 1
        filt.size_error = None
        filt.video_tick(0.1)
        filt.video_tick(0.1)
        assert filt.source.prop_updates == base + 2
        # not within the quiet time after an edit: it comes after
        filt.size_error = "x"
        filt._last_edit = time.monotonic()
        filt.video_tick(0.1)
        assert filt.source.prop_updates == base + 2
        filt._last_edit = 0.0
        filt.video_tick(0.1)
        assert filt.source.prop_updates == base + 3
    finally:
        filt.close()


def test_status_words_a_streamer_understands():
    from obs_filter import status

    assert status.panel_status(None) == ("Not running", "info")
    filt = make_filter(factory=lambda s: FakePipeline(s, 0.02))
    try:
        text, _ = status.panel_status(filt)
        assert text in ("Starting: loading the model…", "Waiting for the first matte…")
        render_until_result(filt)
        for _ in range(5):
            frame(filt)
            time.sleep(0.05)
        text, level = status.panel_status(filt)
        assert text.startswith("Running, ") and " fps" in text and level == "info"
        # the CPU share: over a second or more of frames after the first one
        assert wait_until(lambda: (frame(filt), time.sleep(0.02), "CPU " in status.panel_status(filt)[0])[2], 5)
        assert "% of one core" in status.panel_status(filt)[0]
        assert "inference" in status.details(filt) and "device CPU" in status.details(filt)
        filt.source.is_showing = False
        frame(filt)
        assert status.panel_status(filt)[0] == "Paused (the source is hidden)"
    finally:
        filt.close()


def test_close_stops_worker_and_frees_gpu():
    filt = make_filter()
    render_until_result(filt)
    filt.close()
    filt.close()  # idempotent
    assert filt.gfx.destroyed
    filt.worker.thread.join(2)
    assert not filt.worker.thread.is_alive()
    draws = len(filt.gfx.draws)
    filt.video_render()
    assert filt.source.skips == 0 and len(filt.gfx.draws) == draws  # closed: nothing drawn


class FakeProps:
    def __init__(self, root=None):
        self.root = root or self  # a group's content records into its panel
        self.items = {} if root is None else root.items
        self.visible = {} if root is None else root.visible
        self.callbacks = {} if root is None else root.callbacks
        self.order = [] if root is None else root.order

    def _add(self, name, **kw):
        assert name not in self.items, name
        self.items[name] = kw
        self.order.append(name)
        return name

    def add_group(self, name, desc, checkable=False):
        self._add(name, desc=desc, group=True, checkable=checkable)
        return name, FakeProps(self.root)

    def add_number(self, name, desc, lo, hi, step, suffix=""):
        return self._add(name, desc=desc, range=(lo, hi), step=step, suffix=suffix)

    def add_list(self, name, desc, items):
        return self._add(name, desc=desc, items=items)

    def add_path(self, name, desc, filt):
        return self._add(name, desc=desc, filter=filt)

    def add_color(self, name, desc):
        return self._add(name, desc=desc)

    def add_float(self, name, desc, lo, hi, step):
        return self._add(name, desc=desc, range=(lo, hi))

    def add_bool(self, name, desc):
        return self._add(name, desc=desc)

    def add_info(self, name, text, error=False, warning=False):
        return self._add(name, text=text, error=error, warning=warning)

    def set_tooltip(self, prop, text):
        self.items[prop]["tooltip"] = text

    def set_visible(self, name, v):
        self.visible[name] = v

    def on_modified(self, prop, func):
        self.callbacks[prop] = func

    def add_button(self, name, text, func, key):
        self.callbacks[name] = func
        return self._add(name, desc=text, key=key)


def test_properties_cover_the_settings_within_their_ranges():
    props = FakeProps()
    P.build_properties(props, None)
    for name in P.DEFAULTS:
        assert name in props.items, name
    assert props.items["stats"]["text"] == "Not running"
    devices = [v for _, v in props.items["device"]["items"]]
    assert devices[0] == "auto" and devices[-1] == "cpu"
    for key, field in P.PERCENT_KEYS.items():  # the spin boxes' ends are valid settings
        assert props.items[key]["range"] == P.RANGES[key][:2]
        for v in P.RANGES[key][:2]:
            Settings(**{field: v / 100})
    props.callbacks["background_type"](props, FakeData({"background_type": "image"}))
    assert props.visible == {"background_image": True, "background_video": False, "background_fit": True,
                             "blur_pct": False, "background_color": False, "background_help": False}
    props.callbacks["background_type"](props, FakeData({"background_type": "blur"}))
    assert [k for k, v in props.visible.items() if v] == ["blur_pct"]


def test_the_panel_is_grouped_with_advanced_folded_and_every_control_explained():
    props = FakeProps()
    P.build_properties(props, None)
    groups = [n for n in props.order if props.items[n].get("group")]
    assert [props.items[g]["desc"] for g in groups] == ["Background", "Tuning", "Static camera",
                                                                 "Advanced (tick to show)"]
    assert props.items["show_advanced"]["checkable"] and P.DEFAULTS["show_advanced"] is False
    # folded: every advanced control hidden; unfolded: shown (the custom model path only for "custom")
    props.callbacks["show_advanced"](props, FakeData())
    assert not any(props.visible[n] for n in P.ADVANCED)
    props.callbacks["show_advanced"](props, FakeData({"show_advanced": True}))
    assert all(props.visible[n] for n in P.ADVANCED if n != "model_path") and not props.visible["model_path"]
    # OBS shows no tooltip on a button: each has a visible line of text right under it
    for name, item in props.items.items():
        if item.get("group") or "text" in item:
            continue
        if "key" in item:  # a button
            nxt = props.order[props.order.index(name) + 1]
            assert "text" in props.items[nxt], name
        else:
            assert item.get("tooltip"), f"{name} has no tooltip"
            assert all(len(line) <= 72 for line in item["tooltip"].splitlines()), name  # wrapped
    # streamer words: the symbol beside a plain name, units on the numbers
    assert props.items["follow_speed"]["desc"] == "Follow speed (α)" and props.items["follow_speed"]["suffix"] == " %"
    assert "(β)" in props.items["follow_trend"]["desc"]
    assert "%" in props.items["min_blob"]["suffix"]


def test_device_list_offers_only_what_this_onnxruntime_has():
    from obs_filter import ortinfo

    assert ortinfo.available_devices(["CPUExecutionProvider"]) == ["auto", "cpu"]
    assert ortinfo.available_devices(["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["auto", "cuda", "cpu"]
    import onnxruntime as ort

    props = FakeProps()
    P.build_properties(props, None)
    offered = [v for _, v in props.items["device"]["items"]]
    assert offered == ortinfo.available_devices(ort.get_available_providers())
    if "DmlExecutionProvider" not in ort.get_available_providers():
        assert "dml" not in offered and "coreml" not in offered or sys.platform == "darwin"


def test_presets_are_consistent_data():
    from obs_filter import presets

    assert set(presets.PRESETS) == {"quality", "balanced", "light"}
    for name, values in presets.PRESETS.items():
        assert set(values) == set(presets.PRESET_KEYS), name
        data = FakeData(dict(values))
        s, _ = P.settings_from_obs(data)  # each preset is a valid setting
        assert presets.preset_of(P.panel_values(data)) == name
        assert name in presets.LABELS
    # the default preset is the defaults, which are the library's tuned values
    assert presets.preset_of(P.panel_values(FakeData())) == presets.DEFAULT_PRESET == P.DEFAULTS["preset"]
    s, _ = P.settings_from_obs(FakeData())
    d = Settings()
    for k in ("smooth_alpha", "smooth_beta", "min_area", "temporal_strength", "adaptive_rate", "model"):
        assert getattr(s, k) == getattr(d, k), k


def test_picking_a_preset_writes_its_values_and_moving_one_shows_custom():
    props = FakeProps()
    P.build_properties(props, None)
    data = FakeData()
    # OBS calls every modified callback when it builds the panel: nothing changes then
    for name in ("preset", "follow_speed", "steadiness", "adaptive_rate", "model"):
        assert props.callbacks[name](props, data) is False, name
    assert set(data.values) <= {"settings_version"}
    data.set_value("preset", "light")  # picked
    assert props.callbacks["preset"](props, data) is True
    assert data.get_string("adaptive_rate") == "saver" and data.get_string("model") == "landscape"
    assert props.callbacks["preset"](props, data) is False  # the rebuilt panel: stays
    data.set_value("follow_speed", 55)  # a value moved by hand
    assert props.callbacks["follow_speed"](props, data) is True and data.get_string("preset") == "custom"
    data.set_value("follow_speed", 56)  # moved again: no second rebuild
    assert props.callbacks["follow_speed"](props, data) is False and data.get_string("preset") == "custom"
    assert props.callbacks["preset"](props, data) is False  # custom writes nothing
    assert data.get_int("follow_speed") == 56
    data.set_value("follow_speed", 80)  # back to the preset's values: its name again
    assert props.callbacks["follow_speed"](props, data) is True and data.get_string("preset") == "light"
    data.set_value("model", "general")  # a preset value in Advanced counts too
    assert props.callbacks["model"](props, data) is True and data.get_string("preset") == "custom"
    s, _ = P.settings_from_obs(data)
    assert s.model == "general" and s.smooth_alpha == 0.8 and s.adaptive_rate == "saver"


def test_a_script_picking_a_preset_or_moving_a_value_gets_what_the_panel_would_do():
    # (obs-websocket's SetSourceFilterSettings runs no panel callback: the update does it)
    data = FakeData({"preset": "quality"})
    s, _ = P.settings_from_obs(data)
    assert s.adaptive_rate == "off" and data.values["preset_applied"] == "quality"
    data.set_value("follow_speed", 40)
    s, _ = P.settings_from_obs(data)
    assert s.smooth_alpha == 0.4 and data.values["preset"] == "custom"
    props = FakeProps()
    P.build_properties(props, None)
    assert props.callbacks["preset"](props, data) is False  # the panel built later writes nothing
    assert data.get_int("follow_speed") == 40
    data.set_value("preset", "light")
    P.settings_from_obs(data)
    assert data.get_int("follow_speed") == 80 and data.get_string("model") == "landscape"


def test_settings_saved_with_the_old_keys_still_load():
    # saved before the panel had percent keys and presets: fractions under the field names
    old = {"smooth_alpha": 0.5, "smooth_beta": 0.3, "min_area": 0.002, "temporal_strength": 0.6,
           "roi_margin": 0.25, "edge_detail": 0.9, "blur_strength": 0.7, "light_wrap": 0.2,
           "background_type": "color"}
    data = FakeData(old)
    s, _ = P.settings_from_obs(data)
    assert (s.smooth_alpha, s.smooth_beta, s.min_area, s.temporal_strength, s.roi_margin, s.edge_detail,
            s.blur_strength, s.light_wrap) == (0.5, 0.3, 0.002, 0.6, 0.25, 0.9, 0.7, 0.2)
    assert s.background == "#00b140"
    assert not any(k in data.values for k in P.PERCENT_KEYS.values())  # converted, erased
    assert data.values["follow_speed"] == 50 and data.values["min_blob"] == 0.2
    assert data.values["preset"] == "custom"  # its values are not a preset's: kept, not overwritten
    # an old filter with the tuned values gets the preset they match
    data = FakeData({"temporal_strength": 0.9, "background_type": "color"})
    P.settings_from_obs(data)
    assert data.get_string("preset") == "balanced" and data.values["steadiness"] == 90
    # a script setting an old key later still wins (the newest write)
    data.set_value("temporal_strength", 0.0)
    s, _ = P.settings_from_obs(data)
    assert s.temporal_strength == 0.0 and data.values["preset"] == "custom"
    # a new filter gets only the version mark (and is transparent)
    data = FakeData()
    s, _ = P.settings_from_obs(data)
    assert data.values == {"settings_version": P.SETTINGS_VERSION} and s.background == "transparent"
    # an old one that never chose a background keeps the old default, a colour
    data = FakeData({"min_area": 0.02})
    s, _ = P.settings_from_obs(data)
    assert s.background == "#00b140" and data.values["background_type"] == "color"
    s, _ = P.settings_from_obs(FakeData({"settings_version": 2, "min_blob": 2.0}))  # a new one: transparent
    assert s.background == "transparent"
    s, _ = P.settings_from_obs(FakeData({"show_advanced": True, "device": "cpu"}))  # new keys: new code
    assert s.background == "transparent"


def test_every_background_and_edge_option_stays_on_the_gpu_path():
    base = dict(P.DEFAULTS, background_type="color")
    assert P.settings_from_obs(FakeData(base))[1] == "gpu"
    for change in ({"halo_removal": True}, {"light_wrap": 0.3}, {"background_type": "blur"},
                   {"background_type": "video", "background_video": "/clips/loop.mp4"}):
        settings, path = P.settings_from_obs(FakeData(dict(base, **change)))
        assert path == "gpu", change
        assert P.settings_from_obs(FakeData(dict(base, compositing="cpu", **change)))[1] == "cpu"
    settings, _ = P.settings_from_obs(FakeData(dict(base, background_type="blur", blur_strength=0.8)))
    assert settings.background == "blur" and settings.blur_strength == 0.8


# -- script load / unload / reload ----------------------------------------------------------
def _use_fakes(monkeypatch, st, sources, lines=None):
    """Point the modules the script uses now at the fake store, sources and graphics."""
    for mod in _libobs_modules():
        monkeypatch.setattr(mod, "store", lambda: st)
        monkeypatch.setattr(mod, "register_filter",
                            lambda i, n: st.registered.setdefault(i, n) and len(st.registered) == 1)
        monkeypatch.setattr(mod, "FilterSource", lambda ptr: sources[ptr])
        monkeypatch.setattr(mod, "Data", lambda ptr: ptr)
        monkeypatch.setattr(mod, "enter_graphics", lambda: None)
        monkeypatch.setattr(mod, "leave_graphics", lambda: None)
        if lines is not None:
            monkeypatch.setattr(mod, "log", lambda level, msg: lines.append(msg))
    monkeypatch.setattr(sys.modules["obs_filter.handler"], "Graphics", FakeGfx)
    worker = sys.modules["obs_filter.worker"]
    monkeypatch.setattr(worker, "_default_factory", lambda s: FakePipeline(s))
    warmup = importlib.import_module("obs_filter.warmup")  # the real one compiles numba: tests/test_warmup.py
    monkeypatch.setattr(warmup, "start", lambda log=None, stop=None: st.__dict__.setdefault("warmups", []).append(stop))
    monkeypatch.setattr(worker, "_default_grid", grid)


@pytest.fixture
def fake_obs(monkeypatch):
    """The store and libobs calls replaced by fakes (no libobs in this process)."""
    import types

    st = types.SimpleNamespace(registered={}, handler=None, instances={}, next_key=1, lock=threading.RLock(),
                               prop_callbacks={}, prop_funcs={})
    sources = {}
    _use_fakes(monkeypatch, st, sources)
    return st, sources


def test_script_reload_rebinds_and_keeps_filters_working(fake_obs, monkeypatch, quiet_log):
    st, sources = fake_obs
    mod = glue
    # The reload replaces the obs_filter modules and the script's names; put the ones of
    # this test file back afterwards.
    for name in [n for n in sys.modules if n.startswith("obs_filter")]:
        monkeypatch.setitem(sys.modules, name, sys.modules[name])
    for name, value in list(vars(glue).items()):
        monkeypatch.setitem(vars(glue), name, value)
    old_filter_mod = sys.modules["obs_filter.filter"]
    mod.script_load(None)
    src = FakeSource()
    src.data = FakeData({"background_type": "color"})
    sources[src.ptr] = src
    key = st.handler.create(src.data, src.ptr)
    filt = st.instances[key]
    render_until_result(filt)

    mod.script_unload()  # Tools → Scripts → reload: unload…
    assert isinstance(st.handler, mod.PassThrough)
    assert filt.closed and filt.gfx.destroyed
    skips = src.skips
    st.handler.video_render(key, None)
    assert src.skips == skips  # unloaded: nothing drawn (not the camera)

    mod = importlib.reload(glue)  # …then the new code loads (OBS reloads with importlib.reload too)
    assert sys.modules["obs_filter.filter"] is not old_filter_mod, "obs_filter must be re-imported"
    _use_fakes(monkeypatch, st, sources, quiet_log)
    mod.script_load(None)
    new = st.instances[key]
    assert isinstance(new, sys.modules["obs_filter.filter"].BgReplaceFilter) and new is not filt
    render_until_result(new)
    assert new.gfx.draws[-1] in (("blend", "colour"), ("over", "colour"))
    st.handler.destroy(key)
    assert key not in st.instances and new.closed


def test_callback_exception_never_reaches_libobs(fake_obs, quiet_log):
    st, sources = fake_obs
    glue.script_load(None)
    src = FakeSource()
    sources[src.ptr] = src
    key = st.handler.create(FakeData(), src.ptr)
    filt = st.instances[key]
    try:
        def boom(*a):
            raise RuntimeError("GPU lost")

        filt.gfx.capture = boom
        st.handler.video_render(key, None)  # must not raise
        assert src.skips == 0 and "rendering failed: GPU lost" in filt.stats_text()
        draws = len(filt.gfx.draws)
        st.handler.video_render(key, None)
        assert len(filt.gfx.draws) == draws and src.skips == 0  # from now on nothing is drawn
        assert len([m for m in quiet_log if "GPU lost" in m]) == 1
    finally:
        st.handler.destroy(key)


# -- one capture per frame, readback that never waits, the matte on its own frame ----------
class FakeStageLib:
    """The four libobs staging calls over numpy buffers, checking the rule that makes
    readback non-blocking: a surface is never mapped in the frame that staged it."""

    def __init__(self):
        self.frame = 0
        self.staged_at = {}  # surface id → frame
        self.created = []
        self.maps = 0

    def gs_stagesurface_create(self, w, h, fmt):
        surf = {"w": w, "h": h, "buf": (ctypes.c_uint8 * (h * (w * 4 + 8)))()}
        self.created.append(surf)
        return surf

    def gs_stagesurface_destroy(self, surf):
        self.created.remove(surf)

    def gs_stage_texture(self, surf, tex):
        value, w, h = tex
        pitch = w * 4 + 8  # padded rows, like real drivers may give
        arr = np.frombuffer(surf["buf"], np.uint8).reshape(h, pitch)
        arr[:] = value
        self.staged_at[id(surf)] = self.frame

    def gs_stagesurface_map(self, surf, ptr_ref, linesize_ref):
        assert self.staged_at[id(surf)] < self.frame, "mapped a surface staged in the same frame (a GPU stall)"
        self.maps += 1
        ptr_ref._obj.contents = ctypes.c_uint8.from_buffer(surf["buf"])
        linesize_ref._obj.value = surf["w"] * 4 + 8
        return True

    def gs_stagesurface_unmap(self, surf):
        pass


def test_readback_ring_maps_only_copies_staged_on_an_earlier_frame():
    from obs_filter.graphics import ReadbackRing

    lib = FakeStageLib()
    ring = ReadbackRing(lib)
    got = []
    for f in range(6):
        lib.frame = f
        ring.next_frame()
        r = ring.read()  # before staging, as the filter does
        if r is not None:
            got.append((r[0], int(r[1][0, 0, 0]), r[1].shape))
        ring.stage((f, 8, 4), 8, 4, tag=f)
    assert got == [(f, f, (4, 8, 4)) for f in range(5)]  # each frame's copy, one frame later
    assert len(lib.created) == 2  # two surfaces per size, reused in turn
    lib.frame = 6
    ring.next_frame()
    ring.stage((9, 16, 8), 16, 8, tag="new size")
    assert ring.read()[0] == 5  # the old size's last copy is still read…
    lib.frame = 7
    ring.next_frame()
    assert ring.read()[0] == "new size"
    assert [(s["w"], s["h"]) for s in lib.created] == [(16, 8)]  # …and then its surfaces go
    ring.destroy()
    assert lib.created == []


def test_renders_after_the_first_in_a_frame_only_draw():
    filt = make_filter()
    try:
        render_until_result(filt)
        caps, staged, calls = filt.gfx.captures, len(filt.gfx.staged), filt.counters.values["readbacks"]
        draws = len(filt.gfx.draws)
        for _ in range(5):
            frame(filt, renders=3)  # e.g. studio mode + a projector
        assert filt.gfx.captures - caps == 5
        assert filt.counters.values["readbacks"] - calls == 5
        assert len(filt.gfx.draws) - draws == 15
        assert filt.counters.values["renders"] >= 15
        assert len(filt.gfx.staged) <= staged + 1
    finally:
        filt.close()


def test_the_worker_runs_its_kernels_on_one_thread():
    """numba's thread count is per thread: the worker's own (where the kernels run) is
    NUMBA_THREADS, this thread's is left alone. OpenCV runs on OPENCV_THREADS and the
    pipeline's model on MODEL_THREADS."""
    numba = pytest.importorskip("numba")
    cv2 = pytest.importorskip("cv2")
    seen, made = [], []

    class Counting(FakePipeline):
        def process(self, *a, **k):
            seen.append((numba.get_num_threads(), cv2.getNumThreads()))
            return super().process(*a, **k)

    def factory(settings):
        made.append(settings)
        return Counting(settings)

    before, cv_before = numba.get_num_threads(), cv2.getNumThreads()
    filt = make_filter(factory=factory)
    try:
        render_until_result(filt)
        assert seen and set(seen) == {(min(W.NUMBA_THREADS, numba.config.NUMBA_NUM_THREADS), W.OPENCV_THREADS)}
        assert made and {s.threads for s in made} == {W.MODEL_THREADS}
        assert numba.get_num_threads() == before
    finally:
        filt.close()
        cv2.setNumThreads(cv_before)  # process-wide: the other tests keep their default


def test_the_frame_read_back_reaches_the_worker_after_the_render_draws():
    """The worker wakes (and takes Python's GIL) only once this render's libobs calls
    are done: the frame is submitted after the draw, also when the draw fails."""
    filt = make_filter()
    try:
        render_until_result(filt)
        events = []
        submit = filt.worker.submit
        filt.worker.submit = lambda *a: (events.append("submit"), submit(*a))[1]
        gfx = filt.gfx
        for name in ("draw_source", "draw_over", "draw_blend", "draw"):
            real = getattr(gfx, name)
            setattr(gfx, name, lambda *a, _real=real, **k: (events.append("draw"), _real(*a, **k))[1])
        for _ in range(3):
            events.append("frame")
            frame(filt)
        frames = " ".join(events).split("frame")[1:]
        assert all(f.split() and f.split()[-1] == "submit" and "draw" in f for f in frames), events

        def broken(*a, **k):
            events.append("draw")
            raise RuntimeError("draw failed")
        for name in ("draw_source", "draw_blend", "draw"):
            setattr(gfx, name, broken)
        events.clear()
        with pytest.raises(RuntimeError):
            frame(filt)
        assert events == ["draw", "submit"]
    finally:
        filt.close()


def test_frames_are_staged_later_where_staging_waits_for_the_renderer():
    filt = make_filter()
    slow = {"on": False}
    stage, ages = filt.gfx.stage, []  # frames between drawing and staging

    def timed_stage(tex, w, h, tag):
        if slow["on"]:
            time.sleep(0.003)  # a software renderer finishing its queue first
        ages.append(filt.frame_seq - tag[0])
        stage(tex, w, h, tag)

    filt.gfx.stage = timed_stage
    try:
        for _ in range(F.STAGE_SLOW_AFTER + 5):  # quick staging: the next frame
            frame(filt)
        assert filt.stage_delay == F.STAGE_DELAY == 1
        assert set(ages) == {1}
        slow["on"] = True
        for _ in range(2 * F.STAGE_SLOW_AFTER + 2):
            frame(filt)
        assert filt.stage_delay == F.STAGE_DELAY_SLOW == 2
        ages.clear()
        for _ in range(5):
            frame(filt)
        assert ages == [2] * 5  # each frame staged two frames after it was drawn
        slow["on"] = False
        filt.source.size = (960, 540)  # a new size is measured again
        for _ in range(3):
            frame(filt)
        assert filt.stage_delay == 1 and ages[-1] == 1
    finally:
        filt.close()


def test_latency_mode_keeps_no_frames_and_never_samples_this_frame():
    filt = make_filter({"timing": "latency"})
    try:
        render_until_result(filt)
        for _ in range(5):
            frame(filt)
        assert filt.gfx.captures == 0 and len(filt.ring) == 0  # the source is drawn directly
        assert filt.gfx.draws[-1] == ("over", "colour")
    finally:
        filt.close()
    filt = make_filter({"timing": "latency", "background_type": "transparent"})
    try:  # the matte as alpha needs the frame as a texture
        render_until_result(filt)
        assert filt.gfx.captures > 0 and filt.gfx.draws[-1] == ("blend", "transparent")
    finally:
        filt.close()


def test_latency_mode_draws_the_current_frame_with_the_newest_matte():
    filt = make_filter({"timing": "latency"}, factory=lambda s: FakePipeline(s, 0.05))
    try:
        render_until_result(filt)
        for _ in range(40):
            frame(filt)
            time.sleep(0.01)
        shown = filt._shown_seq  # the frame number of the matte drawn last
        # the current frame straight from the source, the matte blended over it
        assert filt.gfx.draws[-1] == ("over", "colour")
        assert len(filt.ring) == 0  # no frame kept
        assert filt.frame_seq > shown and sum(filt.counters.ages[2:]) > 0
        assert "behind the picture" in filt.stats_text()
    finally:
        filt.close()


def step(filt, renders=1):
    """One frame, then until the worker has finished what it was given (the tests below
    see the same frames and mattes on any machine, however busy)."""
    frame(filt, renders)
    w = filt.worker

    def done():
        res = w.latest()
        return w._frame is None and (w._seq == 0 or (res is not None and res.seq == w._seq))
    assert wait_until(done), "the worker did not finish its frame"


class Timing:
    """OBS's frame timing as gfx.obs_timing gives it: lagged frames, average ms, interval."""

    def __init__(self):
        self.lagged, self.ms = 0, 2.0

    def __call__(self):
        return self.lagged, self.ms, 1 / 30


def test_sync_delay_is_fixed_from_the_measured_latency_and_held():
    from obs_filter import shedding

    filt = make_filter({"timing": "sync"})
    filt.gfx.obs_timing = timing = Timing()
    try:
        for _ in range(200):
            step(filt)
            if filt.delay.frames is not None:
                break
        d = filt.delay.frames
        # read back STAGE_DELAY frames after drawing (or one more on a slow stage), seen the frame after
        assert d is not None and 1 <= d <= 4
        assert "picture delayed" in filt.stats_text() and f"= {d} frame(s)" in filt.stats_text()
        filt.counters.ages[:] = [0] * len(filt.counters.ages)
        for _ in range(40):
            step(filt)
            assert filt.delay.frames == d and filt.delay_frames == d
            assert filt.gfx.draws[-1] == ("blend", "colour")
            assert filt.gfx.blended == filt.ring.texture(filt.frame_seq - d)  # the frame d back
        assert sum(filt.counters.ages[1:]) == 0 and filt.counters.ages[0] == 40  # each with its own matte
        assert abs(filt.delay_ms() - d * 1e3 / 30) < 1e-6

        # OBS misses frames: the filter reads back every 2nd, then 3rd frame; the delay holds,
        # a frame without a matte gets the nearest earlier one
        filt.counters.ages[:] = [0] * len(filt.counters.ages)
        shed0 = filt.counters.values.get("shed", 0)
        gap, shedding.RAISE_GAP_S = shedding.RAISE_GAP_S, 0.0  # a step each missed frame
        try:
            for i in range(12):
                timing.lagged += 1
                step(filt)
        finally:
            shedding.RAISE_GAP_S = gap
        assert filt.shedder.level == shedding.LEVELS[-1]
        assert "giving way to OBS" in filt.stats_text()
        filt.counters.ages[:] = [0] * len(filt.counters.ages)
        for _ in range(24):
            step(filt)
            assert filt.delay.frames == d
        ages = filt.counters.ages
        assert ages[0] > 0 and ages[1] > 0 and sum(ages[shedding.LEVELS[-1]:]) == 0
        assert filt.counters.values.get("shed", 0) > shed0
        # load gone: back to every frame, one step per calm spell
        shedding_calm = shedding.CALM_FOR_S
        shedding.CALM_FOR_S = 0.0
        try:
            for _ in range(10):
                step(filt)
        finally:
            shedding.CALM_FOR_S = shedding_calm
        assert filt.shedder.level == 1 and filt.delay.frames == d
        filt.counters.ages[:] = [0] * len(filt.counters.ages)
        for _ in range(2 * d + 4):
            step(filt)
        for _ in range(20):
            step(filt)
        assert filt.counters.ages[0] >= 20 and "giving way" not in filt.stats_text()

        # a settings change chooses the delay again
        filt.update(FakeData({"timing": "sync", "temporal_strength": 0.3}))
        step(filt)
        assert filt.delay.frames is None and "measuring the picture delay" in filt.stats_text()
    finally:
        filt.close()


def test_frame_ring_grows_to_the_latency_within_its_bounds():
    from obs_filter.graphics import FrameRing

    gfx = FakeGfx()
    ring = FrameRing()
    ring.reset(gfx, (3840, 2160, "gpu"))
    ring.want(1000)
    assert ring.limit == ring.MAX_BYTES // (4 * 3840 * 2160) == 8  # 9 frames of 4K would pass 256 MB
    for seq in range(100):
        ring.capture(gfx, None, seq, 3840, 2160)
    assert len(ring) == ring.limit and ring.texture(99) and ring.texture(99 - ring.limit + 1)
    assert ring.texture(99 - ring.limit) is None
    ring.reset(gfx, (640, 360, "gpu"))
    assert ring.limit == ring.MIN_FRAMES and len(ring) == 0


# -- known background ---------------------------------------------------------------------------
class KnownPipeline(FakePipeline):
    """The fake model with the real known-background stage (capture, save, load, status)."""

    def __init__(self, settings):
        from matting.plate import KnownBackground

        super().__init__(settings)
        self.known_bg = KnownBackground(settings.known_background)
        if settings.background_plate:
            self.known_bg.load(settings.background_plate)

    def configure(self, settings):
        if settings.background_plate != self.settings.background_plate:
            self.known_bg.load(settings.background_plate)
        self.known_bg.learn = settings.known_background
        super().configure(settings)

    def capture_background(self, frames, order=None):
        self.known_bg.capture(frames, order)

    def set_background_plate(self, image):
        self.known_bg.set_plate(image) if image is not None else self.known_bg.clear()

    @property
    def known_background_status(self):
        return self.known_bg.status


def test_capture_button_saves_the_plate_and_stores_its_path(tmp_path, monkeypatch):
    from obs_filter import worker as W

    for mod in _libobs_modules():
        monkeypatch.setattr(mod, "config_dir", lambda name: str(tmp_path), raising=False)
    props = FakeProps()
    P.build_properties(props, None)
    assert {"capture_background", "known_background", "background_plate"} <= set(props.items)
    settings, _ = P.settings_from_obs(FakeData({"known_background": True, "background_plate": " /x/plate.png "}))
    assert settings.known_background and settings.background_plate == "/x/plate.png"

    filt = make_filter(factory=KnownPipeline)
    try:
        render_until_result(filt)
        assert "known background" not in filt.stats_text()  # off: not mentioned
        props.callbacks["capture_background"](filt)  # the button
        assert wait_until(lambda: (frame(filt), getattr(filt.source, "set_settings", None))[1], 20)
        (name, path), = filt.source.set_settings
        assert name == "background_plate" and path.startswith(str(tmp_path)) and path.endswith(".png")
        import cv2

        plate = cv2.imread(path)
        assert plate.shape == (360, 640, 3) and (plate == 128).all()  # the (grid-size) frames, averaged
        assert filt.worker.pipeline.known_bg.captured
        # OBS applies the stored setting (update), and a re-created filter loads the plate.
        filt.update(filt.source.data)
        again = make_filter({"background_plate": path}, factory=KnownPipeline)
        try:
            render_until_result(again)
            assert again.worker.pipeline.known_bg.plate is not None
        finally:
            again.close()
    finally:
        filt.close()
    assert W.CAPTURE_FRAMES >= 10


def test_a_worker_stopped_while_waiting_for_the_lock_loads_no_model():
    """Removing filters quickly (OBS: 20 re-adds) leaves workers queued on the process
    lock; once stopped they must not load a model each (which kept them alive past the
    script's unload)."""
    from matting.settings import Settings

    made = []
    with W._PROCESS_LOCK:
        worker = W.Worker("obs_bg_replace:test-stopped", factory=lambda s: made.append(s) or FakePipeline(s))
        worker.configure(Settings(), "gpu")
        time.sleep(0.3)  # the worker now waits for the lock inside _apply
        worker.stop()
    worker.thread.join(5)
    assert not worker.thread.is_alive()
    assert made == [] and worker.pipeline is None


class PersonPipeline(KnownPipeline):
    """Someone stands in the middle of the picture (a third of it) in the model's matte."""

    def process(self, frame, order="BGR", out=None, fuse=True):
        composite, alpha = super().process(frame, order, out, fuse)
        h, w = alpha.shape
        alpha[:, w // 3: 2 * w // 3] = 255
        return composite, alpha


def test_capture_counts_down_and_refuses_a_picture_with_someone_in_it(tmp_path, monkeypatch):
    from obs_filter import status

    for mod in _libobs_modules():
        monkeypatch.setattr(mod, "config_dir", lambda name: str(tmp_path), raising=False)
    filt = make_filter(factory=PersonPipeline)
    try:
        render_until_result(filt)
        t0 = time.monotonic()
        filt.capture_background()
        frame(filt)
        text, level = status.panel_status(filt)
        assert text == "Capture: step out of the picture, 3…" and level == "warning"
        assert filt.worker.capture.state_key() == ("countdown", 3)
        assert wait_until(lambda: (frame(filt), not filt.worker.capture.busy())[1], 20)
        assert time.monotonic() - t0 >= 3.0  # nothing recorded before the countdown ended
        text, level = status.panel_status(filt)
        assert "Capture refused: someone is still in the picture" in text and level == "warning"
        assert "33 % of it" in text
        assert not getattr(filt.source, "set_settings", None)  # no plate stored
        assert not list(tmp_path.glob("*.png")) and filt.worker.pipeline.known_bg.plate is None
    finally:
        filt.close()


# -- never the raw room ------------------------------------------------------------------------
def _frames_until(filt, pred, timeout=5.0):
    assert wait_until(lambda: (frame(filt), pred())[1], timeout)


def test_no_raw_frame_through_start_changes_errors_failure_resize_and_pause(tmp_path, monkeypatch):
    """A whole streamer's session on the fakes: at no render is the camera frame drawn
    without a matte over it, and the status says why the background alone is shown."""
    import cv2

    img = tmp_path / "bg.png"
    cv2.imwrite(str(img), np.full((10, 20, 3), 90, np.uint8))
    monkeypatch.setattr(F, "TEST_HOOKS", True)
    filt = make_filter(factory=lambda s: FakePipeline(s, 0.02))
    try:
        frame(filt)  # start-up: no matte yet
        assert safe_drawn(filt, "colour") and "waiting for the first matte" in filt.stats_text()
        render_until_result(filt)
        steps = [
            {"background_type": "image", "background_image": str(img)},
            {"background_type": "transparent"},
            {"background_type": "blur"},
            {"background_type": "color", "model": "landscape"},
            {"background_type": "image", "background_image": str(tmp_path / "missing.png")},
            {"background_type": "color", "compositing": "cpu"},
            {"compositing": "gpu", "test_worker_error": True},
            {"test_worker_error": False, "temporal_strength": 0.3},
        ]
        for values in steps:
            filt.update(FakeData(values))
            for _ in range(30):
                frame(filt, renders=2)
                time.sleep(0.003)
        filt.source.size = (640, 360)  # resize
        for _ in range(20):
            frame(filt)
            time.sleep(0.003)
        filt.source.is_showing = False  # pause, then back
        frame(filt)
        filt.source.is_showing = True
        for _ in range(20):
            frame(filt)
            time.sleep(0.003)
        assert not raw_shown(filt), [d for d in filt.gfx.draws if d in RAW][:3]
        render_until_result(filt)
        assert filt.gfx.draws[-1] in (("blend", "colour"), ("over", "colour"))
    finally:
        filt.close()


def test_an_empty_room_is_captured_and_can_be_forgotten(tmp_path, monkeypatch):
    from obs_filter import capture, status

    for mod in _libobs_modules():
        monkeypatch.setattr(mod, "config_dir", lambda name: str(tmp_path), raising=False)
    filt = make_filter(factory=KnownPipeline)
    try:
        render_until_result(filt)
        filt.capture_background()
        assert wait_until(lambda: (frame(filt), getattr(filt.source, "set_settings", None))[1], 20)
        assert "Empty room captured" in status.panel_status(filt)[0]
        assert filt.worker.pipeline.known_bg.plate is not None
        filt.update(filt.source.data)
        filt.forget_background()
        assert filt.source.set_settings[-1] == ("background_plate", "")
        filt.update(filt.source.data)
        assert wait_until(lambda: (frame(filt), filt.worker.pipeline.known_bg.plate is None)[1], 5)
        assert "captured" not in status.panel_status(filt)[0]
    finally:
        filt.close()
    # the rule: a person in a minority of the frames leaves no trace in the median plate
    cap = capture.Capture("x.png", 0.0, 8, now=0.0)
    person = np.full((10, 10), 255, np.uint8)
    empty = np.zeros((10, 10), np.uint8)
    for alpha in [person] + [empty] * 7:
        cap.add(np.zeros((10, 10, 3), np.uint8), alpha)
    assert cap.verdict() is None
    for _ in range(2):
        cap.add(np.zeros((10, 10, 3), np.uint8), person)
    assert cap.verdict() is not None  # 3 of 10 frames


def test_old_and_new_keys_mixed_in_a_settings_storm_only_give_settings_errors():
    """Scripts (and tests/obs/test_obs_hostile.py) still set the old keys; mixed with the
    new ones in any order, a change gives valid Settings or a SettingsError, never another
    exception, and the newest write of a value wins."""
    from matting.errors import MattingError

    variants = [
        {"temporal_strength": 0.0}, {"temporal_strength": 0.9}, {"edge_detail": 0.0}, {"edge_detail": 1.0},
        {"light_wrap": 0.5}, {"min_area": 0.1}, {"smooth_alpha": 0.01}, {"roi_margin": 1.0},
        {"temporal_strength": 5.0}, {"steadiness": 40}, {"follow_speed": 100}, {"min_blob": 0.3},
        {"preset": "quality"}, {"preset": "custom"}, {"blur_strength": 0.2}, {"blur_pct": 70},
        {"background_type": "blur"}, {"compositing": "cpu"}, {"model": "landscape"},
    ]
    rng = np.random.default_rng(0)
    data = FakeData({"background_type": "color"})
    for _ in range(300):
        change = variants[int(rng.integers(len(variants)))]
        data.values.update(change)
        try:
            s, _ = P.settings_from_obs(data)
        except MattingError:
            continue
        key, value = next(iter(change.items()))
        if key in P.PERCENT_KEYS.values():
            assert getattr(s, key) == pytest.approx(value, abs=0.005)
        elif key in P.PERCENT_KEYS:
            assert getattr(s, P.PERCENT_KEYS[key]) == pytest.approx(value / 100)


def test_bench_setting_pauses_the_worker_once_the_delay_is_chosen():
    filt = make_filter({"timing": "sync", "bench_worker_paused": True})
    try:
        for _ in range(200):
            step(filt)
            if filt.delay.frames is not None:
                break
        assert filt.delay.frames is not None
        n, readbacks = filt.worker.total_frames, filt.counters.values.get("readbacks", 0)
        for _ in range(10):
            step(filt)
        assert filt.worker.total_frames == n  # no more frames for the worker
        assert filt.counters.values.get("readbacks", 0) > readbacks  # the readback goes on
        assert filt.gfx.draws[-1] == ("blend", "colour")  # and so does the blend
    finally:
        filt.close()


def test_an_image_background_is_shown_alone_before_the_first_matte(tmp_path):
    """The worker prepares the picture before the first frame's matte (which may wait
    for numba to compile): the filter draws it meanwhile."""
    import cv2

    img = tmp_path / "bg.png"
    cv2.imwrite(str(img), np.full((10, 20, 3), 90, np.uint8))
    gate = threading.Event()

    class Slow(FakePipeline):
        def process(self, *a, **k):
            gate.wait(10)  # the first matte is late (kernels compiling)
            return super().process(*a, **k)

    filt = make_filter({"background_type": "image", "background_image": str(img)}, factory=Slow)
    try:
        _frames_until(filt, lambda: filt.worker.safe_background is not None)
        frame(filt)
        assert safe_drawn(filt, "image") and ("background", (720, 1280, 4)) in filt.gfx.uploads
        assert not raw_shown(filt)
    finally:
        gate.set()
        filt.close()


def test_the_last_good_matte_bridges_a_settings_change_then_expires(monkeypatch):
    gate = threading.Event()
    gate.set()

    class Gated(FakePipeline):
        def process(self, *a, **k):
            gate.wait(10)
            return super().process(*a, **k)

    filt = make_filter(factory=Gated)
    try:
        render_until_result(filt)
        gate.clear()  # the worker's next matte is late
        filt.update(FakeData({"temporal_strength": 0.3}))  # drops the worker's result
        assert wait_until(lambda: filt.worker.latest() is None)
        frame(filt)
        assert filt.gfx.draws[-1] in (("blend", "colour"), ("over", "colour"))  # the last good matte
        assert filt.gfx.blended != ("zero", (1, 1)) or filt.gfx.draws[-1][0] == "over"
        monkeypatch.setattr(F, "LAST_GOOD_S", 0.0)  # …until it is too old: the background alone
        frame(filt)
        assert safe_drawn(filt, "colour") and not raw_shown(filt)
    finally:
        gate.set()
        filt.close()


def test_blur_shows_the_frames_mean_colour_until_its_matte():
    gate = threading.Event()

    class Slow(FakePipeline):
        def process(self, *a, **k):
            gate.wait(10)
            return super().process(*a, **k)

    filt = make_filter({"background_type": "blur"}, factory=Slow)
    try:
        frame(filt)
        assert safe_drawn(filt, "colour")  # dark grey before any frame was read back
        _frames_until(filt, lambda: filt._mean_colour is not None)
        frame(filt)
        assert safe_drawn(filt, "colour") and filt._mean_colour == pytest.approx((128 / 255,) * 3)
    finally:
        gate.set()
        filt.close()


def test_the_worker_failure_hook_is_off_by_default(quiet_log):
    assert F.TEST_HOOKS is False  # only OBS_BG_REPLACE_TEST_HOOKS=1 turns it on
    filt = make_filter({"test_worker_error": True})
    try:
        render_until_result(filt)
        assert filt.worker.error is None and not filt.worker.fail_next
    finally:
        filt.close()


def test_script_description_names_missing_packages_before_load(monkeypatch):
    """OBS calls script_description() before script_load()."""
    monkeypatch.setattr(glue, "_SETUP", None)
    monkeypatch.setattr(glue, "_MISSING", ["numpy>=1.24 (not installed)"])
    assert "packages are missing" in glue.script_description()
    monkeypatch.setattr(glue, "_MISSING", [])
    assert "missing" not in glue.script_description()


def test_warnings_go_to_the_script_log_and_info_to_the_log_file(monkeypatch):
    import types

    calls = []
    monkeypatch.setitem(sys.modules, "obspython", types.SimpleNamespace(script_log=lambda l, t: calls.append((l, t))))
    blogged = []
    import importlib.util

    # libobs.log itself is replaced by the quiet_log fixture: test a fresh copy of the module
    src = importlib.util.spec_from_file_location("libobs_copy", ol.__file__)
    copy = importlib.util.module_from_spec(src)
    src.loader.exec_module(copy)
    monkeypatch.setattr(copy, "lib", lambda: types.SimpleNamespace(blog=lambda l, t: blogged.append((l, t))))
    copy.flush_script_log()  # this thread is now the graphics thread (video_tick)
    copy.log(copy.LOG_WARNING, "file missing: 100%")
    copy.log(copy.LOG_INFO, "loaded 5%")
    assert calls == [(copy.LOG_WARNING, "[obs_bg_replace] file missing: 100%")]  # Script Log + file
    other = threading.Thread(target=copy.log, args=(copy.LOG_ERROR, "worker failed"))
    other.start()
    other.join()
    assert len(calls) == 1  # another thread's line goes to the log file only, at once
    assert blogged[-1] == (copy.LOG_ERROR, b"[obs_bg_replace] worker failed")
    blogged.pop()
    assert blogged == [(copy.LOG_INFO, b"[obs_bg_replace] loaded 5%%")]  # the file only
    monkeypatch.delitem(sys.modules, "obspython")
    copy.log(copy.LOG_ERROR, "outside OBS")
    assert blogged[-1] == (copy.LOG_ERROR, b"[obs_bg_replace] outside OBS")
