"""Test helper loaded into the real OBS beside obs_bg_replace.py (not for users).

Watches the filter "bg" (or ``$OBS_BG_PANEL_PROBE_FILTER``) on source "photo" the way
its properties panel meets it:

* counts the filter's ``update_properties`` signals (what ``obs_source_update_properties``
  emits and what makes an open panel rebuild itself): "panel-probe: rebuilds N";
* logs the panel's status line (property "stats") whenever its words change, and the
  numbers line (property "details") whenever it changes;
* logs whether the Advanced group's controls are hidden ("advanced folded True");
* presses "Capture empty room" (the panel's own button, obs_property_button_clicked)
  once the file ``$OBS_BG_PANEL_PROBE_DIR/capture`` exists.
"""

import os

import obspython as obs

_DIR = os.environ.get("OBS_BG_PANEL_PROBE_DIR", "")
_FILTER = os.environ.get("OBS_BG_PANEL_PROBE_FILTER", "bg")
_state = {"connected": False, "rebuilds": 0, "status": None, "details": None, "pressed": False, "folded": None}


def _on_update_properties(_calldata):
    _state["rebuilds"] += 1
    obs.script_log(obs.LOG_INFO, f"panel-probe: rebuilds {_state['rebuilds']}")


def _tick():
    src = obs.obs_get_source_by_name("photo")
    if src is None:
        return
    filt = obs.obs_source_get_filter_by_name(src, _FILTER)
    try:
        if filt is None:
            return
        if not _state["connected"]:
            obs.signal_handler_connect(obs.obs_source_get_signal_handler(filt), "update_properties",
                                       _on_update_properties)
            _state["connected"] = True
            obs.script_log(obs.LOG_INFO, "panel-probe: watching update_properties")
        props = obs.obs_source_properties(filt)
        try:
            status = obs.obs_property_description(obs.obs_properties_get(props, "stats")) or ""
            words = status.split(",")[0]
            if words != _state["status"]:
                _state["status"] = words
                obs.script_log(obs.LOG_INFO, f"panel-probe: status: {status}")
            # the Advanced group's controls as OBS built them (its modified callbacks ran)
            folded = not obs.obs_property_visible(obs.obs_properties_get(props, "model"))
            if folded != _state["folded"]:
                _state["folded"] = folded
                obs.script_log(obs.LOG_INFO, f"panel-probe: advanced folded {folded}")
            details = obs.obs_property_description(obs.obs_properties_get(props, "details")) or ""
            if details != _state["details"]:
                _state["details"] = details
                obs.script_log(obs.LOG_INFO, f"panel-probe: details: {details}")
            if _DIR and not _state["pressed"] and os.path.exists(os.path.join(_DIR, "capture")):
                _state["pressed"] = True
                obs.obs_property_button_clicked(obs.obs_properties_get(props, "capture_background"), filt)
                obs.script_log(obs.LOG_INFO, "panel-probe: pressed Capture")
        finally:
            obs.obs_properties_destroy(props)
    finally:
        if filt is not None:
            obs.obs_source_release(filt)
        obs.obs_source_release(src)


def script_load(_settings):
    obs.timer_add(_tick, 250)


def script_unload():
    obs.timer_remove(_tick)
