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


def _const(name: str, value) -> onnx.TensorProto:
    arr = np.asarray(value, np.float32)
    return helper.make_tensor(name, TensorProto.FLOAT, list(arr.shape), arr.ravel().tolist())


def _save(path: Path, nodes, inputs, outputs, inits=(), metadata: dict | None = None) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


#: Slope of the logit models: logit = LOGIT_GAIN · (brightness − 0.5).
LOGIT_GAIN = 12.0


def save_matte_model(path: Path, h=64, w=48, nhwc: bool = False, output: str = "prob", out_nhwc: bool = False,
                     out_name: str = "matte", dynamic: str = "", fp16: bool = False,
                     metadata: dict | None = None) -> Path:
    """A brightness 'person' model with a chosen output convention.

    ``output``: "prob" (brightness b, 1 channel), "logits" (LOGIT_GAIN·(b − 0.5)),
    "two_prob" ([1 − b, b]), "two_logits" ([−L/2, L/2] with L the logit above, so the
    softmax's person channel is sigmoid(L)), "squeezed" ([1, H, W] probability).
    ``out_nhwc`` puts the channel axis last. ``dynamic``: "hw" (both sides dynamic), "w"
    (width only). ``fp16``: float16 input and output.
    """
    hd = "height" if "h" in dynamic else h
    wd = "width" if "w" in dynamic else w
    in_shape = [1, hd, wd, 3] if nhwc else [1, 3, hd, wd]
    nodes, inits = [], []
    src = "image"
    if fp16:
        nodes.append(helper.make_node("Cast", ["image"], ["image32"], to=TensorProto.FLOAT))
        src = "image32"
    nodes.append(helper.make_node("ReduceMean", [src], ["b"], axes=[3 if nhwc else 1], keepdims=1))
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["b"], ["bt"], perm=[0, 3, 1, 2]))
        nodes.append(helper.make_node("Identity", ["bt"], ["b_nchw"]))
    else:
        nodes.append(helper.make_node("Identity", ["b"], ["b_nchw"]))
    inits += [_const("half", 0.5), _const("gain", LOGIT_GAIN), _const("one", 1.0), _const("neg_half", -0.5)]
    nodes += [helper.make_node("Sub", ["b_nchw", "half"], ["centred"]),
              helper.make_node("Mul", ["centred", "gain"], ["logit"])]
    if output == "prob":
        res = "b_nchw"
    elif output == "logits":
        res = "logit"
    elif output == "two_prob":
        nodes += [helper.make_node("Sub", ["one", "b_nchw"], ["bg"]),
                  helper.make_node("Concat", ["bg", "b_nchw"], ["pair"], axis=1)]
        res = "pair"
    elif output == "two_logits":
        nodes += [helper.make_node("Mul", ["logit", "neg_half"], ["bg"]),
                  helper.make_node("Mul", ["logit", "half"], ["fg"]),
                  helper.make_node("Concat", ["bg", "fg"], ["pair"], axis=1)]
        res = "pair"
    elif output == "squeezed":
        inits.append(helper.make_tensor("axes", TensorProto.INT64, [1], [1]))
        nodes.append(helper.make_node("Squeeze", ["b_nchw", "axes"], ["sq"]))
        res = "sq"
    else:
        raise ValueError(output)
    if out_nhwc:
        nodes.append(helper.make_node("Transpose", [res], ["res_t"], perm=[0, 2, 3, 1]))
        res = "res_t"
    if fp16:
        nodes.append(helper.make_node("Cast", [res], ["res16"], to=TensorProto.FLOAT16))
        res = "res16"
    nodes.append(helper.make_node("Identity", [res], [out_name]))
    ftype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    return _save(path, nodes, [helper.make_tensor_value_info("image", ftype, in_shape)],
                 [helper.make_tensor_value_info(out_name, ftype, None)], inits, metadata)


def save_recurrent_model(path: Path, states: int = 4, ratio: bool = True, image_name: str = "src",
                         fixed_hw: tuple[int, int] | None = None, drop_output: str = "",
                         extra_input: str = "") -> Path:
    """A tiny RVM-style model: ``src``, ``r1i…``, ``downsample_ratio`` → ``fgr``, ``pha``,
    ``r1o…``. It is a real recurrence, as RVM's state starts from [1,1,1,1] zeros:

    * ``pha = 0.5·b + 0.5·r1i`` with b the brightness, and ``r1o = pha`` — so on a still
      frame pha is b·(1 − 0.5ⁿ) after n frames (it only reaches b if the state is carried);
    * ``r2o = r2i + 1`` counts the frames since the state was reset;
    * ``r3o = 0·r3i + downsample_ratio`` shows the ratio that was fed; ``r4o…`` = ``r4i…``.
    ``drop_output`` / ``extra_input`` make broken variants.
    """
    hw = list(fixed_hw) if fixed_hw else ["height", "width"]
    inputs = [helper.make_tensor_value_info(image_name, TensorProto.FLOAT, [1, 3, *hw])]
    inputs += [helper.make_tensor_value_info(f"r{k}i", TensorProto.FLOAT, ["b", f"c{k}", f"h{k}", f"w{k}"])
               for k in range(1, states + 1)]
    if ratio:
        inputs.append(helper.make_tensor_value_info("downsample_ratio", TensorProto.FLOAT, [1]))
    if extra_input:
        inputs.append(helper.make_tensor_value_info(extra_input, TensorProto.FLOAT, [1]))
    inits = [_const("half", 0.5), _const("one", 1.0), _const("zero", 0.0)]
    nodes = [helper.make_node("ReduceMean", [image_name], ["b"], axes=[1], keepdims=1),
             helper.make_node("Mul", ["b", "half"], ["b_half"]),
             helper.make_node("Mul", ["r1i", "half"], ["r_half"]),
             helper.make_node("Add", ["b_half", "r_half"], ["pha"]),
             helper.make_node("Identity", ["pha"], ["r1o"]),
             helper.make_node("Identity", [image_name], ["fgr"])]
    if states >= 2:
        nodes.append(helper.make_node("Add", ["r2i", "one"], ["r2o"]))
    if states >= 3:
        nodes.append(helper.make_node("Mul", ["r3i", "zero"], ["r3zero"]))
        nodes.append(helper.make_node("Add", ["r3zero", "downsample_ratio" if ratio else "one"], ["r3o"]))
    for k in range(4, states + 1):
        nodes.append(helper.make_node("Identity", [f"r{k}i"], [f"r{k}o"]))
    names = ["fgr", "pha"] + [f"r{k}o" for k in range(1, states + 1)]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names if n != drop_output]
    if drop_output:
        nodes = [n for n in nodes if drop_output not in n.output]
    return _save(path, nodes, inputs, outputs, inits)
