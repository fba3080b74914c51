#!/usr/bin/env python3
"""Convert MediaPipe's selfie segmentation models (.tflite) to ONNX, reproducibly.

The two models ship inside the PyPI wheel ``mediapipe==0.10.21`` (newer wheels no
longer carry them). This script downloads that wheel with ``pip download --no-deps``
(nothing is installed), reads the two .tflite files out of it with ``zipfile``, checks
their sha256, parses the flatbuffers with the PyPI ``tflite`` package and rebuilds each
graph with ``onnx.helper`` in NCHW layout (opset 17). It needs only numpy, onnx and
tflite: no TensorFlow.

Output (in ``--out``, default ``models/``):

* ``selfie_general.onnx``   input ``input`` [1,3,256,256], output ``output`` [1,1,256,256]
* ``selfie_landscape.onnx`` input ``input`` [1,3,144,256], output ``output`` [1,1,144,256]

Input is RGB float32 in [0, 1] (value/255), the whole frame stretched to the model size;
output is the person probability (already through a sigmoid). The tflite weights are
fp16, so they are stored as fp16 initializers + Cast to float32: lossless and half the
size. The files are byte-identical from run to run (fixed producer and metadata, no timestamps,
deterministic serialisation); ``--check`` verifies that for the files already in ``--out``.

Usage::

    python tools/convert_mediapipe.py                  # download wheel, write models/
    python tools/convert_mediapipe.py --wheel W.whl    # use a wheel already downloaded
    python tools/convert_mediapipe.py --check          # exit 1 if models/ would change
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

MEDIAPIPE = "mediapipe==0.10.21"
WHEEL_DIR = "mediapipe/modules/selfie_segmentation/"
#: ONNX file name → (tflite file name in the wheel, its sha256).
MODELS = {
    "selfie_general.onnx": (
        "selfie_segmentation.tflite",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"),
    "selfie_landscape.onnx": (
        "selfie_segmentation_landscape.tflite",
        "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"),
}
OPSET, IR_VERSION = 17, 8  # IR 8 keeps the files loadable by older onnxruntime releases
EXIT_NO_WHEEL = 3  # distinct status so tests can tell "offline" from "files differ"
PRODUCER, PRODUCER_VERSION = "obs-bg-replace tools/convert_mediapipe.py", "1"

BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


# --------------------------------------------------------------------------- inputs
def download_wheel(dest: Path) -> Path:
    """``pip download`` the mediapipe wheel (binary only, no dependencies) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
           "--quiet", "-d", str(dest), MEDIAPIPE]
    ok = subprocess.run(cmd).returncode == 0
    wheels = sorted(dest.glob("mediapipe-0.10.21-*.whl"))
    if not ok or not wheels:
        print(f"error: could not download {MEDIAPIPE} (give one with --wheel)", file=sys.stderr)
        raise SystemExit(EXIT_NO_WHEEL)
    return wheels[0]


