"""What the OBS GPU path's small readback does to the matte, offline.

    python3 tools/readback_quality.py /tmp/gen1080 [--variants lib,box2,point3] [--json F]

In OBS the worker does not see the full frame: the GPU draws the source straight at a
smaller size (bilinear sampling), the pipeline runs on that, and the shader upsamples the
matte bilinearly over the full frame. This plays each sequence of the given sets through
those steps and scores the upsampled matte against the full-size truth (the eval's
metrics). Variants (how the worker's frame is made from a 1920×1080 frame):

  lib       the library on the full frame (no readback; the reference)
  box2      halved: 960×540, an exact 2×2 box (what bilinear drawing gives at 1/2)
  box2area  halved, then area-shrunk to a third on the CPU (640×360)
  point3    a third by bilinear drawing: pixel (3i+1, 3j+1), i.e. point sampling
  area3     a true 3×3 box average (640×360), as a box-filter pass would give

Used to choose the readback size (obs_filter/worker.py, docs/OBS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matting.lab import evaluate as E  # noqa: E402
from matting.lab.datasets import discover  # noqa: E402
from matting.settings import Settings  # noqa: E402

VARIANTS = ("lib", "box2", "box2area", "point3", "area3")


def small_frame(kind: str, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    if kind == "lib":
        return img
    if kind == "point3":
        return np.ascontiguousarray(img[1::3, 1::3])
    if kind == "area3":
        return cv2.resize(img, (w // 3, h // 3), interpolation=cv2.INTER_AREA)
    half = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # exact at 1/2
    return half if kind == "box2" else cv2.resize(half, (w // 3, h // 3), interpolation=cv2.INTER_AREA)


class ReadbackPredictor(E._PipelinePredictor):
    """The eval's pipeline predictor on the small frame, its matte upsampled back."""

    def __init__(self, kind: str, settings: Settings):
        super().__init__(settings)
        self.kind = kind

    def __call__(self, img: np.ndarray) -> np.ndarray:
        alpha = super().__call__(small_frame(self.kind, img))
        self.composite = None  # at the small size: no edge-colour score
        if alpha.shape != img.shape[:2]:
            alpha = cv2.resize(alpha, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
        return alpha


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="sequence folders (e.g. a `matting generate --size 1920x1080` output)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--json", help="per-set means per variant")
    args = ap.parse_args(argv)
    kinds = args.variants.split(",")
    bad = [k for k in kinds if k not in VARIANTS]
    if bad:
        ap.error(f"unknown variant(s) {', '.join(bad)}; known: {', '.join(VARIANTS)}")
    out = {}
    for ds in discover(args.sets):
        if not (ds.temporal and ds.has_truth):
            continue
        rows, _ = E.evaluate_set(ds, {k: ReadbackPredictor(k, Settings()) for k in kinds})
        out[ds.name] = {k: E.aggregate(r) for k, r in rows.items()}
        print(ds.name, " ".join(f"{k} {v['mad']:.2f}" for k, v in out[ds.name].items()), flush=True)
    if not out:
        print("no sequences with ground truth found", file=sys.stderr)
        return 2
    metrics = ("iou", "mad", "flicker", "grad", "ms")
    print(f"\n{len(out)} sequences, means (ms: mean of the per-set medians)\n")
    print("| variant | " + " | ".join(metrics) + " |")
    print("|---|" + "---:|" * len(metrics))
    for k in kinds:
        print(f"| {k} | " + " | ".join(f"{np.mean([out[s][k][m] for s in out]):.3f}" for m in metrics) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
