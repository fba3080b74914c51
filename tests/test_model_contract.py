"""Custom models by path beyond one-channel probabilities: logits, two channels, NHWC
outputs, dynamic input sizes, float16, and RVM-style recurrent models — each a tiny ONNX
model built here, run by the real ONNX Runtime, alone and through Pipeline.process."""

from __future__ import annotations

import numpy as np
import pytest

from matting.errors import ModelError
from matting.model import Segmenter
from matting.model_io import MatteDecoder, model_size, output_layout, sigmoid
from matting.pipeline import Pipeline
from onnx_models import (LOGIT_GAIN, bright_person_frame, save_brightness_model, save_matte_model,
                         save_recurrent_model)


def brightness(seg: Segmenter, frame: np.ndarray) -> np.ndarray:
    """What the brightness models compute, from the Segmenter's own input tensor."""
    x = seg.preprocess(frame, "BGR").astype(np.float32)
    return x[0].mean(axis=0) if seg.nchw else x[0].mean(axis=2)


def expected(output: str, b: np.ndarray) -> np.ndarray:
    return sigmoid(LOGIT_GAIN * (b - 0.5)) if "logits" in output else b


CONVENTIONS = [  # (output, channels last in the output)
    ("prob", False), ("prob", True), ("logits", False), ("two_prob", False), ("two_prob", True),
    ("two_logits", False), ("two_logits", True), ("squeezed", False),
]


@pytest.mark.parametrize("output,out_nhwc", CONVENTIONS)
@pytest.mark.parametrize("nhwc", [False, True])
def test_output_conventions_give_the_person_probability(tmp_path, output, out_nhwc, nhwc):
    path = save_matte_model(tmp_path / "m.onnx", output=output, out_nhwc=out_nhwc, nhwc=nhwc)
    seg = Segmenter(str(path), device="cpu")
    frame = bright_person_frame()
    prob = seg.predict(frame, "BGR")
    assert prob.dtype == np.float32 and prob.shape == (64, 48)
    np.testing.assert_allclose(prob, expected(output, brightness(seg, frame)), atol=2e-6)
    # Logits are detected at load already (the warm-up's black frame is far outside [0, 1]).
    assert seg.decode.kind == ("logits" if "logits" in output else "auto")


@pytest.mark.parametrize("output", ["prob", "two_logits"])
def test_conventions_end_to_end_through_the_pipeline(tmp_path, output):
    path = save_matte_model(tmp_path / "m.onnx", output=output, out_nhwc=True)
    p = Pipeline(model=str(path), device="cpu", background="#0000ff", temporal_strength=0.0,
                 adaptive_rate="off")  # one model run per frame: the state advances each frame
    frame = bright_person_frame()
    for _ in range(3):
        comp, alpha = p.process(frame)
    assert p.tracker.forecast is not None  # ROI tracking works as with the shipped models
    assert alpha[200, 280] == 255 and alpha[20, 20] == 0
    assert tuple(comp[200, 280]) == (255, 255, 255) and tuple(comp[20, 20]) == (255, 0, 0)


def test_declared_logits_by_metadata_or_name(tmp_path):
    frame = bright_person_frame()
    # A probability-range output declared as logits gets the sigmoid although its values
    # alone would read as probabilities.
    for kwargs in (dict(metadata={"output": "logits"}), dict(out_name="person_logits")):
        seg = Segmenter(str(save_matte_model(tmp_path / "m.onnx", output="prob", **kwargs)), device="cpu")
        assert seg.io.kind == "logits"
        np.testing.assert_allclose(seg.predict(frame, "BGR"), sigmoid(brightness(seg, frame)), atol=2e-6)
    # Declared probability: a logit model is then clipped, never passed through a sigmoid.
    seg = Segmenter(str(save_matte_model(tmp_path / "p.onnx", output="logits", metadata={"output": "probability"})),
                    device="cpu")
    b = brightness(seg, frame)
    np.testing.assert_allclose(seg.predict(frame, "BGR"), np.clip(LOGIT_GAIN * (b - 0.5), 0, 1), atol=2e-6)
    with pytest.raises(ModelError, match="metadata 'output' must be 'probability' or 'logits'"):
        Segmenter(str(save_matte_model(tmp_path / "x.onnx", metadata={"output": "softmax"})), device="cpu")


def test_auto_detection_switches_to_logits_once_and_for_good():
    dec = MatteDecoder("m", "out")
    calm = np.linspace(0.2, 0.8, 12, dtype=np.float32).reshape(1, 1, 3, 4)
    np.testing.assert_array_equal(dec(calm.copy(), 3, 4), calm.reshape(3, 4))
    assert dec.kind == "auto"
    rounding = calm.copy()
    rounding[0, 0, 0, 0] = 1.0005  # float rounding of a probability: clipped, not a logit
    assert dec(rounding, 3, 4).max() == 1.0 and dec.kind == "auto"
    wild = calm * 10 - 4
    np.testing.assert_allclose(dec(wild.copy(), 3, 4), sigmoid(wild.reshape(3, 4)), atol=1e-7)
    assert dec.kind == "logits"
    # From now on even values inside [0, 1] are logits.
    np.testing.assert_allclose(dec(calm.copy(), 3, 4), sigmoid(calm.reshape(3, 4)), atol=1e-7)


