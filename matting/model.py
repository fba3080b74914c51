"""Stage 2: the matting CNN, run by ONNX Runtime.

:class:`Segmenter` wraps one ONNX session. Besides the MediaPipe selfie segmentation
models shipped in ``models/`` it accepts any model that fits the contract of
:mod:`matting.model_io` (documented in ``models/MODEL_CARD.md``): one image input, NCHW or
NHWC, fixed or dynamic size; a matte output of 1 or 2 channels, probabilities or logits;
or a recurrent video-matting model (RVM-style ``src``, ``r1i…``, ``downsample_ratio`` →
``pha``, ``r1o…``) whose state is carried from frame to frame. Pre-processing follows
MediaPipe: RGB, value/255, the whole crop stretched to the model size (no letterbox).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from .errors import ModelError
from .model_io import MatteDecoder, model_size, read_io
from .resize import area_resize, area_resize_tensor

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
        self.run(np.zeros(self.input_shape, self.dtype))
        self.reset_state()
        log.info("model %s: %s", self.path.name, self.summary())

    def _read_io(self) -> None:
        name = self.path.name
        meta = self.session.get_modelmeta().custom_metadata_map
        io = read_io(name, self.session.get_inputs(), self.session.get_outputs(), meta)
        self.io = io
        self.nchw, self.dtype = io.nchw, io.dtype
        self.input_name, self.output_name = io.image, io.matte
        #: Recurrent models carry state between frames: they must see one stable input
        #: geometry (the pipeline runs them on the whole frame, ROI tracking off).
        self.recurrent = io.recurrent
        # Only a recurrent model with a dynamic side follows the frame's aspect (see
        # model_io.model_size); every other model has one input size for good.
        self._follow_aspect = io.recurrent and None in io.fixed_hw
        self.input_hw = model_size(io.fixed_hw)
        self._aspect = None  # aspect of the image input_hw was chosen for
        self.decode = MatteDecoder(name, io.matte, io.kind)
        self._fetch = [io.matte] + [s.output for s in io.states]
        self._ratio = np.ones(1, np.float32)  # RVM works at the size it is given (see MODEL_CARD)
        self.reset_state()

    def summary(self) -> str:
        """One line on how the model is read (for logs and the CLI)."""
        io = self.io
        size = "x".join(str(d or "?") for d in io.fixed_hw)
        kind = io.kind if io.kind != "auto" else (
            "detected logits" if self.decode.kind == "logits" else "probability unless values show logits")
        text = (f"input {io.image!r} {'NCHW' if io.nchw else 'NHWC'} {size} {np.dtype(io.dtype).name}, "
                f"matte output {io.matte!r} ({kind})")
        if io.recurrent:
            text += f", recurrent with {len(io.states)} state tensor(s)"
        return text

    @property
    def input_shape(self) -> tuple[int, ...]:
        h, w = self.input_hw
        return (1, 3, h, w) if self.nchw else (1, h, w, 3)

    def reset_state(self) -> None:
        """Forget a recurrent model's state (the next frame starts a new clip)."""
        self._state = {s.input: np.zeros(s.initial_shape, s.dtype) for s in self.io.states}
        self._geometry = None

    def preprocess(self, image: np.ndarray, order: str = "RGB", opencv: bool = False) -> np.ndarray:
        """uint8 HxWx3+ image (any size) → model input (RGB/255, stretched). ``opencv``:
        shrink with OpenCV's own INTER_AREA (the reference path of :func:`matting.pipeline.
        baseline_alpha`) instead of :func:`matting.resize.area_resize` (the same filter)."""
        if self._follow_aspect:
            # The same frame may come as the grid image or the full frame (their aspects
            # differ by rounding): keep the size unless the aspect really changed, so the
            # state is not reset by a 32-pixel rounding flip.
            ih, iw = image.shape[:2]
            if self._aspect is None or abs(iw / ih - self._aspect) > 0.01 * self._aspect:
                self._aspect = iw / ih
                self.input_hw = model_size(self.io.fixed_hw, (ih, iw))
        h, w = self.input_hw
        shrink = image.shape[0] >= h and image.shape[1] >= w
        # INTER_AREA when shrinking matches MediaPipe's reference; linear when enlarging.
        # (matting.resize.shrink is 3–7× faster on ROI crops, but the model's answer on
        # hard scenes moves with such small input differences: on the 38 generated
        # sequences it met the never-worse-than-the-raw-model targets on 35 against 38,
        # mean MAD 0.56× against 0.53× the raw model's; measured. The raw model, our
        # baseline, is fed INTER_AREA: the pipeline sees the same pixels; area_resize is
        # INTER_AREA computed faster, equal to OpenCV's but for rare ±1 roundings.)
        # All channels, then drop a 4th: a strided 3-of-4 view is copied slowly by OpenCV.
        if shrink and not opencv and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4):
            if self.nchw and self.dtype is np.float32:
                # The shrink writes the tensor itself: the blob below, without its pass
                # (crop → tensor 0.61 → 0.49 ms at 1080p, tools/stage_timings.py).
                return area_resize_tensor(image, (w, h), order == "BGR")
            small = area_resize(image, (w, h))
        else:
            small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)[:, :, :3]
        if self.nchw and self.dtype is np.float32:
            # OpenCV's blob does the channel swap, /255 and HWC → NCHW in one pass: the
            # same float32 values as the numpy lines below (tests/test_models.py checks
            # it), and the whole preprocess of a 1080p crop 0.86 → 0.62 ms
            # (tools/stage_timings.py).
            return cv2.dnn.blobFromImage(np.ascontiguousarray(small), 1 / 255, swapRB=order == "BGR")
        if order == "BGR":
            small = small[:, :, ::-1]
        x = small.transpose(2, 0, 1) if self.nchw else small
        x = (x.astype(np.float32) * np.float32(1 / 255))[None]
        return x if self.dtype is np.float32 else x.astype(self.dtype)

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Model input tensor → float32 probability (input height × width) in [0, 1].

        A recurrent model's state advances by one frame; it restarts from zeros when the
        input's shape changes (the state is only meaningful for one geometry)."""
        h, w = tensor.shape[2:4] if self.nchw else tensor.shape[1:3]
        try:
            if not self.recurrent:
                out = self.session.run(self._fetch, {self.input_name: tensor})[0]
            else:
                out = self._run_recurrent(tensor)
        except Exception as exc:  # noqa: BLE001 - ORT raises many types; the user needs one line
            raise ModelError(f"model {self.path.name}: inference failed: {_first_line(exc)}") from None
        return self.decode(out, h, w)

    def _run_recurrent(self, tensor: np.ndarray) -> np.ndarray:
        if tensor.shape != self._geometry:
            self.reset_state()
            self._geometry = tensor.shape
        feeds = {self.input_name: tensor, **self._state}
        if self.io.ratio:
            feeds[self.io.ratio] = self._ratio
        out, *states = self.session.run(self._fetch, feeds)
        self._state = {s.input: v for s, v in zip(self.io.states, states)}
        return out

    def predict(self, image: np.ndarray, order: str = "RGB", opencv: bool = False) -> np.ndarray:
        """Person probability of a whole uint8 image, at model size."""
        return self.run(self.preprocess(image, order, opencv))
