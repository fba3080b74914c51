#!/usr/bin/env python3
"""Try ONNX Runtime's offline graph optimisation and static int8 quantisation of a model.

Writes, for the model given (``general``, ``landscape`` or a path), into ``--out``
(default ``out/quant/``):

* ``NAME.opt.onnx``: the graph as ONNX Runtime optimises it (basic level: constant
  folding — the fp16 weights' Casts become fp32 initializers — and node fusions that
  stay portable across machines), saved so the session need not redo it;
* ``NAME.int8.qdq.onnx`` and ``NAME.int8.qop.onnx``: static int8 quantisation (QDQ and
  QOperator formats, int8 weights per channel, uint8 activations) of the optimised
  graph, calibrated on the model inputs the pipeline itself produces on public-domain and
  generated frames: scikit-image's astronaut, the demo clip (the astronaut moving over a
  generated room) and the demo's generated backdrop without anyone in it. Nothing from
  the development data is used for calibration.

Then it times every variant against the original, interleaved, on the same inputs
(ONNX Runtime, the threads the pipeline uses; the original is timed first and again last
in each round, as a control for the order), and prints the medians and how far their
outputs are from the original's. Whether a variant is good enough is for
``python -m matting eval --model out/quant/NAME.….onnx`` to say (IoU on the development
sets); the README's Performance section records both.

Usage::

    python tools/quantize_model.py                       # general model
    python tools/quantize_model.py --model landscape --reps 500
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def calibration_inputs(segmenter, frames: int = 60) -> list[np.ndarray]:
    """Model inputs as the pipeline makes them (whole frame on the first frame, then the
    tracked crop), over the astronaut, the demo clip and the empty generated backdrop."""
    import cv2
    from skimage import data

    from matting import demo
    from matting.pipeline import Pipeline

    captured: list[np.ndarray] = []
    pipeline = Pipeline(adaptive_rate="off", model=str(segmenter.path))
    run = pipeline.segmenter.run

    def spy(tensor):
        captured.append(tensor.copy())
        return run(tensor)

    pipeline.segmenter.run = spy
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    for _ in range(3):
        pipeline.process(astronaut)
    pipeline.reset()
    for frame in demo.clip(frames):
        pipeline.process(frame)
    pipeline.reset()
    pipeline.process(demo.backdrop())
    return captured


class _Reader:
    """onnxruntime.quantization.CalibrationDataReader over a list of tensors."""

    def __init__(self, name: str, tensors: list[np.ndarray]):
        self.name, self.tensors, self.i = name, tensors, 0

    def get_next(self):
        if self.i >= len(self.tensors):
            return None
        self.i += 1
        return {self.name: self.tensors[self.i - 1]}

    def rewind(self):
        self.i = 0


def optimise(src: Path, dst: Path) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])


def quantise(src: Path, dst: Path, tensors: list[np.ndarray], input_name: str, fmt: str) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(str(src), str(dst), _Reader(input_name, tensors),
                    quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)


def session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main(argv=None) -> int:
    from matting.model import Segmenter

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="general", help="general, landscape or an .onnx path")
    parser.add_argument("--out", default="out/quant", help="folder for the variants (default out/quant)")
    parser.add_argument("--frames", type=int, default=60, help="demo clip frames for calibration (default 60)")
    parser.add_argument("--reps", type=int, default=300, help="timed runs per variant (default 300)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    args = parser.parse_args(argv)

    seg = Segmenter(args.model, "cpu", args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = seg.path.stem
    tensors = calibration_inputs(seg, args.frames)
    print(f"calibration: {len(tensors)} model inputs from the astronaut, the demo clip and the empty backdrop")
    variants = {"original": seg.path, "optimised": out / f"{stem}.opt.onnx",
                "int8 QDQ": out / f"{stem}.int8.qdq.onnx", "int8 QOperator": out / f"{stem}.int8.qop.onnx"}
    optimise(seg.path, variants["optimised"])
    quantise(variants["optimised"], variants["int8 QDQ"], tensors, seg.input_name, "qdq")
    quantise(variants["optimised"], variants["int8 QOperator"], tensors, seg.input_name, "qop")

    # The original once more, timed last in each round: a control for the order of timing.
    variants["original (control)"] = seg.path
    sessions = {k: session(p, args.threads) for k, p in variants.items()}
    ref = [sessions["original"].run(None, {seg.input_name: t})[0] for t in tensors]
    times = {k: [] for k in sessions}
    for i in range(args.reps):
        t = tensors[i % len(tensors)]
        for k, s in sessions.items():
            t0 = time.perf_counter()
            s.run(None, {seg.input_name: t})
            times[k].append(1e3 * (time.perf_counter() - t0))
    report = {"model": str(seg.path), "threads": args.threads, "reps": args.reps, "calibration_inputs": len(tensors),
              "variants": {}}
    base = float(np.median(times["original"]))
    print(f"\n| variant | file | KB | median ms ({args.threads} threads) | × original | max |Δp| | mean |Δp| | "
          "agreement at p ≥ 0.5 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for k, p in variants.items():
        outs = [sessions[k].run(None, {seg.input_name: t})[0] for t in tensors]
        d = np.concatenate([np.abs(o - r).ravel() for o, r in zip(outs, ref)])
        agree = np.mean(np.concatenate([((o >= 0.5) == (r >= 0.5)).ravel() for o, r in zip(outs, ref)]))
        med = float(np.median(times[k]))
        report["variants"][k] = {"path": str(p), "kb": p.stat().st_size / 1024, "median_ms": med,
                                 "ratio": med / base, "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
                                 "agreement": float(agree)}
        print(f"| {k} | {p.name} | {p.stat().st_size / 1024:.0f} | {med:.2f} | {med / base:.2f} | {d.max():.3f} | "
              f"{d.mean():.4f} | {agree:.4f} |")
    (out / f"{stem}.quant.json").write_text(json.dumps(report, indent=1))
    print(f"\nJSON: {out / f'{stem}.quant.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
