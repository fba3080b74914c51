"""Filters that draw their source unchanged (script unloaded, or its packages missing).
ctypes only, no numpy: bound also when numpy cannot be imported."""

from __future__ import annotations

from . import libobs as ol


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