def test_two_channel_detection():
    fg = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    dec = MatteDecoder("m", "out")
    probs = np.stack([1 - fg, fg])[None]  # [1, 2, H, W], summing to 1
    np.testing.assert_allclose(dec(probs, 3, 4), fg, atol=1e-7)
    assert dec.kind == "auto"
    # In [0, 1] but not summing to 1: only logits do that.
    pair = np.stack([fg, fg * 0.5], axis=-1)[None]  # [1, H, W, 2]
    np.testing.assert_allclose(dec(pair, 3, 4), sigmoid(fg * 0.5 - fg), atol=1e-7)
    assert dec.kind == "logits"


@pytest.mark.parametrize("shape,layout", [
    ((1, 1, 3, 4), (1, False)), ((1, 3, 4, 1), (1, False)), ((1, 3, 4), (1, False)), ((3, 4), (1, False)),
    ((1, 2, 3, 4), (2, True)), ((1, 3, 4, 2), (2, False)), ((2, 3, 4), (2, True)), ((3, 4, 2), (2, False)),
    ((1, 3, 3, 4), None), ((1, 2, 3, 4, 1), None), ((1, 1, 4, 3), None), ((1, 2, 3, 4, 2), None),
    ((1, 1, 6, 8), None), ((12,), None), ((2, 1, 3, 4), None), ((2, 3, 4, 1), (2, True)),
    ((1, 3, 4, 1), (1, False)),
])
def test_output_layout(shape, layout):
    assert output_layout(shape, 3, 4) == layout


def test_model_size_rule():
    assert model_size((144, 256)) == (144, 256)
    assert model_size((144, 256), (1080, 1920)) == (144, 256)  # declared sizes are kept
    assert model_size((None, None)) == (256, 256)  # one-shot models: square, like "general"
    assert model_size((None, 320)) == (256, 320)
    # Recurrent (whole-frame) models keep the frame's aspect: short side 256, multiples of 32.
    assert model_size((None, None), (1080, 1920)) == (256, 448)
    assert model_size((None, None), (1920, 1080)) == (448, 256)
    assert model_size((None, None), (480, 640)) == (256, 352)
    assert model_size((None, None), (100, 5000)) == (256, 1024)  # capped long side
    assert model_size((288, None), (1080, 1920)) == (288, 512)
    assert model_size((None, 512), (1080, 1920)) == (288, 512)


def test_dynamic_size_and_float16(tmp_path):
    path = save_matte_model(tmp_path / "m.onnx", output="two_prob", dynamic="hw", nhwc=True, out_nhwc=True,
                            fp16=True)
    seg = Segmenter(str(path), device="cpu")
    assert seg.input_hw == (256, 256) and seg.dtype is np.float16
    frame = bright_person_frame()
    assert seg.preprocess(frame, "BGR").dtype == np.float16
    prob = seg.predict(frame, "BGR")
    assert prob.dtype == np.float32 and prob.shape == (256, 256)
    np.testing.assert_allclose(prob, brightness(seg, frame), atol=2e-3)  # float16 rounding
    p = Pipeline(model=str(path), device="cpu", background="#0000ff", temporal_strength=0.0,
                 adaptive_rate="off")  # one model run per frame: the state advances each frame
    for _ in range(3):
        comp, alpha = p.process(frame)
    assert alpha[200, 280] == 255 and alpha[20, 20] == 0


# ---- recurrent (RVM-style) models ----------------------------------------------------------
def test_recurrent_state_is_carried_and_reset(tmp_path):
    seg = Segmenter(str(save_recurrent_model(tmp_path / "rvm.onnx")), device="cpu")
    assert seg.recurrent and seg.io.ratio == "downsample_ratio" and seg.output_name == "pha"
    frame = bright_person_frame()  # 640×360 → 448×256 at the model
    b = None
    for n in range(1, 5):
        prob = seg.predict(frame, "BGR")
        b = brightness(seg, frame) if b is None else b
        assert seg.input_hw == (256, 448) and prob.shape == (256, 448)
        np.testing.assert_allclose(prob, b * (1 - 0.5 ** n), atol=1e-6)  # only with the state carried
        assert seg._state["r2i"].item() == n and seg._state["r3i"].item() == 1.0  # ratio fed: 1.0
    seg.reset_state()
    np.testing.assert_allclose(seg.predict(frame, "BGR"), b * 0.5, atol=1e-6)
    # Another input geometry: the state restarts by itself.
    seg.predict(frame, "BGR")
    portrait = np.ascontiguousarray(frame.transpose(1, 0, 2))
    seg.predict(portrait, "BGR")
    assert seg.input_hw == (448, 256) and seg._state["r2i"].item() == 1
    # The grid image of the same frame (aspect off by rounding) keeps the size and the state.
    seg.predict(portrait[:, :359], "BGR")
    assert seg.input_hw == (448, 256) and seg._state["r2i"].item() == 2


