"""Fast tests of the OBS glue (obs_bg_replace.py, obs_filter/) with fake libobs objects.

The real proof is tests/obs (a headless OBS); these pin the glue's behaviour that is hard
to provoke there: a slow model, failures, odd sizes, pause, destroy, script reload.
"""

from __future__ import annotations

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
from matting.errors import ModelError  # noqa: E402
from matting.settings import Settings  # noqa: E402


# -- fakes --------------------------------------------------------------------------------
class FakeData:
    def __init__(self, values=None):
        self.values = dict(P.DEFAULTS)
        self.values.update(values or {})
        self.ptr = self  # ol.Data is the identity in the fakes

    def get_string(self, k):
        return str(self.values.get(k, ""))

    def get_int(self, k):
        return int(self.values.get(k, 0))

    def get_double(self, k):
        return float(self.values.get(k, 0.0))

    def get_bool(self, k):
        return bool(self.values.get(k, False))

    def set_default(self, k, v):
        self.values.setdefault(k, v)


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


class FakeGfx:
    """Records what would be drawn; read() returns a frame of the asked size."""

    def __init__(self):
        self.draws = []
        self.uploads = []
        self.destroyed = False

    def capture(self, source, w, h):
        return ("tex", w, h)

    def scaled(self, tex, w, h, ow, oh):
        return ("small", ow, oh)

    def read(self, tex, w, h):
        return np.full((h, w, 4), 128, np.uint8)

    def upload(self, purpose, array):
        self.uploads.append((purpose, array.shape))
        return (purpose, array.shape)

    def draw(self, tex, w, h):
        self.draws.append(("plain", tex[0]))

    def draw_blend(self, image, mask, w, h, colour=None, background=None):
        kind = "image" if background is not None else "colour" if colour is not None else "transparent"
        self.draws.append(("blend", kind))

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

    def process(self, frame, order="BGR", out=None):
        self.calls += 1
        time.sleep(self.delay)  # an "artificially slow model" (sleep releases the GIL like ORT)
        alpha = np.zeros(frame.shape[:2], np.uint8)
        self.timings = {"inference": self.delay * 1e3, "total": self.delay * 1e3 + 0.1}
        return (out if out is not None else frame.copy()), alpha


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
    filt.update(FakeData(values))
    return filt


def wait_until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.005)
    return False


def render_until_result(filt, timeout=5.0):
    def step():
        filt.video_render()
        res = filt.worker.latest()
        return res is not None and res.size == filt.source.size
    assert wait_until(step, timeout), "no result from the worker"
    filt.video_render()


# -- settings -----------------------------------------------------------------------------
def test_defaults_map_to_matting_defaults():
    s, path = P.settings_from_obs(FakeData())
    assert path == "gpu"
    d = Settings()
    assert s.background == d.background == "#00b140"
    for k in ("model", "device", "smooth_alpha", "smooth_beta", "roi_margin", "min_area", "keep_largest",
              "temporal_strength"):
        assert getattr(s, k) == getattr(d, k), k


