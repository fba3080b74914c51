"""Fuzz the model contract with well-formed ONNX files of odd graphs: any input rank,
size and type, outputs of the wrong shape or type, several or NaN/inf/out-of-range
outputs. The loader either refuses the model with a ModelError or gives a probability
map in [0, 1] for every frame (a model bug must not reach the matte as NaN)."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from matting.errors import ModelError
from matting.model import Segmenter
from strategies import FUZZ

_n = itertools.count()
TYPES = [TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.UINT8]
DIMS = st.one_of(st.sampled_from([1, 3, 3, 16, 32, 0, "N", None]), st.integers(1, 40))


@st.composite
def graphs(draw):
    rank = draw(st.sampled_from([4, 4, 4, 3, 5, 2]))
    dims = [draw(DIMS) for _ in range(rank)]
    if rank == 4 and draw(st.booleans()):
        dims[1 if draw(st.booleans()) else 3] = 3  # mostly plausible image inputs
    in_type = draw(st.sampled_from(TYPES))
    post = draw(st.sampled_from(["mean", "mean", "nan", "inf", "scale", "neg", "identity", "two_outputs"]))
    out_type = draw(st.sampled_from([TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.DOUBLE]))
    return dims, in_type, post, out_type


def _build(path, dims, in_type, post, out_type):
    axis = 1 if len(dims) < 4 or dims[1] == 3 else len(dims) - 1
    nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[min(axis, len(dims) - 1)], keepdims=1)]
    inits = []
    last = "m"
    if post in ("nan", "inf", "scale", "neg"):
        value = {"nan": 0.0, "inf": 0.0, "scale": 50.0, "neg": -1.0}[post]
        inits.append(helper.make_tensor("k", in_type if in_type != TensorProto.UINT8 else TensorProto.FLOAT,
                                        [], [value]))
        if in_type == TensorProto.UINT8:
            nodes.append(helper.make_node("Cast", ["m"], ["mf"], to=TensorProto.FLOAT))
            last = "mf"
        op = "Div" if post in ("nan", "inf") else "Mul"
        src = [last, "k"] if post != "nan" else ["k", "k"]
        if post == "nan":
            nodes.append(helper.make_node("Sub", [last, last], ["z"]))
            src = ["z", "k"]
        nodes.append(helper.make_node(op, src, ["p"]))
        last = "p"
    if post == "identity":
        nodes = [helper.make_node("Identity", ["image"], ["p"])]
        last = "p"
    nodes.append(helper.make_node("Cast", [last], ["prob"], to=out_type))
    outputs = [helper.make_tensor_value_info("prob", out_type, None)]
    if post == "two_outputs":
        nodes.append(helper.make_node("Identity", ["prob"], ["prob2"]))
        outputs.append(helper.make_tensor_value_info("prob2", out_type, None))
    shape = [d if d is not None else f"d{i}" for i, d in enumerate(dims)]
    graph = helper.make_graph(nodes, "odd", [helper.make_tensor_value_info("image", in_type, shape)], outputs,
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("odd models")


@FUZZ
@given(g=graphs(), frames=st.lists(st.tuples(st.integers(1, 300), st.integers(1, 300), st.integers(0, 255)),
                                   min_size=1, max_size=3))
def test_odd_graph_is_refused_or_gives_a_clean_probability(folder, g, frames):
    path = folder / f"odd {next(_n)}.onnx"
    _build(path, *g)
    try:
        seg = Segmenter(str(path), "cpu", 1)
    except ModelError as exc:
        assert str(exc)
        return
    for h, w, level in frames:
        try:
            prob = seg.predict(np.full((h, w, 3), level, np.uint8), "BGR")
        except ModelError:
            continue
        assert prob.dtype == np.float32 and prob.shape == seg.input_hw
        assert np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1, (g, prob.min(), prob.max())
