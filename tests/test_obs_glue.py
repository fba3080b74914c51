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

    def draw_over(self, mask, w, h, colour=None, background=None):
        kind = "image" if background is not None else "colour"
        assert self.draws[-1] == ("plain", "source")  # over the frame just drawn: one drawing
        self.draws[-1] = ("over", kind)

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

    def draw_blend(self, image, mask, w, h, colour=None, background=None):
        kind = "image" if background is not None else "colour" if colour is not None else "transparent"
        self.draws.append(("blend", kind))
        self.blended = image

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
    filt.update(FakeData(values))
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
    draws = len(filt.gfx.draws)
    filt.video_render()
    assert filt.source.skips == 0 and len(filt.gfx.draws) == draws  # closed: nothing drawn


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
    assert devices == ["auto", "dml", "cuda", "coreml", "cpu"]
    lo, hi = props.items["temporal_strength"]["range"]
    for v in (lo, hi):  # the slider's ends are valid settings
        Settings(temporal_strength=v)
    props.callbacks["background_type"](props, FakeData({"background_type": "image"}))
    assert props.visible == {"background_image": True, "background_video": False, "background_fit": True,
                             "blur_strength": False, "background_color": False}
    props.callbacks["background_type"](props, FakeData({"background_type": "blur"}))
    assert [k for k, v in props.visible.items() if v] == ["blur_strength"]


def test_adaptive_rate_property():
    props = FakeProps()
    P.build_properties(props, None)
    assert sorted(v for _, v in props.items["adaptive_rate"]["items"]) == ["balanced", "off", "saver"]
    assert P.DEFAULTS["adaptive_rate"] == Settings().adaptive_rate == "balanced"
    base = dict(P.DEFAULTS, background_type="color")
    assert P.settings_from_obs(FakeData(dict(base, adaptive_rate="saver")))[0].adaptive_rate == "saver"


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
    sources[src.ptr] = src
    key = st.handler.create(FakeData(), src.ptr)
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


@pytest.mark.parametrize("timing", ["sync", "latency"])
def test_matte_is_drawn_over_its_own_frame_in_sync_mode(timing):
    filt = make_filter({"timing": timing}, factory=lambda s: FakePipeline(s, 0.05))
    try:
        render_until_result(filt)
        for _ in range(20):  # the ring grows to the measured latency
            frame(filt)
            time.sleep(0.01)
        filt.counters.ages[:] = [0] * len(filt.counters.ages)
        for _ in range(20):
            frame(filt)
            time.sleep(0.01)
        shown = filt._shown_seq  # the frame number of the matte drawn last
        if timing == "sync":
            assert filt.gfx.draws[-1] == ("blend", "colour")
            assert filt.gfx.blended == filt.ring.texture(shown)
            assert filt.counters.ages[0] > 0 and sum(filt.counters.ages[1:]) == 0
            assert filt.delay_ms() > 0 and "picture delayed" in filt.stats_text()
        else:  # the current frame straight from the source, the matte blended over it
            assert filt.gfx.draws[-1] == ("over", "colour")
            assert len(filt.ring) == 0  # no frame kept
            assert filt.frame_seq > shown and sum(filt.counters.ages[2:]) > 0
            assert "behind the picture" in filt.stats_text()
        assert len(filt.ring) <= filt.ring.MAX_FRAMES
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
    assert len(calls) == 1  # another thread's line waits for the graphics thread…
    copy.flush_script_log()
    assert calls[-1] == (copy.LOG_ERROR, "[obs_bg_replace] worker failed")  # …and goes out there
    assert blogged == [(copy.LOG_INFO, b"[obs_bg_replace] loaded 5%%")]  # the file only
    monkeypatch.delitem(sys.modules, "obspython")
    copy.log(copy.LOG_ERROR, "outside OBS")
    copy.flush_script_log()
    assert blogged[-1] == (copy.LOG_ERROR, b"[obs_bg_replace] outside OBS")