def test_settings_mapping():
    s, path = P.settings_from_obs(FakeData({"background_color": 0xFF0000FF, "compositing": "cpu",
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
    ({"smooth_alpha": 0.0}, "smooth_alpha"),
    ({"device": "tpu"}, "device"),
])
def test_bad_settings_pass_through_with_one_message(values, words, quiet_log):
    filt = make_filter(values)
    try:
        assert words in filt.stats_text() and filt.stats_text().startswith("Error")
        for _ in range(5):
            filt.video_render()
            filt.video_tick(0.1)
        assert filt.source.skips == 5 and filt.gfx.draws == []
        assert len([m for m in quiet_log if words in m]) == 1
    finally:
        filt.close()


def test_max_side_matches_the_library():
    from matting.pipeline import MAX_SIDE

    assert F.MAX_SIDE == MAX_SIDE


# -- rendering ----------------------------------------------------------------------------
def test_gpu_path_draws_source_until_first_result_then_blends():
    filt = make_filter()
    try:
        filt.video_render()
        assert filt.gfx.draws[0] == ("plain", "tex")  # nothing finished yet: unchanged frame
        render_until_result(filt)
        assert filt.gfx.draws[-1] == ("blend", "colour")
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
        assert filt.gfx.draws[-1] == ("blend", "image")
        assert ("background", (720, 1280, 4)) in filt.gfx.uploads
    finally:
        filt.close()


def _render_times(delay, n=40):
    filt = make_filter(factory=lambda s: FakePipeline(s, delay))
    try:
        render_until_result(filt, timeout=10)
        times = []
        for _ in range(n):
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
        assert filt.source.skips == 3 and filt.gfx.draws == []
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
    finally:
        filt.close()


def test_model_failure_passes_through(quiet_log):
    def broken(_settings):
        raise ModelError("model file not found: /nope.onnx")

    filt = make_filter(factory=broken)
    try:
        assert wait_until(lambda: filt.worker.error is not None)
        for _ in range(4):
            filt.video_render()
            filt.video_tick(0.1)
        assert filt.source.skips >= 4
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
        assert filt.gfx.draws[-1] == ("plain", "tex")  # old result has the old size
        render_until_result(filt)
        assert filt.gfx.draws[-1] == ("blend", "colour")
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
        assert filt.gfx.draws[-1] == ("plain", "tex")  # nothing stale drawn
        render_until_result(filt)
        assert filt.worker.pipeline.resets >= 1
    finally:
        filt.close()


def test_stats_refresh_is_throttled():
    filt = make_filter()
    try:
        render_until_result(filt)
        filt._last_edit = 0.0
        for _ in range(10):
            filt.video_tick(0.5)  # 5 s
        assert 1 <= filt.source.prop_updates <= 3
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
    filt.video_render()
    assert filt.source.skips >= 1


class FakeProps:
    def __init__(self):
        self.items = {}
        self.visible = {}
        self.callbacks = {}

    def _add(self, name, **kw):
        self.items[name] = kw
        return name

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

    def add_info(self, name, text, error=False):
        return self._add(name, text=text, error=error)

    def set_tooltip(self, prop, text):
        self.items[prop]["tooltip"] = text

    def set_visible(self, name, v):
        self.visible[name] = v

    def on_modified(self, prop, func):
        self.callbacks[prop] = func


def test_properties_cover_the_settings_within_their_ranges():
    props = FakeProps()
    P.build_properties(props, None)
    for name in P.DEFAULTS:
        assert name in props.items, name
    assert props.items["stats"]["text"] == "Not running"
    devices = [v for _, v in props.items["device"]["items"]]
    assert devices == ["auto", "dml", "cuda", "coreml", "cpu"]
    lo, hi = props.items["temporal_strength"]["range"]
    for v in (lo, hi):  # the slider's ends are valid settings
        Settings(temporal_strength=v)
    props.callbacks["background_type"](props, FakeData({"background_type": "image"}))
    assert props.visible == {"background_image": True, "background_video": False, "background_fit": True,
                             "blur_strength": False, "background_color": False}
    props.callbacks["background_type"](props, FakeData({"background_type": "blur"}))
    assert [k for k, v in props.visible.items() if v] == ["blur_strength"]


def test_features_the_shader_cannot_do_switch_to_cpu_compositing():
    base = dict(P.DEFAULTS, background_type="color")
    assert P.settings_from_obs(FakeData(base))[1] == "gpu"
    for change in ({"halo_removal": True}, {"light_wrap": 0.3}, {"background_type": "blur"},
                   {"background_type": "video", "background_video": "/clips/loop.mp4"}):
        settings, path = P.settings_from_obs(FakeData(dict(base, **change)))
        assert path == "cpu", change
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
    sources[src.ptr] = src
    key = st.handler.create(FakeData(), src.ptr)
    filt = st.instances[key]
    render_until_result(filt)

    mod.script_unload()  # Tools → Scripts → reload: unload…
    assert isinstance(st.handler, mod.PassThrough)
    assert filt.closed and filt.gfx.destroyed
    skips = src.skips
    st.handler.video_render(key, None)
    assert src.skips == skips + 1  # unloaded: frames pass through

    mod = importlib.reload(glue)  # …then the new code loads (OBS reloads with importlib.reload too)
    assert sys.modules["obs_filter.filter"] is not old_filter_mod, "obs_filter must be re-imported"
    _use_fakes(monkeypatch, st, sources, quiet_log)
    mod.script_load(None)
    new = st.instances[key]
    assert isinstance(new, sys.modules["obs_filter.filter"].BgReplaceFilter) and new is not filt
    render_until_result(new)
    assert new.gfx.draws[-1] == ("blend", "colour")
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
        assert src.skips == 1 and "rendering failed: GPU lost" in filt.stats_text()
        st.handler.video_render(key, None)
        assert len([m for m in quiet_log if "GPU lost" in m]) == 1
    finally:
        st.handler.destroy(key)
