"""The filter's panel in OBS and what its settings mean for matting.

:data:`DEFAULTS` are the obs_data defaults, :func:`migrate` brings settings saved by an
older version to today's keys, :func:`settings_from_obs` turns the filter's obs_data
into validated :class:`matting.settings.Settings` and the compositing path, and
:func:`build_properties` fills the properties panel.

The panel is for streamers: four groups (Background, Tuning with presets, Static camera,
Advanced folded away), plain words with the symbol beside them, values in the units a
person reads (percent), and every explanation where OBS shows it. OBS (29–32) shows a
property's long description as a "?" icon on list, bool and text rows, only on the spin
box of a number, and never on a button (shared/properties-view): numbers here are spin
boxes that span the row, and each button has a line of text under it.
"""

from __future__ import annotations

import textwrap

from matting.errors import MattingError
from matting.settings import Settings

from . import presets

_D = Settings()

# Panel key → Settings field: the panel shows the field in percent. Settings saved before
# 2026-12-08 kept the field itself under its own name (a fraction); migrate() converts them.
PERCENT_KEYS = {
    "follow_speed": "smooth_alpha",
    "follow_trend": "smooth_beta",
    "min_blob": "min_area",
    "steadiness": "temporal_strength",
    "roi_margin_pct": "roi_margin",
    "edge_detail_pct": "edge_detail",
    "blur_pct": "blur_strength",
    "light_wrap_pct": "light_wrap",
}
FLOAT_PERCENT = ("min_blob",)  # shown with one decimal; the others are whole percent
# Panel ranges (panel units). The same as the Settings' ranges, in percent.
RANGES = {
    "follow_speed": (1, 100, 1),
    "follow_trend": (0, 100, 1),
    "min_blob": (0.0, 10.0, 0.1),
    "steadiness": (0, 95, 1),
    "roi_margin_pct": (0, 100, 1),
    "edge_detail_pct": (0, 100, 1),
    "blur_pct": (0, 100, 1),
    "light_wrap_pct": (0, 100, 1),
}


def to_panel(key: str, value: float):
    """A Settings value → the panel's value for ``key`` (percent)."""
    v = 100.0 * value
    return round(v, 3) if key in FLOAT_PERCENT else int(round(v))


_PRESET = presets.PRESETS[presets.DEFAULT_PRESET]

# OBS colours are 0xAABBGGRR.
DEFAULTS = {
    # Transparent, as OBS filters do: whatever is below the source in the scene shows.
    "background_type": "transparent",
    "background_image": "",
    "background_video": "",
    "background_fit": _D.background_fit,
    "blur_pct": to_panel("blur_pct", _D.blur_strength),
    "background_color": 0xFF40B100,  # #00b140, matting's default green
    "preset": presets.DEFAULT_PRESET,
    "follow_speed": _PRESET["follow_speed"],
    "follow_trend": _PRESET["follow_trend"],
    "min_blob": float(_PRESET["min_blob"]),
    "steadiness": _PRESET["steadiness"],
    "adaptive_rate": _PRESET["adaptive_rate"],
    "keep_largest": bool(_D.keep_largest),
    "model": _PRESET["model"],
    "model_path": "",
    "device": "auto",
    "compositing": "gpu",
    "timing": "sync",
    "roi_margin_pct": to_panel("roi_margin_pct", _D.roi_margin),
    "edge_detail_pct": to_panel("edge_detail_pct", _D.edge_detail),
    # Opt-in in OBS: halo removal costs the worker its colour means and the shader a
    # second matte-sized texture (both paths do it; docs/OBS.md has the cost).
    "halo_removal": False,
    "light_wrap_pct": 0,
    "known_background": bool(_D.known_background),
    "background_plate": _D.background_plate,
    "show_advanced": False,
}
# The presets and the library agree on the tracking values (presets.py's promise).
assert all(_PRESET[k] == to_panel(k, getattr(_D, PERCENT_KEYS[k])) for k in ("follow_speed", "follow_trend",
                                                                             "min_blob", "steadiness"))


def _get(data, key: str):
    """A panel value of ``key`` with the type of its default."""
    d = DEFAULTS[key]
    if isinstance(d, bool):
        return data.get_bool(key)
    if isinstance(d, int):
        return data.get_int(key)
    if isinstance(d, float):
        return data.get_double(key)
    return data.get_string(key)


