"""libobs callbacks → filter instances: what the trampolines of :mod:`.libobs` call."""

from __future__ import annotations

from . import libobs as ol
from .passthrough import PassThrough, _Dormant  # noqa: F401 (the entry point uses them from here)
from .filter import BgReplaceFilter
from .graphics import Graphics
from .properties import DEFAULTS, build_properties
from .worker import short_error


class Handler:
    """Bound to libobs.py's trampolines: one method per obs_source_info callback."""

    def __init__(self, make_gfx=None, factory=None, grid=None):
        self.make_gfx = make_gfx or Graphics
        self.factory, self.grid = factory, grid

    def _new(self, source_ptr, settings_ptr):
        filt = BgReplaceFilter(ol.FilterSource(source_ptr), self.make_gfx(), self.factory, self.grid)
        filt.update(ol.Data(settings_ptr))
        return filt

    def create(self, settings_ptr, source_ptr):
        filt = self._new(source_ptr, settings_ptr)
        filt.key = ol.new_key(filt)  # the capture button finds its filter by it
        return filt.key

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
        ol.flush_script_log()
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
            # Something failed mid-frame (GPU object, odd size): from now on the filter
            # draws nothing (the source turns transparent, never the camera), and the
            # error is logged once instead of a traceback every frame.
            filt.error = f"rendering failed: {short_error(exc)}"
            filt.broken = True
            ol.log(ol.LOG_ERROR, f"filter '{filt.name}': {filt.error}")

    def video_get_color_space(self, _key, _count, _preferred):
        """The filter's output is SDR sRGB whatever the canvas (see libobs.register_filter)."""
        return ol.GS_CS_SRGB

    def filter_remove(self, key, _parent):
        filt = ol.instance(key)
        if filt is not None:
            filt.worker.pause()

    def on_callback_error(self, method, exc):
        ol.log(ol.LOG_ERROR, f"{method} failed: {short_error(exc)}")
