"""ctypes bindings to libobs for the Background Replace filter.

OBS's Python API (obspython) cannot register a video filter nor touch pixels, so this
module talks to libobs directly:

* :func:`register_filter` fills a ``struct obs_source_info`` and registers it. libobs
  keeps raw pointers to the callbacks for the life of the process and a source type can
  never be unregistered, so every ctypes object lives in a *store* module kept in
  ``sys.modules``; the trampolines call whatever handler is bound there now, which lets a
  script reload re-bind them to the new code instead of leaving dangling pointers.
* :class:`Data`, :class:`Properties`, :class:`FilterSource` wrap the few obs_data /
  obs_properties / obs_source calls the filter needs.

Nothing here knows about matting or pixels: :mod:`obs_filter.graphics` moves frames.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import types
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_float, c_int,
                    c_longlong, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p)

# -- constants (libobs headers, OBS 29) -------------------------------------------------
OBS_SOURCE_TYPE_FILTER = 1
OBS_SOURCE_VIDEO = 1 << 0
OBS_SOURCE_ASYNC = 1 << 2
OBS_SOURCE_CUSTOM_DRAW = 1 << 3
OBS_SOURCE_SRGB = 1 << 15  # the filter handles the sRGB framebuffer state itself
GS_CS_SRGB = 0  # enum gs_color_space: 8-bit SDR sRGB
GS_R8, GS_RGBA = 2, 3
GS_ZS_NONE = 0
GS_CLEAR_COLOR = 1 << 0
GS_BLEND_ZERO, GS_BLEND_ONE = 0, 1
GS_BLEND_SRCALPHA, GS_BLEND_INVSRCALPHA = 4, 5
GS_BLEND_OP_ADD, GS_BLEND_OP_REVERSE_SUBTRACT = 0, 2  # enum gs_blend_op_type (OBS 28+)
OBS_EFFECT_DEFAULT = 0
OBS_COMBO_TYPE_LIST, OBS_COMBO_FORMAT_STRING = 2, 3
OBS_PATH_FILE = 0
OBS_TEXT_INFO = 3
OBS_TEXT_INFO_NORMAL, OBS_TEXT_INFO_WARNING, OBS_TEXT_INFO_ERROR = 0, 1, 2
OBS_GROUP_NORMAL, OBS_GROUP_CHECKABLE = 1, 2
LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG = 100, 200, 300, 400

STORE_NAME = "_obs_bg_replace_store"

# -- callback types of struct obs_source_info --------------------------------------------
GET_NAME = CFUNCTYPE(c_void_p, c_void_p)  # returns const char*; c_void_p: we own the buffer
CREATE = CFUNCTYPE(c_void_p, c_void_p, c_void_p)
DESTROY = CFUNCTYPE(None, c_void_p)
GET_SIZE = CFUNCTYPE(c_uint32, c_void_p)
GET_DEFAULTS = CFUNCTYPE(None, c_void_p)
GET_PROPERTIES = CFUNCTYPE(c_void_p, c_void_p)
UPDATE = CFUNCTYPE(None, c_void_p, c_void_p)
VOID_DATA = CFUNCTYPE(None, c_void_p)  # activate, deactivate, show, hide
VIDEO_TICK = CFUNCTYPE(None, c_void_p, c_float)
VIDEO_RENDER = CFUNCTYPE(None, c_void_p, c_void_p)
FILTER_REMOVE = CFUNCTYPE(None, c_void_p, c_void_p)
GET_COLOR_SPACE = CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p)  # (data, count, preferred spaces)
PROPERTY_MODIFIED = CFUNCTYPE(c_bool, c_void_p, c_void_p, c_void_p)
BUTTON_CLICKED = CFUNCTYPE(c_bool, c_void_p, c_void_p, c_void_p)  # (props, property, priv)

_P = c_void_p
# Field order of struct obs_source_info in OBS 29 (400 bytes on x86-64). The size is
# passed to obs_register_source_s, so newer OBS versions accept it as well.
_INFO_FIELDS = [
    ("id", c_char_p), ("type", c_int), ("output_flags", c_uint32),
    ("get_name", GET_NAME), ("create", CREATE), ("destroy", DESTROY),
    ("get_width", GET_SIZE), ("get_height", GET_SIZE),
    ("get_defaults", GET_DEFAULTS), ("get_properties", GET_PROPERTIES), ("update", UPDATE),
    ("activate", VOID_DATA), ("deactivate", VOID_DATA), ("show", VOID_DATA), ("hide", VOID_DATA),
    ("video_tick", VIDEO_TICK), ("video_render", VIDEO_RENDER),
    ("filter_video", _P), ("filter_audio", _P), ("enum_active_sources", _P),
    ("save", _P), ("load", _P), ("mouse_click", _P), ("mouse_move", _P), ("mouse_wheel", _P),
    ("focus", _P), ("key_click", _P), ("filter_remove", FILTER_REMOVE),
    ("type_data", _P), ("free_type_data", _P), ("audio_render", _P), ("enum_all_sources", _P),
    ("transition_start", _P), ("transition_stop", _P), ("get_defaults2", _P),
    ("get_properties2", _P), ("audio_mix", _P), ("icon_type", c_int),
    ("media_play_pause", _P), ("media_restart", _P), ("media_stop", _P), ("media_next", _P),
    ("media_previous", _P), ("media_get_duration", _P), ("media_get_time", _P),
    ("media_set_time", _P), ("media_get_state", _P), ("version", c_uint32),
    ("unversioned_id", c_char_p), ("missing_files", _P), ("video_get_color_space", GET_COLOR_SPACE),
]


class ObsSourceInfo(Structure):
    _fields_ = _INFO_FIELDS


# -- the library ------------------------------------------------------------------------
# name: (restype, argtypes). Only what the filter uses.
_FUNCS = {
    "obs_register_source_s": (None, [c_void_p, c_size_t]),
    # blog is variadic; it is called with a fixed format only (no variadic arguments),
    # which is portable (arm64 macOS passes variadic arguments on the stack).
    "blog": (None, [c_int, c_char_p]),
    "obs_enter_graphics": (None, []),
    "obs_leave_graphics": (None, []),
    "obs_get_base_effect": (c_void_p, [c_int]),
    # sources
    "obs_filter_get_target": (c_void_p, [c_void_p]),
    "obs_filter_get_parent": (c_void_p, [c_void_p]),
    "obs_source_get_output_flags": (c_uint32, [c_void_p]),
    "obs_source_get_base_width": (c_uint32, [c_void_p]),
    "obs_source_get_base_height": (c_uint32, [c_void_p]),
    "obs_source_default_render": (None, [c_void_p]),
    "obs_source_video_render": (None, [c_void_p]),
    "obs_source_skip_video_filter": (None, [c_void_p]),
    "obs_source_enabled": (c_bool, [c_void_p]),
    "obs_source_showing": (c_bool, [c_void_p]),
    "obs_source_get_name": (c_char_p, [c_void_p]),
    "obs_source_get_settings": (c_void_p, [c_void_p]),
    "obs_source_update_properties": (None, [c_void_p]),
    # data
    "obs_data_get_string": (c_char_p, [c_void_p, c_char_p]),
    "obs_data_get_int": (c_longlong, [c_void_p, c_char_p]),
    "obs_data_get_double": (c_double, [c_void_p, c_char_p]),
    "obs_data_get_bool": (c_bool, [c_void_p, c_char_p]),
    "obs_data_set_default_string": (None, [c_void_p, c_char_p, c_char_p]),
    "obs_data_set_default_int": (None, [c_void_p, c_char_p, c_longlong]),
    "obs_data_set_default_double": (None, [c_void_p, c_char_p, c_double]),
    "obs_data_set_default_bool": (None, [c_void_p, c_char_p, c_bool]),
    "obs_data_release": (None, [c_void_p]),
    "obs_data_create": (c_void_p, []),
    "obs_data_set_string": (None, [c_void_p, c_char_p, c_char_p]),
    "obs_data_set_int": (None, [c_void_p, c_char_p, c_longlong]),
    "obs_data_set_double": (None, [c_void_p, c_char_p, c_double]),
    "obs_data_set_bool": (None, [c_void_p, c_char_p, c_bool]),
    "obs_data_has_user_value": (c_bool, [c_void_p, c_char_p]),
    "obs_data_erase": (None, [c_void_p, c_char_p]),
    "obs_source_update": (None, [c_void_p, c_void_p]),
    "os_get_config_path_ptr": (c_void_p, [c_char_p]),
    # properties
    "obs_properties_create": (c_void_p, []),
    "obs_properties_get": (c_void_p, [c_void_p, c_char_p]),
    "obs_properties_add_bool": (c_void_p, [c_void_p, c_char_p, c_char_p]),
    "obs_properties_add_float_slider": (c_void_p, [c_void_p, c_char_p, c_char_p, c_double, c_double, c_double]),
    "obs_properties_add_float": (c_void_p, [c_void_p, c_char_p, c_char_p, c_double, c_double, c_double]),
    "obs_properties_add_int": (c_void_p, [c_void_p, c_char_p, c_char_p, c_int, c_int, c_int]),
    "obs_properties_add_group": (c_void_p, [c_void_p, c_char_p, c_char_p, c_int, c_void_p]),
    "obs_property_int_set_suffix": (None, [c_void_p, c_char_p]),
    "obs_property_float_set_suffix": (None, [c_void_p, c_char_p]),
    "obs_properties_add_text": (c_void_p, [c_void_p, c_char_p, c_char_p, c_int]),
    "obs_properties_add_path": (c_void_p, [c_void_p, c_char_p, c_char_p, c_int, c_char_p, c_char_p]),
    "obs_properties_add_list": (c_void_p, [c_void_p, c_char_p, c_char_p, c_int, c_int]),
    "obs_properties_add_color": (c_void_p, [c_void_p, c_char_p, c_char_p]),
    "obs_properties_add_button2": (c_void_p, [c_void_p, c_char_p, c_char_p, BUTTON_CLICKED, c_void_p]),
    "obs_property_list_add_string": (c_size_t, [c_void_p, c_char_p, c_char_p]),
    "obs_property_set_modified_callback": (None, [c_void_p, PROPERTY_MODIFIED]),
    "obs_property_set_visible": (None, [c_void_p, c_bool]),
    "obs_property_set_long_description": (None, [c_void_p, c_char_p]),
    "obs_property_text_set_info_type": (None, [c_void_p, c_int]),
    # graphics
    "gs_texrender_create": (c_void_p, [c_int, c_int]),
    "gs_texrender_destroy": (None, [c_void_p]),
    "gs_texrender_reset": (None, [c_void_p]),
    "gs_texrender_begin": (c_bool, [c_void_p, c_uint32, c_uint32]),
    "gs_texrender_end": (None, [c_void_p]),
    "gs_texrender_get_texture": (c_void_p, [c_void_p]),
    "gs_stagesurface_create": (c_void_p, [c_uint32, c_uint32, c_int]),
    "gs_stagesurface_destroy": (None, [c_void_p]),
    "gs_stage_texture": (None, [c_void_p, c_void_p]),
    "gs_stagesurface_map": (c_bool, [c_void_p, POINTER(POINTER(c_uint8)), POINTER(c_uint32)]),
    "gs_stagesurface_unmap": (None, [c_void_p]),
    "gs_texture_create": (c_void_p, [c_uint32, c_uint32, c_int, c_uint32, c_void_p, c_uint32]),
    "gs_texture_destroy": (None, [c_void_p]),
    "gs_effect_create": (c_void_p, [c_char_p, c_char_p, POINTER(c_char_p)]),
    "gs_effect_destroy": (None, [c_void_p]),
    "gs_effect_get_param_by_name": (c_void_p, [c_void_p, c_char_p]),
    "gs_effect_set_texture": (None, [c_void_p, c_void_p]),
    "gs_effect_set_vec4": (None, [c_void_p, c_void_p]),
    "gs_effect_loop": (c_bool, [c_void_p, c_char_p]),
    "gs_draw_sprite": (None, [c_void_p, c_uint32, c_uint32, c_uint32]),
    "gs_clear": (None, [c_uint32, c_void_p, c_float, c_uint8]),
    "gs_ortho": (None, [c_float] * 6),
    "gs_blend_state_push": (None, []),
    "gs_blend_state_pop": (None, []),
    "gs_blend_function": (None, [c_int, c_int]),
    "gs_blend_function_separate": (None, [c_int, c_int, c_int, c_int]),
    "gs_blend_op": (None, [c_int]),
    # OBS's own frame timing (what obs-websocket's GetStats reports)
    "obs_get_lagged_frames": (c_uint32, []),
    "obs_get_average_frame_time_ns": (c_uint64, []),
    "obs_get_frame_interval_ns": (c_uint64, []),
    "gs_texrender_begin_with_color_space": (c_bool, [c_void_p, c_uint32, c_uint32, c_int]),
    "gs_framebuffer_srgb_enabled": (c_bool, []),
    "gs_enable_framebuffer_srgb": (None, [c_bool]),
    "bfree": (None, [c_void_p]),
}


def _library_candidates() -> list[str | None]:
    if sys.platform == "win32":
        return ["obs.dll", "obs"]
    if sys.platform == "darwin":
        return ["@executable_path/../Frameworks/libobs.framework/Versions/A/libobs",
                "libobs.framework/libobs", "libobs.dylib", None]
    return ["libobs.so.0", "libobs.so", None]  # None: symbols already loaded in OBS


class Libobs:
    """The libobs functions above as attributes with their C signatures."""

    def __init__(self, cdll: ctypes.CDLL):
        self.cdll = cdll
        missing = []
        for name, (restype, argtypes) in _FUNCS.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                missing.append(name)
                continue
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name, fn)
        if missing:
            raise OSError(f"libobs lacks {', '.join(missing)} (OBS too old?)")


def store() -> types.ModuleType:
    """The process-wide keep-alive store (survives script reloads)."""
    mod = sys.modules.get(STORE_NAME)
    if mod is None:
        mod = types.ModuleType(STORE_NAME)
        mod.lib = None  # Libobs
        mod.registered = {}  # type id → (ObsSourceInfo, [callbacks], name buffer)
        mod.prop_callbacks = {}  # name → C callback of a property's "modified"
        mod.prop_funcs = {}  # name → the Python function it calls now
        mod.handler = None  # object whose methods the trampolines call
        mod.instances = {}  # int key → filter instance (the void *data of each filter)
        mod.next_key = 1
        mod.lock = threading.RLock()
        sys.modules[STORE_NAME] = mod
    return mod


def lib() -> Libobs:
    st = store()
    if st.lib is None:
        errors = []
        for name in _library_candidates():
            try:
                st.lib = Libobs(ctypes.CDLL(name))
                break
            except OSError as exc:
                errors.append(f"{name}: {exc}")
        else:
            raise OSError("cannot load libobs (" + "; ".join(errors) + ")")
    return st.lib


def log(level: int, message: str) -> None:
    """Write one line to the OBS log (any thread). Warnings and errors go through
    ``obspython.script_log``, which writes the log file and Tools → Scripts → Script Log
    (where streamers look; ``blog`` reaches only the file)."""
    text = "[obs_bg_replace] " + message
    if level <= LOG_WARNING:
        # From a thread of ours (a worker's) script_log stopped OBS 29 in a real run, and
        # lines queued for the graphics thread did not reach OBS 30.2's log file in CI:
        # such lines go to the log file at once (blog below); the status line shows them.
        # OBS's UI thread (script_load, buttons) is Python's main thread.
        ours = threading.current_thread() is not threading.main_thread() \
            and threading.get_ident() != getattr(store(), "graphics_thread", None)
        if not ours and script_log(level, text):
            return
    try:
        lib().blog(level, text.replace("%", "%%").encode("utf-8", "replace"))
    except OSError:
        print(text, file=sys.stderr)


def flush_script_log() -> None:
    """On the graphics thread (script_tick, video_tick): remember it as the graphics
    thread, whose warnings go to the Script Log too."""
    store().graphics_thread = threading.get_ident()


def script_log(level: int, text: str) -> bool:
    """``obspython.script_log`` if OBS's Python module is loaded (it is inside OBS, which
    imports it at start-up; thread-safe: OBS queues the line to the Script Log window).
    False where it is not (outside OBS)."""
    obs = sys.modules.get("obspython")
    fn = getattr(obs, "script_log", None)
    if fn is None:
        return False
    try:
        fn(level, text)
        return True
    except Exception:  # noqa: BLE001 - fall back to blog
        return False


# -- registration -----------------------------------------------------------------------
def _trampoline(method: str, default=None):
    """A C callback that forwards to ``store().handler.<method>``; never raises into C."""

    def call(*args):
        handler = store().handler
        fn = getattr(handler, method, None) if handler is not None else None
        if fn is None:
            return default
        try:
            result = fn(*args)
            return default if result is None else result
        except BaseException as exc:  # noqa: BLE001 - an exception must not reach libobs
            try:
                handler.on_callback_error(method, exc)
            except BaseException:  # noqa: BLE001
                pass
            return default

    return call


def register_filter(type_id: str, display_name: str) -> bool:
    """Register the video filter type once per process; later calls (script reloads) only
    keep the existing registration. The callbacks go to ``store().handler``."""
    st = store()
    with st.lock:
        if type_id in st.registered:
            return False
        name_buf = ctypes.create_string_buffer(display_name.encode())
        id_buf = ctypes.create_string_buffer(type_id.encode())
        callbacks = {
            "get_name": GET_NAME(lambda _type_data: ctypes.addressof(name_buf)),
            "create": CREATE(_trampoline("create", 0)),
            "destroy": DESTROY(_trampoline("destroy")),
            "get_defaults": GET_DEFAULTS(_trampoline("get_defaults")),
            "get_properties": GET_PROPERTIES(_trampoline("get_properties", 0)),
            "update": UPDATE(_trampoline("update")),
            "show": VOID_DATA(_trampoline("show")),
            "hide": VOID_DATA(_trampoline("hide")),
            "video_tick": VIDEO_TICK(_trampoline("video_tick")),
            "video_render": VIDEO_RENDER(_trampoline("video_render")),
            "filter_remove": FILTER_REMOVE(_trampoline("filter_remove")),
            "video_get_color_space": GET_COLOR_SPACE(_trampoline("video_get_color_space", GS_CS_SRGB)),
        }
        info = ObsSourceInfo()
        info.id = id_buf.value  # the structure keeps this bytes object alive
        info.type = OBS_SOURCE_TYPE_FILTER
        # Colour: the filter works in 8-bit sRGB on every canvas (captures rendered as
        # GS_CS_SRGB, the blend on sRGB-encoded values with framebuffer sRGB off, like the
        # CPU path's uint8 composite) and says so; OBS converts its output for HDR canvases.
        info.output_flags = OBS_SOURCE_VIDEO | OBS_SOURCE_SRGB
        for field, cb in callbacks.items():
            setattr(info, field, cb)
        lib().obs_register_source_s(ctypes.addressof(info), ctypes.sizeof(info))
        st.registered[type_id] = (info, callbacks, name_buf, id_buf)
        return True


def new_key(instance) -> int:
    """An opaque non-zero ``void *data`` for a filter instance."""
    st = store()
    with st.lock:
        key = st.next_key
        st.next_key += 1
        st.instances[key] = instance
        return key


def instance(key):
    return store().instances.get(key) if key else None


def drop_key(key) -> None:
    store().instances.pop(key, None)


# -- obs_data and obs_properties --------------------------------------------------------
class Data:
    """Read access and defaults of an ``obs_data_t *`` (borrowed: not released)."""

    def __init__(self, ptr):
        self.ptr = ptr
        self.lib = lib()

    def get_string(self, name: str) -> str:
        v = self.lib.obs_data_get_string(self.ptr, name.encode())
        return v.decode("utf-8", "replace") if v else ""

    def get_int(self, name: str) -> int:
        return int(self.lib.obs_data_get_int(self.ptr, name.encode()))

    def get_double(self, name: str) -> float:
        return float(self.lib.obs_data_get_double(self.ptr, name.encode()))

    def get_bool(self, name: str) -> bool:
        return bool(self.lib.obs_data_get_bool(self.ptr, name.encode()))

    def set_string(self, name: str, value: str) -> None:
        self.lib.obs_data_set_string(self.ptr, name.encode(), value.encode())

    def set_value(self, name: str, value) -> None:
        """Set a bool, int, float or string (by the Python type)."""
        key = name.encode()
        if isinstance(value, bool):
            self.lib.obs_data_set_bool(self.ptr, key, value)
        elif isinstance(value, int):
            self.lib.obs_data_set_int(self.ptr, key, value)
        elif isinstance(value, float):
            self.lib.obs_data_set_double(self.ptr, key, value)
        else:
            self.lib.obs_data_set_string(self.ptr, key, str(value).encode())

    def has_user_value(self, name: str) -> bool:
        return bool(self.lib.obs_data_has_user_value(self.ptr, name.encode()))

    def erase(self, name: str) -> None:
        self.lib.obs_data_erase(self.ptr, name.encode())

    def set_default(self, name: str, value) -> None:
        key = name.encode()
        if isinstance(value, bool):
            self.lib.obs_data_set_default_bool(self.ptr, key, value)
        elif isinstance(value, int):
            self.lib.obs_data_set_default_int(self.ptr, key, value)
        elif isinstance(value, float):
            self.lib.obs_data_set_default_double(self.ptr, key, value)
        else:
            self.lib.obs_data_set_default_string(self.ptr, key, str(value).encode())


class Properties:
    """Builds an ``obs_properties_t *`` (ownership goes to OBS when returned)."""

    def __init__(self, ptr=None):
        self.lib = lib()
        self.ptr = ptr or self.lib.obs_properties_create()

    def _s(self, text):
        return text.encode() if text is not None else None

    def add_list(self, name, desc, items):
        p = self.lib.obs_properties_add_list(self.ptr, name.encode(), desc.encode(),
                                             OBS_COMBO_TYPE_LIST, OBS_COMBO_FORMAT_STRING)
        for label, value in items:
            self.lib.obs_property_list_add_string(p, label.encode(), value.encode())
        return p

    def add_path(self, name, desc, file_filter):
        return self.lib.obs_properties_add_path(self.ptr, name.encode(), desc.encode(), OBS_PATH_FILE,
                                                file_filter.encode(), None)

    def add_color(self, name, desc):
        return self.lib.obs_properties_add_color(self.ptr, name.encode(), desc.encode())

    def add_float(self, name, desc, lo, hi, step):
        return self.lib.obs_properties_add_float_slider(self.ptr, name.encode(), desc.encode(), lo, hi, step)

    def add_bool(self, name, desc):
        return self.lib.obs_properties_add_bool(self.ptr, name.encode(), desc.encode())

    def add_number(self, name, desc, lo, hi, step, suffix=""):
        """A spin box (not a slider: OBS shows a number's tooltip on its spin box only, and
        a lone spin box spans the row). Whole numbers if ``lo``, ``hi`` and ``step`` are ints."""
        if all(isinstance(v, int) for v in (lo, hi, step)):
            p = self.lib.obs_properties_add_int(self.ptr, name.encode(), desc.encode(), lo, hi, step)
            if suffix:
                self.lib.obs_property_int_set_suffix(p, suffix.encode())
        else:
            p = self.lib.obs_properties_add_float(self.ptr, name.encode(), desc.encode(), lo, hi, step)
            if suffix:
                self.lib.obs_property_float_set_suffix(p, suffix.encode())
        return p

    def add_group(self, name, desc, checkable=False):
        """A group box; returns (its property, a Properties to fill). A checkable group's
        check box is the bool setting ``name``."""
        content = Properties()
        p = self.lib.obs_properties_add_group(self.ptr, name.encode(), desc.encode(),
                                              OBS_GROUP_CHECKABLE if checkable else OBS_GROUP_NORMAL, content.ptr)
        return p, content

    def add_info(self, name, text, error=False, warning=False):
        p = self.lib.obs_properties_add_text(self.ptr, name.encode(), text.encode("utf-8", "replace"),
                                             OBS_TEXT_INFO)
        kind = OBS_TEXT_INFO_ERROR if error else OBS_TEXT_INFO_WARNING if warning else OBS_TEXT_INFO_NORMAL
        self.lib.obs_property_text_set_info_type(p, kind)
        return p

    def add_button(self, name, text, func, key):
        """A button; a click calls ``func(instance(key))`` (one C callback per name for the
        life of the process, as in :meth:`on_modified`)."""
        st = store()
        with st.lock:
            funcs = st.__dict__.setdefault("button_funcs", {})
            callbacks = st.__dict__.setdefault("button_callbacks", {})
            funcs[name] = func
            c = callbacks.get(name)
            if c is None:
                def cb(_props, _prop, priv, name=name):
                    try:
                        filt = instance(priv or 0)
                        if filt is not None:
                            store().button_funcs[name](filt)
                    except Exception as exc:  # noqa: BLE001
                        log(LOG_WARNING, f"button {name} failed: {exc}")
                    return True

                c = callbacks[name] = BUTTON_CLICKED(cb)
        return self.lib.obs_properties_add_button2(self.ptr, name.encode(), text.encode(), c, c_void_p(key or 0))

    def set_tooltip(self, prop, text):
        self.lib.obs_property_set_long_description(prop, text.encode())

    def get(self, name):
        return self.lib.obs_properties_get(self.ptr, name.encode())

    def set_visible(self, name, visible: bool):
        p = self.get(name)
        if p:
            self.lib.obs_property_set_visible(p, visible)

    def on_modified(self, prop, func):
        """``func(Properties, Data) -> bool`` (True: redraw the panel)."""
        st = store()
        key = func.__qualname__
        with st.lock:
            # One C callback per name for the life of the process, calling the newest
            # function of that name: an open panel may still hold an older pointer.
            st.prop_funcs[key] = func
            c = st.prop_callbacks.get(key)
            if c is None:
                def cb(props, _prop, settings, key=key):
                    try:
                        return bool(store().prop_funcs[key](Properties(props), Data(settings)))
                    except Exception as exc:  # noqa: BLE001
                        log(LOG_WARNING, f"property callback failed: {exc}")
                        return False

                c = st.prop_callbacks[key] = PROPERTY_MODIFIED(cb)
        self.lib.obs_property_set_modified_callback(prop, c)


# -- the filter's source ----------------------------------------------------------------
class FilterSource:
    """The filter's ``obs_source_t *`` and its target."""

    def __init__(self, ptr):
        self.ptr = ptr
        self.lib = lib()

    @property
    def name(self) -> str:
        n = self.lib.obs_source_get_name(self.ptr)
        return n.decode("utf-8", "replace") if n else "?"

    def target_size(self) -> tuple[int, int]:
        t = self.lib.obs_filter_get_target(self.ptr)
        if not t:
            return 0, 0
        return int(self.lib.obs_source_get_base_width(t)), int(self.lib.obs_source_get_base_height(t))

    def enabled(self) -> bool:
        return bool(self.lib.obs_source_enabled(self.ptr))

    def showing(self) -> bool:
        p = self.lib.obs_filter_get_parent(self.ptr)
        return bool(p and self.lib.obs_source_showing(p))

    def skip(self) -> None:
        """Draw the target unchanged (the filter does nothing this frame)."""
        # OBS 29's obs_source_skip_video_filter reads the parent's flags without a NULL
        # check; a filter being removed can still be rendered once with no parent
        # (seen as a segfault in 200 fast add/remove cycles). Then there is nothing to draw.
        if not self.lib.obs_filter_get_parent(self.ptr) or not self.lib.obs_filter_get_target(self.ptr):
            return
        self.lib.obs_source_skip_video_filter(self.ptr)

    def update_properties(self) -> None:
        self.lib.obs_source_update_properties(self.ptr)

    def settings(self) -> Data:
        """The filter's current settings (released by :meth:`release`)."""
        return Data(self.lib.obs_source_get_settings(self.ptr))

    def release(self, data: Data) -> None:
        self.lib.obs_data_release(data.ptr)

    def set_setting(self, name: str, value: str) -> None:
        """Store a string in the filter's settings (saved with the scene collection) and
        apply it (OBS calls the filter's ``update``)."""
        # A fresh obs_data with the one change: obs_source_update applies it onto the
        # source's own settings (applying those onto themselves would iterate a changing list).
        data = Data(self.lib.obs_data_create())
        try:
            data.set_string(name, value)
            self.lib.obs_source_update(self.ptr, data.ptr)
        finally:
            self.release(data)


def config_dir(name: str) -> str:
    """A folder in OBS's configuration directory (created), e.g. for saved plates."""
    import os

    ptr = lib().os_get_config_path_ptr(f"obs-studio/{name}".encode())
    if not ptr:
        raise OSError("OBS has no configuration directory")
    try:
        path = ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        lib().bfree(ptr)
    os.makedirs(path, exist_ok=True)
    return path


def enter_graphics():
    lib().obs_enter_graphics()


def leave_graphics():
    lib().obs_leave_graphics()