def panel_values(data) -> dict:
    """The preset keys' current values."""
    return {k: _get(data, k) for k in presets.PRESET_KEYS}


SETTINGS_VERSION = 2  # 2: percent keys, presets, transparent by default (2026-12-08)
NEW_KEYS = (*PERCENT_KEYS, "preset", "show_advanced", "settings_version")  # keys version 1 did not have


def migrate(data) -> None:
    """Settings saved by an older version (or set by a script with the old keys, e.g.
    ``temporal_strength``: 0.9) → today's keys: each old fraction becomes the panel's
    percent and the old key is erased, so the newest write of either key wins. A filter
    saved before version 2 that never chose a background keeps the colour it had (the
    default then); one with no saved values at all cannot be told from a new one. Then
    the preset is squared with the values (:func:`sync_preset`)."""
    if not data.has_user_value("settings_version"):
        old = [k for k in (*DEFAULTS, *PERCENT_KEYS.values()) if k not in NEW_KEYS]
        if any(data.has_user_value(k) for k in old) and not any(data.has_user_value(k) for k in NEW_KEYS) \
                and not data.has_user_value("background_type"):
            data.set_value("background_type", "color")
        data.set_value("settings_version", SETTINGS_VERSION)
    for key, old in PERCENT_KEYS.items():
        if data.has_user_value(old):
            data.set_value(key, to_panel(key, data.get_double(old)))
            data.erase(old)
    sync_preset(data)


def _applied(data) -> str:
    """The preset whose values were last written ("preset_applied", kept beside "preset")."""
    return data.get_string("preset_applied") or presets.DEFAULT_PRESET


def sync_preset(data) -> None:
    """On every settings change (the panel's own callbacks do the same at once): a preset
    newly picked (by a script too) writes its values; values that left the preset (a
    script, an older version's settings) make it the preset they match, else Custom."""
    name = data.get_string("preset") or presets.DEFAULT_PRESET
    if name in presets.PRESETS and name != _applied(data):
        _write_preset(data, name)
    elif name != presets.CUSTOM and not presets.matches(name, panel_values(data)):
        _set_preset(data, presets.preset_of(panel_values(data)))


def _write_preset(data, name: str) -> None:
    for key, value in presets.PRESETS[name].items():
        data.set_value(key, value)
    data.set_value("preset_applied", name)


def _set_preset(data, name: str) -> None:
    data.set_value("preset", name)
    data.set_value("preset_applied", name)


def colour_to_hex(abgr: int) -> str:
    """OBS colour int (0xAABBGGRR) → '#RRGGBB'."""
    return f"#{abgr & 0xFF:02x}{(abgr >> 8) & 0xFF:02x}{(abgr >> 16) & 0xFF:02x}"


LABELS = {
    "follow_speed": "Follow speed (α)",
    "follow_trend": "Motion prediction (β)",
    "min_blob": "Ignore specks smaller than",
    "steadiness": "Edge steadiness",
    "roi_margin_pct": "Space around you (ROI margin)",
    "edge_detail_pct": "Edge detail",
    "blur_pct": "Blur strength",
    "light_wrap_pct": "Light wrap",
}


def _fraction(data, key: str) -> float:
    """The Settings value of a percent key; out-of-range values raise in plain words."""
    v = _get(data, key)
    lo, hi, _ = RANGES[key]
    if not lo <= v <= hi:
        unit = " % of the picture" if key == "min_blob" else " %"
        raise MattingError(f"{LABELS[key]}: expected {lo}{unit} to {hi}{unit}, got {v:g}{unit}")
    return v / 100.0