def read_tflite(wheel: Path, name: str, sha256: str) -> bytes:
    """One .tflite file from the wheel, refused unless its sha256 is the expected one."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(WHEEL_DIR + name)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise SystemExit(f"{name}: sha256 {got} != expected {sha256}")
    return data


# --------------------------------------------------------------------------- helpers
def same_pads(in_hw, kernel_hw, stride_hw, dilation_hw=(1, 1)) -> list[int]:
    """TF 'SAME' padding as explicit ONNX pads [top, left, bottom, right].

    TF puts the odd pixel after (e.g. 0 before, 1 after for a stride-2 3×3 on an even
    size); ONNX's auto_pad=SAME_UPPER agrees, but explicit pads leave no doubt.
    """
    before, after = [], []
    for size, k, s, d in zip(in_hw, kernel_hw, stride_hw, dilation_hw):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


class Converter:
    """Walks one tflite subgraph in order and emits the equivalent NCHW ONNX nodes."""

    def __init__(self, data: bytes):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ValueError("expected a single subgraph")
        self.graph = self.model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: dict[int, str] = {}       # tflite tensor index → ONNX value name
        self.weights: dict[int, np.ndarray] = {}  # tflite tensor index → constant array

    # -- tflite access
    def tensor(self, i: int):
        return self.graph.Tensors(i)

    def shape(self, i: int) -> list[int]:
        return self.tensor(i).ShapeAsNumpy().tolist()

    def constant(self, i: int) -> np.ndarray:
        """A constant tensor: a DEQUANTIZE'd fp16 weight or a raw buffer."""
        if i in self.weights:
            return self.weights[i]
        t = self.tensor(i)
        dtype = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
                 tflite.TensorType.INT32: np.int32}[t.Type()]
        raw = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(raw, int):  # the tflite package returns 0 for an empty buffer
            raise ValueError(f"tensor {t.Name()} has no data")
        return np.frombuffer(raw.tobytes(), dtype).reshape(self.shape(i))

    # -- ONNX emission
    def name_of(self, i: int) -> str:
        return self.names[i]

    def emit(self, op_type: str, inputs: list[str], out_index: int, **attrs) -> str:
        """Add a node whose output stands for tflite tensor ``out_index``."""
        out = f"t{out_index}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type}_{out_index}", **attrs))
        self.names[out_index] = out
        return out

    def weight(self, name: str, array: np.ndarray) -> str:
        """fp16 initializer + Cast to float32 (the original weights are fp16: lossless)."""
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array.astype(np.float16)), name + "_fp16"))
        self.nodes.append(helper.make_node("Cast", [name + "_fp16"], [name], name=f"Cast_{name}",
                                           to=TensorProto.FLOAT))
        return name

    def activation(self, code: int, out_index: int) -> None:
        """Fused activation of CONV/ADD/MUL: rewire the tensor through an extra node."""
        if code == tflite.ActivationFunctionType.NONE:
            return
        x = self.names[out_index]
        op = {tflite.ActivationFunctionType.RELU: ("Relu", {}),
              tflite.ActivationFunctionType.RELU6: ("Clip", None)}.get(code)
        if op is None:
            raise NotImplementedError(f"fused activation {code}")
        out = f"t{out_index}_act"
        if op[0] == "Clip":
            lo = self.weight(f"t{out_index}_lo", np.array(0, np.float32))
            hi = self.weight(f"t{out_index}_hi", np.array(6, np.float32))
            self.nodes.append(helper.make_node("Clip", [x, lo, hi], [out], name=f"Clip_{out_index}"))
        else:
            self.nodes.append(helper.make_node("Relu", [x], [out], name=f"Relu_{out_index}_fused"))
        self.names[out_index] = out

    # -- op handlers: each gets (op, inputs, outputs) with tflite tensor indices
    def op_DEQUANTIZE(self, op, ins, outs):
        # fp16 weights become constants; the consumer stores them as fp16 + Cast.
        self.weights[outs[0]] = self.constant(ins[0])

    def _conv(self, op, ins, outs, opts, depthwise: bool):
        x_shape, w = self.shape(ins[0]), self.constant(ins[1])  # w: OHWI, depthwise 1HW(C*m)
        k_hw, stride = w.shape[1:3], (opts.StrideH(), opts.StrideW())
        dil = (opts.DilationHFactor(), opts.DilationWFactor())
        if opts.Padding() == tflite.Padding.SAME:
            pads = same_pads(x_shape[1:3], k_hw, stride, dil)
        else:
            pads = [0, 0, 0, 0]
        w_onnx = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)  # → OIHW
        group = x_shape[3] if depthwise else 1
        inputs = [self.name_of(ins[0]), self.weight(f"w{outs[0]}", w_onnx)]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.weight(f"b{outs[0]}", self.constant(ins[2])))
        self.emit("Conv", inputs, outs[0], kernel_shape=list(k_hw), strides=list(stride),
                  dilations=list(dil), pads=pads, group=group)
        self.activation(opts.FusedActivationFunction(), outs[0])

    def op_CONV_2D(self, op, ins, outs):
        opts = tflite.Conv2DOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        self._conv(op, ins, outs, opts, depthwise=False)

    def op_DEPTHWISE_CONV_2D(self, op, ins, outs):
        opts = tflite.DepthwiseConv2DOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        if opts.DepthMultiplier() != 1:
            raise NotImplementedError("depth multiplier != 1")
        self._conv(op, ins, outs, opts, depthwise=True)

    def op_Convolution2DTransposeBias(self, op, ins, outs):
        # MediaPipe custom op: TfLiteTransposeConvParams as 3 int32 (padding, stride_w,
        # stride_h); weights OHWI, bias added. With kernel == stride and SAME padding the
        # output is exactly stride × input, which is ONNX ConvTranspose with no pads.
        padding, stride_w, stride_h = struct.unpack("<3i", op.CustomOptionsAsNumpy().tobytes()[:12])
        w = self.constant(ins[1])  # [O, kH, kW, I]
        k_hw = list(w.shape[1:3])
        if padding != 1 or k_hw != [stride_h, stride_w]:  # 1 = kTfLitePaddingSame
            raise NotImplementedError("transpose conv other than SAME with kernel == stride")
        inputs = [self.name_of(ins[0]), self.weight(f"w{outs[0]}", w.transpose(3, 0, 1, 2)),  # → IOHW
                  self.weight(f"b{outs[0]}", self.constant(ins[2]))]
        self.emit("ConvTranspose", inputs, outs[0], kernel_shape=k_hw, strides=[stride_h, stride_w],
                  pads=[0, 0, 0, 0])

    def _unary(self, onnx_op):
        return lambda op, ins, outs: self.emit(onnx_op, [self.name_of(ins[0])], outs[0])

    def _binary(self, onnx_op, options_cls):
        def handler(op, ins, outs):
            # Both operands are NCHW activations here (SE-block scales are [1,C,1,1]),
            # so NumPy-style broadcasting works exactly as in NHWC.
            if any(i not in self.names for i in ins):
                raise NotImplementedError(f"{onnx_op} with a constant operand")
            self.emit(onnx_op, [self.name_of(i) for i in ins], outs[0])
            opts = options_cls()
            opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            self.activation(opts.FusedActivationFunction(), outs[0])
        return handler

    def op_AVERAGE_POOL_2D(self, op, ins, outs):
        opts = tflite.Pool2DOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        in_hw, k_hw = self.shape(ins[0])[1:3], [opts.FilterHeight(), opts.FilterWidth()]
        if k_hw == in_hw and opts.Padding() == tflite.Padding.VALID:
            self.emit("GlobalAveragePool", [self.name_of(ins[0])], outs[0])  # SE-block squeeze
        else:
            stride = [opts.StrideH(), opts.StrideW()]
            pads = same_pads(in_hw, k_hw, stride) if opts.Padding() == tflite.Padding.SAME else [0] * 4
            # TF does not count padded pixels in the average.
            self.emit("AveragePool", [self.name_of(ins[0])], outs[0], kernel_shape=k_hw,
                      strides=stride, pads=pads, count_include_pad=0)
        self.activation(opts.FusedActivationFunction(), outs[0])

    def op_MEAN(self, op, ins, outs):
        opts = tflite.ReducerOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        axes = sorted(NHWC_TO_NCHW_AXIS[int(a) % 4] for a in self.constant(ins[1]).ravel())
        if axes == [2, 3] and opts.KeepDims():
            self.emit("GlobalAveragePool", [self.name_of(ins[0])], outs[0])  # same as pooling
        else:
            self.emit("ReduceMean", [self.name_of(ins[0])], outs[0], axes=axes,
                      keepdims=int(opts.KeepDims()))

    def op_RESIZE_BILINEAR(self, op, ins, outs):
        opts = tflite.ResizeBilinearOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        if opts.AlignCorners() or not opts.HalfPixelCenters():
            raise NotImplementedError("only half_pixel_centers bilinear resize is supported")
        n, _, _, c = self.shape(ins[0])
        h, w = (int(v) for v in self.constant(ins[1]))
        sizes = f"t{outs[0]}_sizes"
        self.inits.append(numpy_helper.from_array(np.array([n, c, h, w], np.int64), sizes))
        # TF half_pixel_centers == ONNX "half_pixel" (source = (dst + 0.5) / scale - 0.5).
        self.emit("Resize", [self.name_of(ins[0]), "", "", sizes], outs[0], mode="linear",
                  coordinate_transformation_mode="half_pixel")

    # -- driver
    def convert(self, graph_name: str, doc: str) -> onnx.ModelProto:
        handlers = {
            "RELU": self._unary("Relu"), "HARD_SWISH": self._unary("HardSwish"),
            "LOGISTIC": self._unary("Sigmoid"),
            "ADD": self._binary("Add", tflite.AddOptions), "MUL": self._binary("Mul", tflite.MulOptions),
        }
        g = self.graph
        (in_idx,), (out_idx,) = g.InputsAsNumpy().tolist(), g.OutputsAsNumpy().tolist()
        n, h, w, c = self.shape(in_idx)
        self.names[in_idx] = "input"
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            custom = code.CustomCode()
            name = custom.decode() if custom else BUILTIN_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            handler = handlers.get(name) or getattr(self, f"op_{name}", None)
            if handler is None:
                raise NotImplementedError(f"tflite op {name}")
            handler(op, op.InputsAsNumpy().tolist(), op.OutputsAsNumpy().tolist())
        # Rename the final tensor to "output" (the landscape one is "segment_back" in
        # tflite, but it is the person probability like the general model's).
        last = self.names[out_idx]
        for node in self.nodes:
            node.output[:] = ["output" if o == last else o for o in node.output]
        _, oh, ow, oc = self.shape(out_idx)
        graph = helper.make_graph(
            self.nodes, graph_name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, c, h, w])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, [n, oc, oh, ow])],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name=PRODUCER, producer_version=PRODUCER_VERSION,
                                  doc_string=doc)
        model.ir_version = IR_VERSION
        return model


