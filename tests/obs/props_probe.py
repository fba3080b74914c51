"""Test helper loaded into the real OBS beside obs_bg_replace.py (not for users).

Once the filter "bg" on source "photo" runs, builds its properties the way the
properties panel does (obs_source_properties), fires the "background_type" modified
callback, and logs what it saw, so the e2e test exercises get_properties inside OBS.
"""

from contextlib import contextmanager

import obspython as obs

_done = False


@contextmanager
def _filter(name):
    """The filter ``name`` on source "photo" (None if not there), released afterwards."""
    src = obs.obs_get_source_by_name("photo")
    filt = obs.obs_source_get_filter_by_name(src, name) if src is not None else None
    try:
        yield filt
    finally:
        if filt is not None:
            obs.obs_source_release(filt)
        if src is not None:
            obs.obs_source_release(src)


def _probe():
    with _filter("bg") as filt:
        if filt is not None:
            _probe_filter(filt)


def _probe_filter(filt):
    global _done
    props = obs.obs_source_properties(filt)
    settings = obs.obs_source_get_settings(filt)
    try:
        # the numbers line (Advanced → statistics, as of the panel's build)
        stats = obs.obs_property_description(obs.obs_properties_get(props, "details")) or ""
        if "inference" not in stats:
            return  # not running yet: try again on the next tick
        names = [n for n in ("background_type", "background_image", "background_color", "model", "model_path",
                             "device", "compositing", "follow_speed", "follow_trend", "roi_margin_pct", "min_blob",
                             "keep_largest", "steadiness", "stats")
                 if obs.obs_properties_get(props, n) is not None]
        obs.obs_data_set_string(settings, "background_type", "image")
        obs.obs_property_modified(obs.obs_properties_get(props, "background_type"), settings)
        image_visible = obs.obs_property_visible(obs.obs_properties_get(props, "background_image"))
        obs.obs_data_set_string(settings, "background_type", "color")
        obs.obs_property_modified(obs.obs_properties_get(props, "background_type"), settings)
        image_hidden = not obs.obs_property_visible(obs.obs_properties_get(props, "background_image"))
        obs.script_log(obs.LOG_INFO, f"props-probe: {len(names)} properties; image field shown {image_visible}, "
                                     f"hidden {image_hidden}; stats: {stats}")
        _done = True
        obs.timer_remove(_probe)
    finally:
        obs.obs_data_release(settings)
        obs.obs_properties_destroy(props)


_pressed = False
_last_kb = None


def _known_probe():
    """For the known-background e2e: on filter "kb" of "photo", press "Capture background"
    once (the panel's own button, through obs_property_button_clicked) as soon as the
    filter runs, and log its status line whenever it changes."""
    global _pressed, _last_kb
    with _filter("kb") as filt:
        if filt is None:
            return
        props = obs.obs_source_properties(filt)
        try:
            stats = obs.obs_property_description(obs.obs_properties_get(props, "details")) or ""
            if "inference" in stats and not _pressed:
                _pressed = True
                obs.obs_property_button_clicked(obs.obs_properties_get(props, "capture_background"), filt)
                obs.script_log(obs.LOG_INFO, "kb-probe: pressed Capture background")
            if stats != _last_kb:
                _last_kb = stats
                obs.script_log(obs.LOG_INFO, f"kb-probe: stats: {stats}")
        finally:
            obs.obs_properties_destroy(props)


def script_load(_settings):
    obs.timer_add(_probe, 500)
    obs.timer_add(_known_probe, 300)


def script_unload():
    if not _done:
        obs.timer_remove(_probe)
    obs.timer_remove(_known_probe)