@pytest.mark.parametrize("fixed,model_shape", [(True, (1, 3, 144, 256)), (False, (1, 3, 256, 448))])
def test_recurrent_model_in_the_pipeline(tmp_path, fixed, model_shape):
    path = (save_recurrent_model(tmp_path / "rvm.onnx", fixed_hw=(144, 256), ratio=False, states=2) if fixed
            else save_recurrent_model(tmp_path / "rvm.onnx"))
    p = Pipeline(model=str(path), device="cpu", background="#0000ff", temporal_strength=0.0,
                 adaptive_rate="off")  # one model run per frame: the state advances each frame
    assert p.settings.roi  # asked for, but a recurrent model always sees the whole frame
    frame = bright_person_frame()
    seen = []
    real_run = p.segmenter.run
    p.segmenter.run = lambda t: seen.append(t.shape) or real_run(t)
    for n in range(1, 6):
        comp, alpha = p.process(frame)
        assert p.segmenter._state["r2i"].item() == n
    assert p.tracker.forecast is None and set(seen) == {model_shape}  # one call per frame, whole frame
    assert alpha[200, 280] == 255 and alpha[20, 20] == 0
    assert tuple(comp[200, 280]) == (255, 255, 255) and tuple(comp[20, 20]) == (255, 0, 0)
    p.reset()
    p.process(frame)
    assert p.segmenter._state["r2i"].item() == 1  # the pipeline's reset restarts the state
    p.process(frame)
    p.process(frame[:300, :500].copy())  # a new frame size: fresh start too
    assert p.segmenter._state["r2i"].item() == 1


def test_recurrent_model_in_eval_predictors_is_not_shared(tmp_path):
    from matting.lab.evaluate import make_predictors
    from matting.settings import Settings

    preds = make_predictors(["baseline", "full", "no_cc"], Settings(model=str(save_recurrent_model(tmp_path / "r.onnx"))))
    segs = [preds["baseline"].segmenter, preds["full"].pipeline.segmenter, preds["no_cc"].pipeline.segmenter]
    assert len({id(s) for s in segs}) == 3
    frame = bright_person_frame()
    preds["baseline"](frame)
    preds["baseline"].reset()
    assert segs[0]._geometry is None and segs[0]._state["r2i"].item() == 0


# ---- bad models ----------------------------------------------------------------------------
def _bad_models(tmp_path):
    from onnx import TensorProto, helper

    from onnx_models import _save

    def one_input(shape, elem=TensorProto.FLOAT):
        node = helper.make_node("Identity", ["x"], ["y"])
        return _save(tmp_path / "one.onnx", [node], [helper.make_tensor_value_info("x", elem, shape)],
                     [helper.make_tensor_value_info("y", elem, None)])

    return {
        "rank": (lambda: one_input([1, 10]), "image input 'x' must be 4-D"),
        "channels": (lambda: one_input([1, 4, 32, 32]), "3 colour channels on axis 1"),
        "dtype": (lambda: one_input([1, 3, 32, 32], TensorProto.INT32), "must be float32 or float16"),
        "batch": (lambda: one_input([4, 3, 32, 32]), "batch size 1"),
        "three_channel_output": (lambda: one_input([1, 3, 32, 32]), "output 'y' must be one 32x32 map"),
        "state_without_output": (lambda: save_recurrent_model(tmp_path / "r.onnx", drop_output="r2o"),
                                 "state input 'r2i' has no matching output 'r2o'"),
        "extra_input": (lambda: save_recurrent_model(tmp_path / "r.onnx", extra_input="gain"),
                        "unsupported input.*gain"),
        "fails_to_run": (lambda: save_brightness_model(tmp_path / "d.onnx", out_shape=[1, 1, 64, 48], h="h", w="w"),
                         "inference failed"),
    }


@pytest.mark.parametrize("case", ["rank", "channels", "dtype", "batch", "three_channel_output",
                                  "state_without_output", "extra_input", "fails_to_run"])
def test_bad_models_are_clear_errors(tmp_path, case):
    make, match = _bad_models(tmp_path)[case]
    with pytest.raises(ModelError, match=match):
        Segmenter(str(make()), device="cpu")


def test_recurrent_image_input_may_have_another_name(tmp_path):
    seg = Segmenter(str(save_recurrent_model(tmp_path / "r.onnx", image_name="frame")), device="cpu")
    assert seg.input_name == "frame" and seg.recurrent


def test_recurrent_model_without_an_image_input(tmp_path):
    from onnx import TensorProto, helper

    from onnx_models import _save

    nodes = [helper.make_node("Identity", ["r1i"], ["r1o"])]
    path = _save(tmp_path / "r.onnx", nodes, [helper.make_tensor_value_info("r1i", TensorProto.FLOAT, [1, 1, 1, 1])],
                 [helper.make_tensor_value_info("r1o", TensorProto.FLOAT, None)])
    with pytest.raises(ModelError, match="has no image input 'src'"):
        Segmenter(str(path), device="cpu")
