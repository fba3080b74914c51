"""obs-bg-replace's matting library: real-time background replacement, usable without OBS.

Stages, one module each: :mod:`~matting.roi` (ROI tracking), :mod:`~matting.model`
(ONNX segmentation), :mod:`~matting.postprocess` (components, motion, temporal fusion),
:mod:`~matting.composite` (fusion onto the new background); :mod:`~matting.pipeline`
holds the state and runs them per frame.
"""

from .errors import BackgroundError, InputError, MattingError, ModelError, SettingsError
from .settings import Settings

__all__ = ["Pipeline", "Settings", "MattingError", "SettingsError", "ModelError",
           "InputError", "BackgroundError"]


def __getattr__(name):
    # Lazy: `import matting` stays light (no numba/onnxruntime) until the pipeline is used.
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    raise AttributeError(name)
