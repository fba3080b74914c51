"""Median times of single kernels on the arguments of a real 1080p frame (the demo clip).

    python3 tools/stage_timings.py [--root CHECKOUT] [--reps 1000]

The pipeline runs 30 frames of the 1080p demo clip (adaptive rate off); the arguments of
the last frame's calls are captured and each kernel is timed alone on them:

  label_components   the connected components of the model's output (>= threshold)
  preprocess         the model's input tensor from the person's crop (Segmenter.preprocess)
  guided_coefficients_color, foreground_means
                     the refinement grid's guided-filter coefficients and blur-fusion
                     colour means (each with its scratch arrays, as in the pipeline)
  flat_cells, apply_guided_color
                     the refinement's constant cells and the full-resolution matte; the
                     latter also with every cell constant (what the walk and fills cost)
  composite, and the same call on simpler mattes, to see what the composite pays for:
                     no halo removal; the matte cut at 128 (no soft band); all 0 inside
                     the box; all 0 and no box; and numpy's copy of the frame

``--root`` times another checkout's ``matting`` (for before/after: ``git worktree add
/tmp/old <commit>``, then ``--root /tmp/old``); it uses only calls that commit 72d7ef8
already had.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def median_ms(fn, reps: int, setup=None) -> float:
    times = []
    for _ in range(reps):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="checkout to time")
    ap.add_argument("--reps", type=int, default=1000)
    args = ap.parse_args(argv)
    sys.path.insert(0, args.root)
    import matting.pipeline as P
    from matting.composite import composite
    from matting.demo import clip
    from matting.postprocess import label_components
    from matting.settings import Settings

    caught = {}

    def spy(name, fn):
        def call(*a, **k):
            caught[name] = ([x.copy() if isinstance(x, np.ndarray) else x for x in a], k)
            return fn(*a, **k)
        return call

    P.composite = spy("composite", P.composite)
    flat_cells, apply_guided_color = P.flat_cells, P.apply_guided_color  # timed unwrapped
    P.flat_cells = spy("flat_cells", P.flat_cells)
    guided, means = P.guided_coefficients_color, P.foreground_means
    P.guided_coefficients_color = spy("guided", guided)
    P.foreground_means = spy("means", means)
    P.apply_guided_color = spy("apply_guided_color", P.apply_guided_color)
    p = P.Pipeline(Settings(adaptive_rate="off"))
    preprocess = p.segmenter.preprocess
    p.segmenter.preprocess = spy("preprocess", preprocess)
    frames = clip(30, 1920, 1080)
    for f in frames:
        g = f.copy()
        p.process(g, out=g)
    seg = p.segmenter
    (crop, order), _ = caught["preprocess"]
    prob = seg.run(preprocess(crop, order))
    mask = prob >= p.settings.threshold
    (image, alpha, bg, _out, box, fg, uniform), _ = caught["composite"]
    src = frames[-1]
    fresh = src.copy
    hard = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    zero = np.zeros_like(alpha)
    (ga, gb, low, high, gband, trust), _ = caught["flat_cells"]
    (gimage, _a, _b, fy, fx, _l, _h, gout, flat, _band, _t), _ = caught["apply_guided_color"]
    g_args, m_args = caught["guided"][0], caught["means"][0]
    constant = np.where(flat < 0, np.int16(128), flat)  # every cell constant: only the fills and the walk
    rows = [
        ("label_components (model output)", median_ms(lambda _: label_components(mask), args.reps)),
        ("preprocess (crop -> tensor)", median_ms(lambda _: preprocess(crop, order), args.reps)),
        ("guided_coefficients_color (refinement grid)", median_ms(lambda _: guided(*g_args), args.reps)),
        ("foreground_means (refinement grid)", median_ms(lambda _: means(*m_args), args.reps)),
        ("flat_cells (refinement grid)", median_ms(lambda _: flat_cells(ga, gb, low, high, gband, trust), args.reps)),
        ("apply_guided_color, as in the pipeline",
         median_ms(lambda _: apply_guided_color(gimage, ga, gb, fy, fx, low, high, gout, flat, gband, trust), args.reps)),
        ("apply_guided_color, every cell constant",
         median_ms(lambda _: apply_guided_color(gimage, ga, gb, fy, fx, low, high, gout, constant, gband, trust),
                   args.reps)),
        ("composite, as in the pipeline", median_ms(lambda g: composite(g, alpha, bg, g, box, fg, uniform), args.reps, fresh)),
        ("composite, no halo removal", median_ms(lambda g: composite(g, alpha, bg, g, box, None, uniform), args.reps, fresh)),
        ("composite, matte cut at 128", median_ms(lambda g: composite(g, hard, bg, g, box, None, uniform), args.reps, fresh)),
        ("composite, matte 0 in the box", median_ms(lambda g: composite(g, zero, bg, g, box, None, uniform), args.reps, fresh)),
        ("composite, matte 0, no box", median_ms(lambda g: composite(g, zero, bg, g, (0, 0, 0, 0), None, uniform),
                                                 args.reps, fresh)),
        ("numpy copy of the frame", median_ms(lambda g: g.copy(), args.reps, fresh)),
    ]
    band = int(((alpha > 0) & (alpha < 255)).sum())
    cells = int((flat < 0).sum())
    print(f"matting from {Path(P.__file__).parent}; crop {crop.shape[1]}x{crop.shape[0]}, model input "
          f"{prob.shape[1]}x{prob.shape[0]}, matte box {box}, soft band {band} px; refinement grid "
          f"{flat.shape[1]}x{flat.shape[0]}, {cells} of its cells not constant\n")
    print("| kernel | median ms |\n|---|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
