"""Background Replace — an OBS Studio video filter (Tools → Scripts → + → this file).

Adds the filter "Background Replace" to any video source: the person stays, the
background becomes an image, a video, a blur, a colour, or transparent. This file holds
only what OBS calls (script_description / script_load / script_unload); the filter lives
in the package ``obs_filter/`` beside it and the matting in ``matting/`` (keep the
checkout together: this file, obs_filter/, matting/, models/). How it works: docs/OBS.md.

Where the packages come from (obs_filter/paths.py): the site-packages of
``$OBS_BG_REPLACE_PYTHONPATH`` (venvs or site-packages folders, os.pathsep-separated) or
of a ``.venv`` beside this file go first on ``sys.path``, before numpy is imported.

Without its packages (first start, or versions too old) the script still registers the
filter, which then draws nothing (the source turns transparent, never the raw room), and its panel — and the script's panel in
Tools → Scripts — lists what is missing with the button "Install packages"
(obs_filter/setup_mode.py, obs_filter/installer.py). When the install is done the
packages are loaded and the filter starts working, without an OBS restart.
"""

from __future__ import annotations

import os
import sys
import threading
import time

# OBS reloads this file with importlib.reload (same module dict), which leaves imported
# modules as they were: on a reload (Tools → Scripts → ⟳) drop obs_filter's so the new code
# runs. libobs's callbacks live in a separate store module (obs_filter.libobs.STORE_NAME).
if globals().get("_LOADED"):
    for _name in [n for n in sys.modules if n == "obs_filter" or n.startswith("obs_filter.")]:
        del sys.modules[_name]
_LOADED = True

_HERE = os.path.dirname(os.path.abspath(__file__))
_HERE_ADDED = _HERE not in sys.path
if _HERE_ADDED:
    sys.path.insert(0, _HERE)

from obs_filter import libobs as ol  # noqa: E402 (ctypes only)
from obs_filter import setup_mode  # noqa: E402 (imports no numpy)
from obs_filter.paths import add_package_paths  # noqa: E402 (imports no numpy)

_ADDED_PATHS = add_package_paths(_HERE, here_first=_HERE_ADDED)

FILTER_ID = "obs_bg_replace_filter"
FILTER_NAME = "Background Replace"
_SETUP = None  # setup_mode.Setup while the packages are missing


def _import_runtime() -> None:
    """numpy and the filter's modules, into this module's globals."""
    global np, BgReplaceFilter, Handler, PassThrough, _Dormant
    import numpy as np
    from obs_filter.filter import BgReplaceFilter
    from obs_filter.handler import Handler, PassThrough, _Dormant


_MISSING = setup_mode.missing(_HERE)
if not _MISSING:
    try:
        _import_runtime()
    except ImportError as _exc:  # e.g. a native library that does not load
        _MISSING = [f"the packages do not import ({type(_exc).__name__}: {_exc})"]


def script_description():
    """OBS asks for this before ``script_load``: the missing packages come from the import
    above (_MISSING), not from the setup state made at load."""
    text = ("<b>Background Replace</b><br>Adds the video filter <i>Background Replace</i>: "
            "right-click a camera → Filters → + → Background Replace.")
    if _MISSING and not (_SETUP is not None and _SETUP.result == "loaded"):
        text += ("<br><b>Its packages are missing: click “Install packages” below. Until then the filter "
                 "hides the source.</b>")
    return text


def script_properties():
    """Tools → Scripts: the install status and button while the packages are missing."""
    if _SETUP is None:
        return None
    import obspython as obs

    return setup_mode.script_properties(obs, _SETUP)


def _bind_filter(fresh: bool) -> None:
    """The working filter: every existing instance rebuilt with this code, then bound."""
    st = ol.store()
    handler = Handler()
    with st.lock:
        # After a reload (or an install), filters created before are rebuilt with this code.
        for key, old in list(st.instances.items()):
            if isinstance(old, BgReplaceFilter) and not old.closed:
                old.close()
            src = old.source
            data = src.settings()
            try:
                if not isinstance(old, BgReplaceFilter):  # made without packages: no defaults yet
                    handler.get_defaults(data.ptr)
                st.instances[key] = handler._new(src.ptr, data.ptr)
            finally:
                src.release(data)
        st.handler = handler
    ol.log(ol.LOG_INFO, f"script loaded ({'registered' if fresh else 're-bound'} '{FILTER_NAME}'; "
                        f"python {sys.version.split()[0]}, numpy {np.__version__}"
                        + (f"; packages from {', '.join(_ADDED_PATHS)}" if _ADDED_PATHS else "") + ")")


def _after_install() -> None:
    """Called on the installer's thread once .venv holds the packages: load them here."""
    global _MISSING
    _import_runtime()
    _MISSING = []
    _bind_filter(False)
    _start_warmup()


_WARMUP_STOP = threading.Event()


def _start_warmup() -> None:
    """Compile the matting kernels on a background thread (obs_filter/warmup.py), so the
    first matte does not wait for them; OBS never waits for it."""
    global _WARMUP_STOP
    from obs_filter import warmup

    _WARMUP_STOP = threading.Event()
    levels = {"info": ol.LOG_INFO, "warning": ol.LOG_WARNING}
    warmup.start(log=lambda level, text: ol.log(levels[level], text), stop=_WARMUP_STOP)


def _add_venv_paths() -> None:
    _ADDED_PATHS[:] = _ADDED_PATHS + add_package_paths(_HERE, here_first=False)


def script_load(_settings):
    global _SETUP
    fresh = ol.register_filter(FILTER_ID, FILTER_NAME)
    if not _MISSING:
        _bind_filter(fresh)
        _start_warmup()
        return
    _SETUP = setup_mode.Setup(ol, _HERE, _MISSING, activate=_after_install, add_paths=_add_venv_paths)
    setup_mode.bind(_SETUP)
    ol.log(ol.LOG_WARNING, f"script loaded without its packages ({'; '.join(_MISSING)}; python "
                           f"{sys.version.split()[0]}): '{FILTER_NAME}' hides its source until you click "
                           "“Install packages” (the filter's properties, or Tools → Scripts)")


def _worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("obs_bg_replace:")]


def script_tick(_seconds):
    """On OBS's graphics thread every frame: warnings the worker threads logged go to the
    Script Log from here (obs_filter/libobs.py log), also while no filter exists."""
    ol.flush_script_log()


def script_unload():
    st = ol.store()
    _WARMUP_STOP.set()
    ol.flush_script_log()  # what the workers logged since the last tick
    if _MISSING:
        if _SETUP is not None:
            _SETUP.closed = True
        with st.lock:
            st.handler = setup_mode.Idle()
        ol.log(ol.LOG_INFO, "script unloaded (it had no packages)")
        return
    with st.lock:
        st.handler = PassThrough()
        instances = list(st.instances.items())
    if instances:
        ol.enter_graphics()
        try:
            for key, filt in instances:
                if isinstance(filt, BgReplaceFilter):
                    filt.close(enter_graphics=False)
                    st.instances[key] = _Dormant(filt.source)
        finally:
            ol.leave_graphics()
    # Workers finish their current frame, then exit; wait briefly so none outlives us. All
    # of them: those of filters destroyed earlier too (OBS destroys its sources before it
    # unloads scripts, and a worker may still be finishing a frame or a model load).
    deadline = time.monotonic() + 2.0
    for t in _worker_threads():
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in _worker_threads()]
    ol.log(ol.LOG_INFO, f"script unloaded ({len(instances)} filter(s) released, "
                        f"{len(alive)} worker thread(s) still running)")
