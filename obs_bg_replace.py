"""Background Replace — an OBS Studio video filter (Tools → Scripts → + → this file).

Adds the filter "Background Replace" to any video source: the person stays, the
background becomes an image, a video, a blur, a colour, or transparent. This file holds
only what OBS calls (script_description / script_load / script_unload); the filter lives
in the package ``obs_filter/`` beside it and the matting in ``matting/`` (keep the
checkout together: this file, obs_filter/, matting/, models/). How it works: docs/OBS.md.

Where the packages come from (obs_filter/paths.py): the site-packages of
``$OBS_BG_REPLACE_PYTHONPATH`` (venvs or site-packages folders, os.pathsep-separated) or
of a ``.venv`` beside this file go first on ``sys.path``, before numpy is imported.
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

from obs_filter.paths import add_package_paths  # noqa: E402 (imports no numpy)

_ADDED_PATHS = add_package_paths(_HERE, here_first=_HERE_ADDED)

import numpy as np  # noqa: E402

from obs_filter import libobs as ol  # noqa: E402
from obs_filter.filter import BgReplaceFilter  # noqa: E402
from obs_filter.handler import Handler, PassThrough, _Dormant  # noqa: E402

FILTER_ID = "obs_bg_replace_filter"
FILTER_NAME = "Background Replace"


def script_description():
    return ("<b>Background Replace</b><br>Adds the video filter <i>Background Replace</i>: "
            "right-click a camera → Filters → + → Background Replace.")


def script_load(_settings):
    st = ol.store()
    fresh = ol.register_filter(FILTER_ID, FILTER_NAME)
    handler = Handler()
    with st.lock:
        # After a reload, filters created by the previous code are rebuilt with this code.
        for key, old in list(st.instances.items()):
            if isinstance(old, BgReplaceFilter) and not old.closed:
                old.close()
            src = old.source
            data = src.settings()
            try:
                st.instances[key] = handler._new(src.ptr, data.ptr)
            finally:
                src.release(data)
        st.handler = handler
    ol.log(ol.LOG_INFO, f"script loaded ({'registered' if fresh else 're-bound'} '{FILTER_NAME}'; "
                        f"python {sys.version.split()[0]}, numpy {np.__version__}"
                        + (f"; packages from {', '.join(_ADDED_PATHS)}" if _ADDED_PATHS else "") + ")")


def script_unload():
    st = ol.store()
    with st.lock:
        st.handler = PassThrough()
        instances = list(st.instances.items())
    workers = []
    if instances:
        ol.enter_graphics()
        try:
            for key, filt in instances:
                if isinstance(filt, BgReplaceFilter):
                    filt.close(enter_graphics=False)
                    workers.append(filt.worker.thread)
                    st.instances[key] = _Dormant(filt.source)
        finally:
            ol.leave_graphics()
    # Workers finish their current frame, then exit; wait briefly so none outlives us.
    deadline = time.monotonic() + 2.0
    for t in workers:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threading.enumerate() if t.name.startswith("obs_bg_replace:")]
    ol.log(ol.LOG_INFO, f"script unloaded ({len(instances)} filter(s) released, "
                        f"{len(alive)} worker thread(s) still running)")
