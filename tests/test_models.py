"""The shipped ONNX models (models/selfie_*.onnx) and their converter.

* reference: each committed model reproduces the original tflite outputs stored in the
  shared reference folder (``OBS_BG_SHARED`` or ``<repo>/../shared``) to 1e-3;
* self-test with no shared data: the public-domain astronaut gives known foreground fractions;
* I/O contract: one float32 NCHW input, one [1,1,H,W] output in [0, 1];
* ``slow``: ``tools/convert_mediapipe.py --check`` rebuilds both files byte-identically
  (downloads the mediapipe wheel with pip).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"general": ROOT / "models" / "selfie_general.onnx",
          "landscape": ROOT / "models" / "selfie_landscape.onnx"}
SIZES = {"general": (256, 256), "landscape": (144, 256)}  # (height, width)
SHARED = Path(os.environ.get("OBS_BG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REFERENCE = SHARED / "reference" / "mediapipe_selfie"


def _session(model: str):
    path = MODELS[model]
    if not path.is_file():
        pytest.fail(f"{path} is missing: run tools/convert_mediapipe.py")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


_SESSIONS: dict = {}


def session(model: str):
    if model not in _SESSIONS:
        _SESSIONS[model] = _session(model)
    return _SESSIONS[model]


def predict(model: str, rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB image at model size → probability [H, W]."""
    x = (rgb.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    return session(model).run(None, {"input": x})[0][0, 0]


def _reference_cases():
    names = sorted(p.name for p in REFERENCE.glob("*_input.png")) if REFERENCE.is_dir() else []
    cases = []
    for name in names:
        model = name.removesuffix("_input.png").rsplit("_", 1)[1]
        if model in MODELS:
            cases.append(pytest.param(model, name, id=name.removesuffix("_input.png")))
    if not cases:
        cases.append(pytest.param(None, None, marks=pytest.mark.skip(
            reason=f"no reference data in {REFERENCE} (set OBS_BG_SHARED to the shared folder)")))
    return cases


@pytest.mark.parametrize("model, name", _reference_cases())
def test_matches_tflite_reference(model, name):
    bgr = cv2.imread(str(REFERENCE / name), cv2.IMREAD_COLOR)
    expected = np.load(REFERENCE / name.replace("_input.png", "_output.npy"))
    assert bgr.shape[:2] == SIZES[model] == expected.shape
    got = predict(model, bgr[:, :, ::-1])  # PNG is BGR on disk; the model wants RGB
    assert np.abs(got - expected).max() <= 1e-3


@pytest.mark.parametrize("model, fraction", [("general", 0.545), ("landscape", 0.563)])
def test_astronaut_foreground_fraction(model, fraction):
    data = pytest.importorskip("skimage.data")
    h, w = SIZES[model]
    rgb = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)
    prob = predict(model, rgb)
    assert abs(float((prob > 0.5).mean()) - fraction) <= 0.01


@pytest.mark.parametrize("model", sorted(MODELS))
def test_io_contract(model):
    s = session(model)
    (inp,), (out,) = s.get_inputs(), s.get_outputs()
    h, w = SIZES[model]
    assert (inp.name, inp.type, inp.shape) == ("input", "tensor(float)", [1, 3, h, w])
    assert (out.type, out.shape) == ("tensor(float)", [1, 1, h, w])
    noise = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    y = s.run(None, {"input": noise})[0]
    assert y.shape == (1, 1, h, w) and y.dtype == np.float32
    assert np.isfinite(y).all() and y.min() >= 0.0 and y.max() <= 1.0
    assert y.mean() < 0.05  # uniform noise holds no person


@pytest.mark.slow
def test_converter_reproduces_committed_models():
    """Rebuilding from the wheel gives byte-identical files (pip downloads ~36 MB)."""
    pytest.importorskip("onnx")
    pytest.importorskip("tflite")
    cmd = [sys.executable, str(ROOT / "tools" / "convert_mediapipe.py"), "--check"]
    wheel = os.environ.get("OBS_BG_MEDIAPIPE_WHEEL")  # optional pre-downloaded wheel
    if wheel:
        cmd += ["--wheel", wheel]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if res.returncode == 3:  # the converter's EXIT_NO_WHEEL: pip could not fetch the wheel
        pytest.skip("could not download mediapipe==0.10.21 with pip (set OBS_BG_MEDIAPIPE_WHEEL)")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("order", ["BGR", "RGB"])
@pytest.mark.parametrize("channels", [3, 4])
def test_segmenter_input_is_rgb_over_255_nchw(model, order, channels):
    """The Segmenter's tensor (OpenCV's blob) is exactly the plain numpy formula: RGB
    channels first, each uint8 value / 255 in float32, of the area-shrunk crop."""
    from matting.model import Segmenter
    from matting.resize import area_resize

    seg = Segmenter(str(MODELS[model]), device="cpu")
    h, w = SIZES[model]
    rng = np.random.default_rng(channels + 7 * len(order))
    for ih, iw in ((h, w), (h + 37, w + 61), (3 * h, 2 * w + 1)):
        image = rng.integers(0, 256, (ih, iw, channels), dtype=np.uint8)
        small = area_resize(image, (w, h))
        rgb = small[:, :, ::-1] if order == "BGR" else small
        want = (rgb.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))[None]
        got = seg.preprocess(image, order)
        assert got.dtype == np.float32 and got.shape == (1, 3, h, w)
        assert np.array_equal(got, want)
