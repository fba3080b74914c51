"""The model contract: any ONNX model with one image input (NCHW or NHWC) and one
probability output plugs in by path; bad models give a clear ModelError.

More conventions (logits, two channels, dynamic sizes, float16, recurrent models) are in
tests/test_model_contract.py."""

from __future__ import annotations

import numpy as np
import pytest

from matting.errors import ModelError
from matting.model import Segmenter, choose_providers
from matting.pipeline import Pipeline
from onnx_models import bright_person_frame, save_brightness_model


@pytest.mark.parametrize("nhwc", [False, True])
def test_custom_model_plugs_in_by_path(tmp_path, nhwc):
    path = save_brightness_model(tmp_path / "m.onnx", nhwc=nhwc)
    seg = Segmenter(str(path), device="cpu")
    assert seg.input_hw == (64, 48) and seg.nchw is not nhwc
    frame = bright_person_frame()
    prob = seg.predict(frame, "BGR")
    assert prob.shape == (64, 48) and prob.max() > 0.85 and prob.min() < 0.1


def test_custom_model_in_pipeline_tracks_the_person(tmp_path):
    path = save_brightness_model(tmp_path / "m.onnx")
    p = Pipeline(model=str(path), device="cpu", background="#0000ff", temporal_strength=0.0)
    frame = bright_person_frame()
    for _ in range(3):
        comp, alpha = p.process(frame)
    assert p.tracker.forecast is not None  # tracking the person, not the whole frame
    assert alpha[200, 280] == 255 and alpha[20, 20] == 0
    assert tuple(comp[200, 280]) == (255, 255, 255)
    assert tuple(comp[20, 20]) == (255, 0, 0)  # BGR of #0000ff


@pytest.mark.parametrize("kwargs,match", [
    (dict(out_shape=[1, 2, 32, 48]), "output 'prob' must be one 64x48 map"),
    (dict(inputs=2), "one image input"),
])
def test_wrong_model_shape_is_a_clear_error(tmp_path, kwargs, match):
    path = save_brightness_model(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ModelError, match=match):
        Segmenter(str(path), device="cpu")


def test_missing_and_corrupt_model(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Segmenter(str(tmp_path / "nope.onnx"))
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="does not load"):
        Segmenter(str(bad))


def test_provider_choice_falls_back_to_cpu(caplog):
    cpu = "CPUExecutionProvider"
    assert choose_providers("auto", [cpu]) == [cpu]
    assert choose_providers("auto", ["CUDAExecutionProvider", cpu]) == ["CUDAExecutionProvider", cpu]
    assert choose_providers("auto", ["DmlExecutionProvider", "CUDAExecutionProvider", cpu])[0] == "DmlExecutionProvider"
    with caplog.at_level("WARNING", logger="matting"):
        assert choose_providers("cuda", [cpu]) == [cpu]
    assert len(caplog.records) == 1 and "not available" in caplog.records[0].getMessage()
