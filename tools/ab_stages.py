"""In-process A/B of one pipeline choice on the 1080p demo clip (bench's frames).

    python3 tools/ab_stages.py resize   # the model's crop: OpenCV INTER_AREA vs resize.area_resize
    python3 tools/ab_stages.py core     # postprocess.CORE_SHARE 0 (off) vs its default
    python3 tools/ab_stages.py uniform  # composite: the solid colour read whole vs from one row

The two variants alternate every two frames in one process (the same machine noise for
both), adaptive rate off; prints the median ms of each stage per variant. A whole
``bench`` run moves more than these sub-millisecond differences on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matting import model as M, postprocess as PP  # noqa: E402
from matting.background import Background  # noqa: E402
from matting.lab import bench  # noqa: E402
from matting.pipeline import STAGES, Pipeline  # noqa: E402
from matting.resize import area_resize  # noqa: E402


def _opencv_area(image, size):
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)[:, :, :3]


_UNIFORM = Background.uniform

CHOICES = {
    "resize": {"opencv": lambda: setattr(M, "area_resize", _opencv_area),
               "area_resize": lambda: setattr(M, "area_resize", area_resize)},
    "core": {"off": lambda: setattr(PP, "CORE_SHARE", 0.0),
             f"CORE_SHARE={PP.CORE_SHARE}": lambda: setattr(PP, "CORE_SHARE", PP.CORE_SHARE)},
    "uniform": {"whole background": lambda: setattr(Background, "uniform", property(lambda self: False)),
                "one row": lambda: setattr(Background, "uniform", _UNIFORM)},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("choice", choices=sorted(CHOICES))
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", default="1080p", choices=sorted(bench.SIZES))
    args = ap.parse_args(argv)
    variants = CHOICES[args.choice]
    frames = bench.fit_frames(bench.source_frames(None), args.size)
    order = bench.ping_pong(len(frames))
    p = Pipeline(adaptive_rate="off")
    for i in range(30):  # warm-up: numba kernels compiled or loaded, tracking settled
        p.process(frames[order[i % len(order)]].copy())
    names = list(variants)
    times = {n: {s: [] for s in STAGES} for n in names}
    for i in range(args.frames):
        name = names[(i // 2) % len(names)]
        variants[name]()
        g = frames[order[i % len(order)]].copy()
        t = time.perf_counter()
        p.process(g, out=g)
        times[name]["total"].append(1e3 * (time.perf_counter() - t))
        for s in STAGES[:-1]:
            times[name][s].append(p.timings[s])
    print(f"| variant | {' | '.join(STAGES)} |\n|---|{'---:|' * len(STAGES)}")
    for n in names:
        print(f"| {n} | " + " | ".join(f"{np.median(times[n][s]):.2f}" for s in STAGES) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