def build(wheel: Path) -> dict[str, bytes]:
    """ONNX file name → serialised model, built from the wheel's two tflite files."""
    out = {}
    for onnx_name, (tfl_name, sha) in MODELS.items():
        data = read_tflite(wheel, tfl_name, sha)
        doc = (f"MediaPipe selfie segmentation ({tfl_name} from {MEDIAPIPE}, sha256 {sha}), "
               "Apache-2.0, by Google. Input: RGB float32 [0,1] NCHW, whole frame stretched. "
               "Output: person probability [0,1].")
        model = Converter(data).convert(onnx_name.removesuffix(".onnx"), doc)
        helper.set_model_props(model, {"source": f"{MEDIAPIPE}:{WHEEL_DIR}{tfl_name}",
                                       "source_sha256": sha, "license": "Apache-2.0"})
        onnx.checker.check_model(model, full_check=True)
        out[onnx_name] = model.SerializeToString(deterministic=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, help=f"an already downloaded {MEDIAPIPE} wheel")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models",
                    help="output folder (default: models/)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 unless the files in --out are byte-identical to a rebuild")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        models = build(wheel)
    status = 0
    for name, data in models.items():
        path, digest = args.out / name, hashlib.sha256(data).hexdigest()
        if args.check:
            same = path.is_file() and path.read_bytes() == data
            print(f"{path}: {'OK' if same else 'DIFFERS'} (rebuild sha256 {digest})")
            status |= not same
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path} ({len(data)} bytes, sha256 {digest})")
    return status


if __name__ == "__main__":
    sys.exit(main())
