"""Tiny ONNX models built in the tests, to check the model contract without big files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper


def save_brightness_model(path: Path, h: int = 64, w: int = 48, nhwc: bool = False,
                          out_shape: list[int] | None = None, inputs: int = 1) -> Path:
    """A model whose 'person probability' is the pixel's mean brightness: bright = person.

    ``out_shape`` lets a test make a wrongly shaped output; ``inputs`` > 1 adds inputs.
    """
    in_shape = [1, h, w, 3] if nhwc else [1, 3, h, w]
    axis = 3 if nhwc else 1
    nodes = [helper.make_node("ReduceMean", ["image"], ["mean"], axes=[axis], keepdims=1)]
    out = "mean"
    if out_shape is not None:
        nodes.append(helper.make_node("Reshape", ["mean", "shape"], ["prob"]))
        out = "prob"
    elif nhwc:
        nodes.append(helper.make_node("Transpose", ["mean"], ["prob"], perm=[0, 3, 1, 2]))
        out = "prob"
    inits = []
    if out_shape is not None:
        inits.append(helper.make_tensor("shape", TensorProto.INT64, [len(out_shape)], out_shape))
    graph_inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, in_shape)]
    for i in range(1, inputs):
        graph_inputs.append(helper.make_tensor_value_info(f"extra{i}", TensorProto.FLOAT, [1]))
    graph = helper.make_graph(nodes, "brightness", graph_inputs,
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def bright_person_frame(h: int = 360, w: int = 640, box=(200, 60, 360, 340)) -> np.ndarray:
    """Dark frame with a bright 'person' rectangle (x0, y0, x1, y1)."""
    f = np.full((h, w, 3), 20, np.uint8)
    x0, y0, x1, y1 = box
    f[y0:y1, x0:x1] = 255
    return f
