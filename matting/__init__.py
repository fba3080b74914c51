"""obs-bg-replace's matting library: real-time background replacement, usable without OBS.

Stages, one module each: :mod:`~matting.roi` (ROI tracking), :mod:`~matting.model`
(ONNX segmentation), :mod:`~matting.postprocess` (components, motion, temporal fusion),
:mod:`~matting.composite` (fusion onto the new background); :mod:`~matting.pipeline`
holds the state and runs them per frame.
"""

import os

# numba's parallel kernels run on OpenMP, whose threads by default spin after each parallel
# region waiting for more work. With other busy processes (OBS's own threads, an encoder)
# that spinning steals the cores: measured here under load, a 960×540 kernel took 28 ms
# wall / 8 ms CPU spinning instead of 0.2 ms. Passive waiting must be chosen before the
# OpenMP runtime loads, i.e. here, before any numba kernel runs; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
