"""Exceptions with messages meant for a streamer, not a developer.

Everything the library raises on bad input derives from :class:`MattingError`, so the
command line and the OBS filter can catch one type, print one clear line and pass the
frame through unchanged.
"""


class MattingError(Exception):
    """Base class: a problem the user can fix (bad file, bad setting, bad model)."""


class SettingsError(MattingError, ValueError):
    """A setting has a value outside its range; the message names the setting."""


class ModelError(MattingError):
    """The ONNX model is missing, does not load, or has the wrong inputs/outputs."""


class InputError(MattingError):
    """An input image, video or frame cannot be read or has an unusable shape."""


class BackgroundError(MattingError):
    """The background image/video/colour cannot be loaded or parsed."""
