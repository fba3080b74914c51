"""Stage 2: the matting CNN, run by ONNX Runtime.

:class:`Segmenter` wraps one ONNX session. It accepts any model with one image input
(NCHW or NHWC with 3 channels, fixed size read from the file) and one person-probability
output in [0, 1], such as the MediaPipe selfie segmentation models shipped in
``models/``. Pre-processing follows MediaPipe: RGB, value/255, the whole crop stretched
to the model size (no letterbox).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from .errors import ModelError

log = logging.getLogger("matting")

#: Folder with the shipped models; OBS_BG_MODELS overrides it (e.g. a packaged install).
MODELS_DIR = Path(os.environ.get("OBS_BG_MODELS", Path(__file__).resolve().parent.parent / "models"))
BUILTIN = {"general": "selfie_general.onnx", "landscape": "selfie_landscape.onnx"}

#: Settings name → ONNX Runtime provider, in the order "auto" tries them.
PROVIDERS = {
    "dml": "DmlExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def resolve_model(model: str) -> Path:
    """Path of a built-in model name or of a user's .onnx file; ModelError if missing."""
    path = MODELS_DIR / BUILTIN[model] if model in BUILTIN else Path(model).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return path


def choose_providers(device: str, available: list[str]) -> list[str]:
    """Providers to ask ONNX Runtime for, best first, always ending with the CPU."""
    cpu = PROVIDERS["cpu"]
    if device == "auto":
        wanted = [p for p in PROVIDERS.values() if p in available and p != cpu]
        return wanted[:1] + [cpu]
    name = PROVIDERS[device]
    if name == cpu:
        return [cpu]
    if name not in available:
        log.warning("device %r is not available in this onnxruntime (has %s); using the CPU",
                    device, ", ".join(available))
        return [cpu]
    return [name, cpu]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class Segmenter:
    """An ONNX person-segmentation model: ``predict(rgb) -> probability at model size``."""

    def __init__(self, model: str = "general", device: str = "auto", threads: int = 0):
        import onnxruntime as ort  # imported here so `--help` stays fast

        self.path = resolve_model(model)
        opts = ort.SessionOptions()
        # Two threads is the sweet spot for a 256² model and leaves OBS its cores.
        opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # ORT's pool otherwise spins after each run, stealing the cores that the numba
        # and OpenCV stages after inference need (and OBS's own threads).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = opts.intra_op_num_threads
        providers = choose_providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises many types; the user needs one line
            if providers[0] == PROVIDERS["cpu"]:
                raise ModelError(f"model {self.path.name} does not load: {_first_line(exc)}") from None
            log.warning("%s failed (%s); falling back to the CPU", providers[0], _first_line(exc))
            try:
                self.session = ort.InferenceSession(str(self.path), opts, providers=[PROVIDERS["cpu"]])
            except Exception as exc2:  # noqa: BLE001
                raise ModelError(f"model {self.path.name} does not load: {_first_line(exc2)}") from None
        self.provider = self.session.get_providers()[0]
        if device not in ("auto", "cpu") and self.provider != PROVIDERS[device]:
            log.warning("device %r could not be used; running on %s", device, self.provider)
        self._read_io()
        # One warm-up run: checks the output shape now, not on the first live frame.
        self.run(np.zeros(self.input_shape, np.float32))

    def _read_io(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        name = self.path.name
        if len(inputs) != 1:
            raise ModelError(f"model {name}: expected one image input, found {len(inputs)}")
        if not outputs:
            raise ModelError(f"model {name}: has no output")
        shape = list(inputs[0].shape)
        if len(shape) != 4:
            raise ModelError(f"model {name}: input must be 4-D (NCHW or NHWC), got {shape}")
        if shape[1] == 3:
            self.nchw, hw = True, shape[2:4]
        elif shape[3] == 3:
            self.nchw, hw = False, shape[1:3]
        else:
            raise ModelError(f"model {name}: input must have 3 colour channels, got {shape}")
        if not all(isinstance(d, int) and d > 0 for d in hw):
            raise ModelError(f"model {name}: input size must be fixed, got {shape}")
        if inputs[0].type != "tensor(float)":
            raise ModelError(f"model {name}: input must be float32, got {inputs[0].type}")
        self.input_hw = (int(hw[0]), int(hw[1]))
        self.input_shape = (1, 3, *self.input_hw) if self.nchw else (1, *self.input_hw, 3)
        self.input_name, self.output_name = inputs[0].name, outputs[0].name

    def preprocess(self, image: np.ndarray, order: str = "RGB") -> np.ndarray:
        """uint8 HxWx3+ image (any size) → float32 model input (RGB/255, stretched)."""
        h, w = self.input_hw
        shrink = image.shape[0] >= h and image.shape[1] >= w
        # INTER_AREA when shrinking matches MediaPipe's reference; linear when enlarging.
        # All channels, then drop a 4th: a strided 3-of-4 view is copied slowly by OpenCV.
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)[:, :, :3]
        if order == "BGR":
            small = small[:, :, ::-1]
        x = small.transpose(2, 0, 1) if self.nchw else small
        return (x.astype(np.float32) * np.float32(1 / 255))[None]

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Model input tensor → float32 probability (model height × width) in [0, 1]."""
        out = self.session.run([self.output_name], {self.input_name: tensor})[0]
        h, w = self.input_hw
        if out.size != h * w or out.squeeze().shape != (h, w):
            raise ModelError(f"model {self.path.name}: output must be one {h}x{w} probability map, "
                             f"got shape {list(out.shape)}")
        return np.clip(out.reshape(h, w).astype(np.float32, copy=False), 0.0, 1.0)

    def predict(self, image: np.ndarray, order: str = "RGB") -> np.ndarray:
        """Person probability of a whole uint8 image, at model size."""
        return self.run(self.preprocess(image, order))
