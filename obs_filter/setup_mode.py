"""The filter while its packages are missing: it draws nothing (the source turns transparent:
without a matte, showing the camera would show the room), and the panel
(the filter's and the script's) says what is missing, with the button "Install packages".

Imports no numpy (it runs exactly when numpy may be missing). The click starts
:class:`obs_filter.installer.Installer` on a background thread; the panel shows its
progress. When it is done the packages are loaded in place (``activate`` of the entry
point: the real filter replaces the placeholder, no OBS restart) — unless another script
already imported one of them from elsewhere (Python cannot load a second numpy into one
process), which ends in one line saying to restart OBS.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from ctypes import CFUNCTYPE, c_bool, c_char_p, c_void_p

from . import installer as inst
from .passthrough import PassThrough, _Dormant

BUTTON = "install_packages"
BUTTON_TEXT = "Install packages"
# Modules of the runtime packages: already imported from another folder = a restart is needed.
RUNTIME_MODULES = ("numpy", "cv2", "numba", "llvmlite", "onnxruntime")
BUTTON_CLICKED = CFUNCTYPE(c_bool, c_void_p, c_void_p, c_void_p)
REFRESH_S = 1.0


def missing(script_dir: str) -> list[str]:
    """What the filter lacks in this interpreter ([] = ready), one entry per package."""
    try:
        reqs = inst.read_requirements(os.path.join(script_dir, "pyproject.toml"))
    except (OSError, ValueError) as exc:
        return [f"pyproject.toml beside the script ({exc}): keep the checkout together"]
    importlib.invalidate_caches()
    return inst.missing_packages(reqs)


def conflicting_imports(venv: str) -> list[str]:
    """Runtime modules already imported from outside `venv` (another script did)."""
    out = []
    venv = os.path.normcase(os.path.abspath(venv))
    for name in RUNTIME_MODULES:
        mod = sys.modules.get(name)
        path = getattr(mod, "__file__", None) if mod is not None else None
        if path and not os.path.normcase(os.path.abspath(path)).startswith(venv):
            out.append(f"{name} from {os.path.dirname(path)}")
    return out


class Setup:
    """State shared by the placeholder handler and the panels (one per script load).

    ``activate()`` (the entry point's) imports the runtime and binds the real filter; it is
    called on the installer's thread once the packages are in."""

    def __init__(self, ol, script_dir: str, missing_list: list[str], activate, add_paths):
        self.ol = ol
        self.script_dir = script_dir
        self.missing = missing_list
        self.activate = activate
        self.add_paths = add_paths
        st = ol.store()
        # A job survives a script reload (it lives in the store); its end calls the newest Setup.
        job = getattr(st, "install_job", None)
        if job is None or job.script_dir != script_dir:
            job = st.install_job = inst.Installer(script_dir, log=lambda m: ol.log(ol.LOG_INFO, m),
                                                  on_done=lambda j: ol.store().install_setup._done(j))
        self.job = job
        self.result = None  # None | "loaded" | one line saying what to do
        self.closed = False  # the script was unloaded: an install that ends later loads nothing
        st.install_setup = self

    # -- what the panels say --------------------------------------------------------------
    def status(self) -> tuple[str, bool]:
        """(text, is_error) for the panels."""
        job = self.job
        if self.result == "loaded":
            return "Packages installed and loaded: close and reopen this panel.", False
        if self.result:
            return self.result, True
        if job.state == "running":
            return f"Installing packages… {job.line}", False
        if job.state == "done":
            return "Packages installed; loading them…", False
        if job.state == "failed":
            return f"Install failed: {job.error}", True
        return ("Missing packages: " + "; ".join(self.missing) + f". Click “{BUTTON_TEXT}” to install them into "
                f"{os.path.join(self.script_dir, '.venv')} (a few hundred MB from the Python package index). "
                "Until then the filter hides this source (it shows nothing rather than your room)."), True

    def click(self) -> bool:
        """The button: start the install (once at a time). True: redraw the panel."""
        if self.result == "loaded":
            return True
        self.result = None
        if self.job.start():
            self.ol.log(self.ol.LOG_INFO, f"install: started ({'; '.join(self.missing)})")
        return True

    # -- the end of the job (installer thread) --------------------------------------------
    def _done(self, job) -> None:
        ol = self.ol
        if job.state != "done" or self.closed:
            return
        self.add_paths()
        clash = conflicting_imports(job.venv)
        if clash:
            self.result = ("Packages installed, but another script already loaded " + ", ".join(clash)
                           + ": restart OBS to use them.")
        else:
            left = missing(self.script_dir)
            if left:
                self.result = f"Packages installed but still missing ({'; '.join(left)}): restart OBS."
            else:
                try:
                    self.activate()
                    self.result = "loaded"
                except Exception as exc:  # noqa: BLE001 - one line, and the way out
                    self.result = (f"Packages installed, but loading them failed ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0][:200] if str(exc) else ''}): reload the script "
                                   "(Tools → Scripts → ⟳) or restart OBS.")
        ol.log(ol.LOG_INFO if self.result == "loaded" else ol.LOG_WARNING,
               "install: packages loaded, the filter is active" if self.result == "loaded" else f"install: {self.result}")

    # -- the filter's own panel (ctypes: libobs) -------------------------------------------
    def build_properties(self, props) -> None:
        text, error = self.status()
        props.add_info("install_status", text, error=error)
        if self.job.state != "running" and self.result != "loaded":
            add_button(self.ol, props, BUTTON, BUTTON_TEXT, lambda: self.click())


def add_button(ol, props, name: str, text: str, func) -> int:
    """``obs_properties_add_button`` with a C callback kept for the life of the process
    (an open panel may click it after a reload): it calls the newest ``func`` of `name`."""
    st = ol.store()
    funcs = st.__dict__.setdefault("button_funcs", {})
    cbs = st.__dict__.setdefault("button_callbacks", {})
    with st.lock:
        funcs[name] = func
        cb = cbs.get(name)
        if cb is None:
            def clicked(_props, _prop, _data, name=name):
                try:
                    return bool(ol.store().button_funcs[name]())
                except Exception as exc:  # noqa: BLE001 - never into C
                    ol.log(ol.LOG_WARNING, f"button {name} failed: {exc}")
                    return False

            cb = cbs[name] = BUTTON_CLICKED(clicked)
    fn = ol.lib().cdll.obs_properties_add_button
    fn.restype, fn.argtypes = c_void_p, [c_void_p, c_char_p, c_char_p, BUTTON_CLICKED]
    return fn(props.ptr, name.encode(), text.encode(), cb)


def bind(setup: Setup) -> None:
    """Bind the placeholder (draws nothing) + install panel to every filter, existing ones included."""
    st = setup.ol.store()
    with st.lock:
        for key, old in list(st.instances.items()):
            if hasattr(old, "close") and not getattr(old, "closed", True):
                old.close()
            st.instances[key] = _Waiting(old.source)
        st.handler = SetupHandler(setup)


Idle = PassThrough  # bound after the script is unloaded without its packages


class SetupHandler(PassThrough):
    """Bound to libobs's trampolines while the packages are missing: each filter draws
    nothing (PassThrough.video_render); its panel is the install panel; open panels refresh while installing."""

    def __init__(self, setup: Setup):
        self.setup = setup

    def create(self, _settings_ptr, source_ptr):
        return self.setup.ol.new_key(_Waiting(self.setup.ol.FilterSource(source_ptr)))

    def get_properties(self, _key):
        props = self.setup.ol.Properties()
        self.setup.build_properties(props)
        return props.ptr

    def video_tick(self, key, _seconds):
        filt = self.setup.ol.instance(key)
        if not isinstance(filt, _Waiting):
            return
        now = time.monotonic()
        shown = self.setup.status()
        if shown != filt.shown and now - filt.refreshed >= REFRESH_S:
            filt.shown, filt.refreshed = shown, now
            filt.source.update_properties()

    def on_callback_error(self, method, exc):
        self.setup.ol.log(self.setup.ol.LOG_ERROR, f"{method} failed: {exc}")


class _Waiting(_Dormant):
    """A filter instance while the packages are missing (only its source is known)."""

    def __init__(self, source):
        super().__init__(source)
        self.shown = None
        self.refreshed = 0.0


def script_properties(obs, setup: Setup):
    """The script's own panel (Tools → Scripts), through obspython: the same status and button."""
    props = obs.obs_properties_create()
    text, error = setup.status()
    p = obs.obs_properties_add_text(props, "install_status", text, obs.OBS_TEXT_INFO)
    obs.obs_property_text_set_info_type(p, obs.OBS_TEXT_INFO_ERROR if error else obs.OBS_TEXT_INFO_NORMAL)
    if setup.job.state != "running" and setup.result != "loaded":
        obs.obs_properties_add_button(props, BUTTON, BUTTON_TEXT, lambda _props, _prop: setup.click())
    return props
