"""Test helper loaded into the real OBS beside obs_bg_replace.py (not for users).

Clicks "Install packages" the way the properties panel does (obs_source_properties of
the filter "bg" on "photo", then obs_property_button_clicked on the button), twice:

1. with pip pointed at a closed local port (no network): the panel must end in a clear
   "Install failed: no network…" line;
2. then with pip pointed at a local wheel folder ($OBS_BG_PROBE_WHEELS, no index): the
   install must finish and the filter's real properties replace the install panel.

It starts once the file $OBS_BG_PROBE_GO exists (the test first checks the state before
any click). Everything it sees goes to the log as "install-probe: …" lines, read by
tests/obs/test_obs_install.py.
"""

import os
import sys

import obspython as obs

_phase = "offline"  # offline → waiting-offline → local → waiting-local → done
_seen = set()


def _log(msg):
    obs.script_log(obs.LOG_INFO, "install-probe: " + msg)


def _status(props):
    p = obs.obs_properties_get(props, "install_status")
    return obs.obs_property_description(p) if p is not None else None


def _click(props, filt):
    btn = obs.obs_properties_get(props, "install_packages")
    if btn is None:
        _log("no button")
        return False
    obs.obs_property_button_clicked(btn, filt)
    return True


def _once(key, msg):
    if key not in _seen:
        _seen.add(key)
        _log(msg)


def _probe():
    global _phase
    src = obs.obs_get_source_by_name("photo")
    if src is None:
        return
    filt = obs.obs_source_get_filter_by_name(src, "bg")
    props = None
    try:
        if filt is None:
            return
        props = obs.obs_source_properties(filt)
        status = _status(props)
        if _phase == "offline":
            if not os.path.exists(os.environ.get("OBS_BG_PROBE_GO", "")):
                return  # the test has not looked yet: nothing may install before it has
            _log(f"panel: {status}")
            mod = sys.modules.get("obs_bg_replace")
            sprops = mod.script_properties() if mod is not None else None
            if sprops is not None:
                has = obs.obs_properties_get(sprops, "install_packages") is not None
                _log(f"script panel: button {has}; {_status(sprops)}")
                obs.obs_properties_destroy(sprops)
            if _click(props, filt):
                _log("clicked (offline)")
                _phase = "waiting-offline"
        elif _phase == "waiting-offline":
            if status and status.startswith("Installing"):
                _once("progress-offline", f"progress: {status}")
            elif status and status.startswith("Install failed"):
                _log(f"offline result: {status}")
                for k in ("PIP_INDEX_URL", "PIP_RETRIES", "PIP_TIMEOUT"):
                    os.environ.pop(k, None)
                os.environ["PIP_NO_INDEX"] = "1"
                os.environ["PIP_FIND_LINKS"] = os.environ["OBS_BG_PROBE_WHEELS"]
                _phase = "local"
        elif _phase == "local":
            if _click(props, filt):
                _log("clicked (local wheels)")
                _phase = "waiting-local"
        elif _phase == "waiting-local":
            if status is None:  # the install panel is gone: the real filter's panel
                stats = obs.obs_properties_get(props, "stats")
                _log(f"installed; the filter's panel has {'stats' if stats is not None else 'no stats'}")
                _phase = "done"
                obs.timer_remove(_probe)
            elif status.startswith("Installing"):
                _once("progress-local", f"progress: {status}")
            elif not status.startswith(("Packages installed and loaded", "Packages installed; loading")):
                _log(f"local result: {status}")
                _phase = "done"
                obs.timer_remove(_probe)
    finally:
        if props is not None:
            obs.obs_properties_destroy(props)
        if filt is not None:
            obs.obs_source_release(filt)
        obs.obs_source_release(src)


def script_load(_settings):
    obs.timer_add(_probe, 500)


def script_unload():
    if _phase != "done":
        obs.timer_remove(_probe)