def settings_from_obs(data) -> tuple[Settings, str]:
    """The filter's obs_data → (validated matting Settings, compositing path).
    Raises MattingError (SettingsError) with a message for the user. Settings in older
    keys are migrated first (:func:`migrate`), in ``data`` itself."""
    migrate(data)
    btype = data.get_string("background_type") or "transparent"
    if btype in ("image", "video"):
        background = data.get_string(f"background_{btype}").strip()
        if not background:
            raise MattingError(f"background: choose a{'n image' if btype == 'image' else ' video'} file "
                               "(or pick Transparent, a blur or a colour)")
    elif btype == "blur":
        background = "blur"
    elif btype == "color":
        background = colour_to_hex(data.get_int("background_color"))
    else:
        background = "transparent"
    model = data.get_string("model") or "general"
    if model == "custom":
        model = data.get_string("model_path").strip()
        if not model:
            raise MattingError("model: choose a custom .onnx file")
    fields = {field: _fraction(data, key) for key, field in PERCENT_KEYS.items()}
    settings = Settings(
        model=model,
        device=data.get_string("device") or "auto",
        background=background,
        keep_largest=data.get_bool("keep_largest"),
        adaptive_rate=data.get_string("adaptive_rate") or _D.adaptive_rate,
        background_fit=data.get_string("background_fit") or "cover",
        halo_removal=data.get_bool("halo_removal"),
        known_background=data.get_bool("known_background"),
        background_plate=data.get_string("background_plate").strip(),
        **fields,
    )
    # Every background and edge option has its shader: CPU compositing only when asked for.
    path = "cpu" if data.get_string("compositing") == "cpu" else "gpu"
    return settings, path


TIMINGS = ("sync", "latency")


def timing_from_obs(data) -> str:
    """"sync" (default: the picture waits for its matte) or "latency" (the newest picture
    with the newest matte, which may trail a movement)."""
    t = data.get_string("timing")
    return t if t in TIMINGS else "sync"


IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*.*)"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v);;All files (*.*)"


def tip(text: str) -> str:
    """A tooltip wrapped to lines OBS shows readably (a long one is one screen-wide line)."""
    return "\n".join(textwrap.fill(part, 70) for part in text.split("\n"))


# Visible only while Advanced is unfolded (model_path also needs model == custom).
ADVANCED = ("model", "model_path", "device", "compositing", "timing", "roi_margin_pct", "edge_detail_pct",
            "halo_removal", "light_wrap_pct", "background_plate", "details_button", "details")


def _on_background_type(props, data) -> bool:
    t = data.get_string("background_type")
    props.set_visible("background_image", t == "image")
    props.set_visible("background_video", t == "video")
    props.set_visible("background_fit", t in ("image", "video"))
    props.set_visible("blur_pct", t == "blur")
    props.set_visible("background_color", t == "color")
    props.set_visible("background_help", t == "transparent")
    return True


def _on_advanced(props, data) -> bool:
    shown = data.get_bool("show_advanced")
    for name in ADVANCED:
        props.set_visible(name, shown)
    props.set_visible("model_path", shown and data.get_string("model") == "custom")
    return True


def _on_model(props, data) -> bool:
    props.set_visible("model_path", data.get_bool("show_advanced") and data.get_string("model") == "custom")
    return _on_tuning(props, data)


def _on_preset(_props, data) -> bool:
    """A preset picked: write its values. OBS also calls this whenever it builds the panel:
    then the preset is the one last applied and nothing is written."""
    name = data.get_string("preset")
    if name == _applied(data):
        return False
    if name in presets.PRESETS:
        _write_preset(data, name)
        return True
    data.set_value("preset_applied", name)  # Custom picked: the values stay
    return False


def _on_tuning(_props, data) -> bool:
    """A preset value changed by hand: the preset becomes "Custom" (the panel is redrawn
    once, when the preset's name changes, not on every step of the value)."""
    name = presets.preset_of(panel_values(data))
    if data.get_string("preset") == name:
        return False
    _set_preset(data, name)
    return True


def _on_capture(filt) -> None:
    filt.capture_background()


def _on_forget(filt) -> None:
    filt.forget_background()


def _on_details(_filt) -> None:
    """Nothing to do: the button's click rebuilds the panel, with the numbers of now."""


def _device_items(current: str) -> list[tuple[str, str]]:
    from .ortinfo import available_devices

    names = {"auto": "Automatic (the fastest this computer has)", "cuda": "NVIDIA GPU (CUDA)",
             "dml": "GPU (DirectML)", "coreml": "Apple (CoreML)", "cpu": "CPU"}
    offered = available_devices()
    items = [(names[d], d) for d in offered]
    if current and current not in offered:  # a saved choice this build lacks: say so, keep it
        items.append((f"{names.get(current, current)} — not in this build, the CPU is used", current))
    return items


