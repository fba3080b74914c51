"""Test helper loaded into the real OBS beside obs_bg_replace.py (not for users).

Every ``OBS_BG_STATS_PROBE_MS`` ms (default 1000) it logs the status line of each filter
named in ``OBS_BG_STATS_PROBE`` ("source:filter,source:filter"), as the properties panel
shows it: ``stats-probe source/filter: inference … ms · total … ms · worker … fps …``.
The soak (tools/obs_soak.py) reads the worker's frame time from these lines; going
through obs_source_properties keeps it independent of the glue's internals.
"""

import os

import obspython as obs

_TARGETS = [t.split(":", 1) for t in os.environ.get("OBS_BG_STATS_PROBE", "").split(",") if ":" in t]


def _probe():
    for source_name, filter_name in _TARGETS:
        src = obs.obs_get_source_by_name(source_name)
        if src is None:
            continue
        filt = obs.obs_source_get_filter_by_name(src, filter_name)
        try:
            if filt is None:
                continue
            props = obs.obs_source_properties(filt)
            try:
                prop = obs.obs_properties_get(props, "details")  # the numbers (Advanced → statistics)
                text = obs.obs_property_description(prop) if prop is not None else None
                obs.script_log(obs.LOG_INFO, f"stats-probe {source_name}/{filter_name}: {text}")
            finally:
                obs.obs_properties_destroy(props)
        finally:
            if filt is not None:
                obs.obs_source_release(filt)
            obs.obs_source_release(src)


def script_load(_settings):
    if _TARGETS:
        obs.timer_add(_probe, int(os.environ.get("OBS_BG_STATS_PROBE_MS", "1000")))


def script_unload():
    if _TARGETS:
        obs.timer_remove(_probe)
