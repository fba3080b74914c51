#!/usr/bin/env python3
"""Would shifting a late matte by the motion since its frame cut the lag error?

The OBS filter's "lowest latency" mode draws the newest frame with the newest finished
matte, which belongs to a frame K frames older (``python -m matting eval --lag K``
scores exactly that). This measures, on sequences with ground truth, the K-old matte
drawn as is and shifted by three estimates of the motion between its frame and the
current one:

* ``trend``: the ROI tracker's box velocity (its double-exponential trend) × K: free;
* ``phase``: phase correlation of the two frames (grey, quarter size) over the old
  matte's box: what a filter could compute from the frames it reads back;
* ``oracle``: the shift of the true mask's centroid: the best any global shift of
  this kind could do.

    python3 tools/lag_shift.py ../shared/data/davis ../shared/data/greenscreen --lag 1

Prints mean IoU and MAD (×1e3) per set and estimate, with lag 0 for reference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matting.lab import metrics as M  # noqa: E402
from matting.lab.datasets import discover  # noqa: E402
from matting.pipeline import Pipeline  # noqa: E402
from matting.settings import Settings  # noqa: E402

ESTIMATES = ("lag 0", "no shift", "trend", "phase", "oracle")


def shifted(alpha: np.ndarray, dx: float, dy: float) -> np.ndarray:
    if not dx and not dy:
        return alpha
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(alpha, m, alpha.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask > 0.5)
    return (float(xs.mean()), float(ys.mean())) if xs.size else (0.0, 0.0)


def phase_shift(old_gray, gray, old_alpha) -> tuple[float, float]:
    """Translation from ``old_gray`` to ``gray`` (quarter size) over the old matte's box, in frame pixels."""
    h, w = old_gray.shape
    ys, xs = np.nonzero(cv2.resize(old_alpha, (w, h), interpolation=cv2.INTER_AREA) > 0.25)
    if xs.size == 0:
        return 0.0, 0.0
    y0, y1 = max(0, ys.min() - 8), min(h, ys.max() + 8)
    x0, x1 = max(0, xs.min() - 8), min(w, xs.max() + 8)
    if y1 - y0 < 4 or x1 - x0 < 4:
        return 0.0, 0.0
    window = cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(old_gray[y0:y1, x0:x1], gray[y0:y1, x0:x1], window)
    return 4 * dx, 4 * dy


def run_set(ds, lag: int) -> dict[str, tuple[float, float]]:
    p = Pipeline(Settings().replace(adaptive_rate="off"))  # a matte for every frame
    history, scores = [], {k: ([], []) for k in ESTIMATES}
    for fr in ds.frames():
        _, alpha = p.process(fr.image)
        alpha = M.unit(alpha)
        tr = p.tracker
        vel = ((tr.trend[0] + tr.trend[2]) / 2, (tr.trend[1] + tr.trend[3]) / 2) if tr.forecast is not None else (0, 0)
        small = cv2.resize(fr.image, (fr.image.shape[1] // 4, fr.image.shape[0] // 4), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        truth = M.unit(fr.alpha)
        history.append((alpha, vel, gray, truth))
        if len(history) <= lag:
            continue
        old, old_vel, old_gray, old_truth = history[-1 - lag]
        (cx1, cy1), (cx0, cy0) = centroid(truth), centroid(old_truth)
        shifts = {"no shift": (0.0, 0.0), "trend": (old_vel[0] * lag, old_vel[1] * lag),
                  "phase": phase_shift(old_gray, gray, old), "oracle": (cx1 - cx0, cy1 - cy0)}
        cands = {"lag 0": alpha, **{k: shifted(old, *d) for k, d in shifts.items()}}
        for k, a in cands.items():
            scores[k][0].append(M.iou(a, truth, fr.valid))
            scores[k][1].append(M.mad(a, truth, fr.valid))
        history = history[-lag - 1:]
    return {k: (float(np.mean(i)), float(np.mean(m))) for k, (i, m) in scores.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="+", help="data set folders (sequences with ground truth)")
    ap.add_argument("--lag", type=int, default=1, metavar="K")
    args = ap.parse_args()
    sets = [ds for ds in discover(args.data) if ds.temporal and ds.has_truth]
    if not sets:
        print("no sequences with ground truth found", file=sys.stderr)
        return 2
    print(f"matte {args.lag} frame(s) late; IoU / MAD ×1e3 per estimate of the motion\n")
    print("| set | " + " | ".join(ESTIMATES) + " |")
    print("|---|" + "---:|" * len(ESTIMATES))
    for ds in sets:
        r = run_set(ds, args.lag)
        print(f"| {ds.name} | " + " | ".join(f"{r[k][0]:.3f} / {r[k][1]:.1f}" for k in ESTIMATES) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
