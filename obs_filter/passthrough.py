"""Filters that cannot matte (script unloaded, or its packages missing) draw nothing: the
source turns transparent rather than show the room it was added to hide. (Passing the
camera frame through would show it, e.g. for the frames between a script's unload and its
reload, or until the packages are installed.) The panel says why (setup_mode.py).
ctypes only, no numpy: bound also when numpy cannot be imported."""

from __future__ import annotations

from . import libobs as ol


class PassThrough:
    """Bound while the script is unloaded: filters draw nothing."""

    def create(self, _settings_ptr, source_ptr):
        return ol.new_key(_Dormant(ol.FilterSource(source_ptr)))

    def destroy(self, key):
        ol.drop_key(key)

    def video_render(self, key, _effect):
        pass  # nothing drawn: transparent, never the camera frame

    def on_callback_error(self, method, exc):
        pass


class _Dormant:
    def __init__(self, source):
        self.source = source
