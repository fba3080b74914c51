"""The Tuning group's presets, as data: one place for the panel, the tests and the docs.

Each preset gives the panel's own values (its units: percent, "balanced"/"saver"/"off",
model names) for :data:`PRESET_KEYS`; moving any of these away from the picked preset
makes the panel show "Custom". Picking a preset writes its values into the settings.

The presets differ in what costs CPU (the model's rate and size); the tracking and
clean-up values are the library's defaults (matting.settings.Settings) in all three,
so a streamer starts from the tuned values and changes only what they see.
"""

from __future__ import annotations

CUSTOM = "custom"
DEFAULT_PRESET = "balanced"

# The panel's keys a preset sets (obs_filter.properties: what each means).
PRESET_KEYS = ("follow_speed", "follow_trend", "min_blob", "steadiness", "adaptive_rate", "model")

_TRACKING = {"follow_speed": 80, "follow_trend": 30, "min_blob": 1.0, "steadiness": 90}

PRESETS = {
    "quality": dict(_TRACKING, adaptive_rate="off", model="general"),
    "balanced": dict(_TRACKING, adaptive_rate="balanced", model="general"),
    "light": dict(_TRACKING, adaptive_rate="saver", model="landscape"),
}

LABELS = {
    "quality": "Quality: the model on every frame",
    "balanced": "Balanced: the model when you move (recommended)",
    "light": "Light CPU: smaller model, runs less often",
    CUSTOM: "Custom (your own values below)",
}

HELP = ("Quality runs the model on every frame. Balanced skips it while nothing moves\n"
        "at your outline (at least every 6th frame). Light CPU uses the smaller\n"
        "landscape model and skips more (at least every 16th frame).\n"
        "Changing a value below switches to Custom.")


def matches(name: str, values: dict) -> bool:
    """Whether ``values`` (panel key → value) hold preset ``name``'s values."""
    preset = PRESETS[name]
    for key in PRESET_KEYS:
        want, got = preset[key], values.get(key)
        if isinstance(want, float):
            if not isinstance(got, (int, float)) or abs(got - want) > 1e-6:
                return False
        elif got != want:
            return False
    return True


def preset_of(values: dict) -> str:
    """The preset whose values ``values`` hold (the default one first), else CUSTOM."""
    for name in (DEFAULT_PRESET, *PRESETS):
        if matches(name, values):
            return name
    return CUSTOM