def build_properties(props, filt) -> None:
    """Fill a libobs.Properties (or a fake) with the filter's controls."""
    from . import status

    current = filt.settings if filt is not None else None
    text, level = status.panel_status(filt)
    props.add_info("stats", text, error=level == "error", warning=level == "warning")

    # -- Background
    _, g = props.add_group("group_background", "Background")
    p = g.add_list("background_type", "Background", [
        ("Transparent (sources below show through)", "transparent"), ("Image", "image"), ("Video (loops)", "video"),
        ("Blur of your room", "blur"), ("Solid colour", "color")])
    props.on_modified(p, _on_background_type)
    props.set_tooltip(p, tip("What replaces your room. Transparent keeps only you: any source below this one "
                             "in the scene's Sources list shows through."))
    # (a text row shows its tooltip instead of its text in OBS: text rows have none)
    g.add_info("background_help", "To put a picture, a video or a scene behind you: add an Image, Media or "
                                  "Scene source and drag it below this source in the scene's Sources list.")
    p = g.add_path("background_image", "Image", IMAGE_FILTER)
    props.set_tooltip(p, tip("A picture file (PNG, JPG…), scaled to the source's size as Fit says."))
    p = g.add_path("background_video", "Video", VIDEO_FILTER)
    props.set_tooltip(p, tip("A video file, played in a loop without sound."))
    p = g.add_list("background_fit", "Fit", [("Cover (crop to fill)", "cover"), ("Contain (letterbox)", "contain"),
                                             ("Stretch", "stretch")])
    props.set_tooltip(p, tip("Cover fills the frame and crops the picture's edges; Contain shows all of it "
                             "with bars; Stretch distorts it to fit."))
    p = g.add_number("blur_pct", LABELS["blur_pct"], *RANGES["blur_pct"], suffix=" %")
    props.set_tooltip(p, tip("How blurred your room looks: 0 % light, 100 % very strong."))
    p = g.add_color("background_color", "Colour")
    props.set_tooltip(p, tip("A solid colour behind you (e.g. green for a chroma key later)."))

    # -- Tuning
    _, g = props.add_group("group_tuning", "Tuning")
    p = g.add_list("preset", "Preset", [(presets.LABELS[n], n) for n in (*presets.PRESETS, presets.CUSTOM)])
    props.on_modified(p, _on_preset)
    props.set_tooltip(p, tip(presets.HELP))
    numbers = (
        ("follow_speed", " %", "How fast the crop around you follows you (α, the tracker's level weight). "
                               "100 % = no smoothing, follows at once; lower = steadier, slower to follow."),
        ("follow_trend", " %", "How much the crop predicts your motion (β, the tracker's trend weight). "
                               "Higher = keeps up with fast moves, may overshoot."),
        ("min_blob", " % of the picture", "Parts of the matte smaller than this (share of the picture) are dropped: "
                                          "specks and flicker in the room. Too high drops a hand."),
        ("steadiness", " %", "How much still edges keep their look from the frames before (less flicker): "
                             "90 % blends about the last 10 frames, 0 % = off."),
    )
    for key, suffix, text in numbers:
        p = g.add_number(key, LABELS[key], *RANGES[key], suffix=suffix)
        props.on_modified(p, _on_tuning)
        props.set_tooltip(p, tip(text))
    p = g.add_list("adaptive_rate", "Save CPU while you sit still", [
        ("Balanced (the model at least every 6th frame)", "balanced"),
        ("Saver (at least every 16th frame)", "saver"), ("Off (the model on every frame)", "off")])
    props.on_modified(p, _on_tuning)
    props.set_tooltip(p, tip("Skips the model while nothing moves at your outline and keeps the last matte; "
                             "it runs at once when you move."))
    p = g.add_bool("keep_largest", "Keep only the biggest person")
    props.set_tooltip(p, tip("Drops everyone but the largest person in the picture (a poster, a pet, "
                             "someone walking past)."))
    g.add_info("tuning_help", "Hover a number for what it does. Changing one switches the preset to Custom.")

    # -- Static camera
    _, g = props.add_group("group_static", "Static camera")
    p = g.add_bool("known_background", "Learn the room while I stream")
    props.set_tooltip(p, tip("For a camera that does not move: learns the room from what is seen behind "
                             "you, for hair-level edges. Switches itself off when the camera or the light "
                             "changes. Costs CPU while active."))
    g.add_button("capture_background", "Capture empty room (3-second countdown)", _on_capture,
                 getattr(filt, "key", None))
    g.add_info("capture_help", "Press, step out of the picture within 3 s and stay out for about a second: "
                               "the empty room then sharpens your edges (hair). If someone is still seen, "
                               "nothing is kept. Costs CPU while active.")
    g.add_button("forget_background", "Forget captured background", _on_forget, getattr(filt, "key", None))
    g.add_info("forget_help", "Goes back to the model alone (the plate's file is kept).")

    # -- Advanced (folded: its check box shows it)
    p, g = props.add_group("show_advanced", "Advanced (tick to show)", checkable=True)
    props.on_modified(p, _on_advanced)
    p = g.add_list("model", "Model", [("General (256×256, close-ups)", "general"),
                                      ("Landscape (144×256, faster)", "landscape"),
                                      ("Custom .onnx file", "custom")])
    props.on_modified(p, _on_model)
    props.set_tooltip(p, tip("The person-segmentation model. Landscape is smaller and faster; General is "
                             "sharper on close-ups. Part of the preset."))
    p = g.add_path("model_path", "Custom model", "ONNX model (*.onnx);;All files (*.*)")
    props.set_tooltip(p, tip("Any ONNX model with one RGB image input (values 0–1, NCHW or NHWC; a dynamic "
                             "size runs at 256 px on the short side) and a person matte output: 1 channel "
                             "(probability, or logits → sigmoid) or 2 channels (background, person; logits → "
                             "softmax). RVM-style recurrent models keep their state from frame to frame and "
                             "always see the whole frame. Details: models/MODEL_CARD.md"))
    p = g.add_list("device", "Run the model on", _device_items(current.device if current else ""))
    props.set_tooltip(p, tip("Only what this onnxruntime offers is listed. Automatic takes a GPU if there "
                             "is one, else the CPU."))
    p = g.add_list("compositing", "Compositing", [("GPU shader (fast)", "gpu"), ("CPU (reference)", "cpu")])
    props.set_tooltip(p, tip("Where your picture and the new background are blended. The GPU shader does every "
                             "background and edge option; the CPU path is the reference, slower."))
    p = g.add_list("timing", "Timing", [("Synchronised: the picture waits for its matte", "sync"),
                                        ("Lowest latency: the matte may trail movement", "latency")])
    props.set_tooltip(p, tip("Synchronised delays the picture by the matte's latency (see the statistics; give "
                             "the audio the same Sync Offset). Lowest latency shows the newest picture with the "
                             "newest matte, which shows a ghost of the old room along the edge when you move."))
    p = g.add_number("roi_margin_pct", LABELS["roi_margin_pct"], *RANGES["roi_margin_pct"],
                     suffix=" % of your size")
    props.set_tooltip(p, tip("The model looks at a crop around you: this much extra room on each side, as a "
                             "share of your box. More = safer for fast moves, less detail."))
    p = g.add_number("edge_detail_pct", LABELS["edge_detail_pct"], *RANGES["edge_detail_pct"], suffix=" %")
    props.set_tooltip(p, tip("How closely the matte's edge follows the picture's edges (hair, shoulders). "
                             "0 % = soft."))
    p = g.add_bool("halo_removal", "Halo removal")
    props.set_tooltip(p, tip("Removes the old room's colour from the soft edge."))
    p = g.add_number("light_wrap_pct", LABELS["light_wrap_pct"], *RANGES["light_wrap_pct"], suffix=" %")
    props.set_tooltip(p, tip("Spills a little of the new background onto your edge. 0 % = off."))
    p = g.add_path("background_plate", "Empty-room picture", IMAGE_FILTER)
    props.set_tooltip(p, tip("The picture of the empty room the Capture button saved (any photo of the empty "
                             "room from this camera works)."))
    g.add_button("details_button", "Refresh the statistics below", _on_details, getattr(filt, "key", None))
    # as of the panel's build: numbers that update by themselves would rebuild the panel
    g.add_info("details", status.details(filt))
