"""Time the pipeline with and without a known background on one sequence with a plate.

    python3 tools/known_bg_cost.py /tmp/gen2/g00-001-static [--sizes 1280x720,1920x1080]

(``python -m matting generate --out /tmp/gen2`` makes such sequences.) Each size: the
sequence's frames and its ``plate.png`` resized to it, played 4 times through a pipeline
without and one with ``set_background_plate`` (adaptive rate off, so every frame pays),
frame by frame in turn, so that the machine's noise (a shared machine) hits both alike;
prints the median ms per frame after the first pass, the median of the known background's
own share (the refinement stage with the plate minus without; with ``--clock cpu`` the
CPU time the plate adds to a frame) and its status. With
``--best`` each frame's time is its fastest pass after the first (then the median over
the frames): on a machine shared with other work, the passes it did not interrupt.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matting.io import list_images  # noqa: E402
from matting.pipeline import Pipeline  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sequence", help="a folder with images/ and plate.png")
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--best", action="store_true", help="each frame's fastest pass, not every pass")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall-clock time, or the process's CPU time (all its threads): on a machine "
                         "shared with other work, what the frame cost rather than how long it waited")
    args = ap.parse_args(argv)
    seq = Path(args.sequence)
    images = [cv2.imread(str(p)) for p in list_images(seq / "images")]
    plate = cv2.imread(str(seq / "plate.png"))
    if not images or plate is None:
        print(f"{seq}: needs images/ and plate.png", file=sys.stderr)
        return 2
    print("| size | without plate (ms) | with plate (ms) | ratio | known background (ms) | status |\n"
          "|---|---:|---:|---:|---:|---|")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        frames, pl = [cv2.resize(i, (w, h)) for i in images], cv2.resize(plate, (w, h))
        pipes = {False: Pipeline(adaptive_rate="off"), True: Pipeline(adaptive_rate="off")}
        pipes[True].set_background_plate(pl)
        clock = time.perf_counter if args.clock == "wall" else time.process_time
        times = {False: [], True: []}
        refine = {False: [], True: []}
        for _ in range(args.passes):
            for f in frames:
                for known, p in pipes.items():
                    g = f.copy()
                    t = clock()
                    p.process(g, out=g)
                    times[known].append(clock() - t)
                    refine[known].append(p.timings["refine"])
        n = len(frames)

        def per_frame(v):  # passes after the first, one row per pass
            v = np.asarray(v[n:]).reshape(-1, n)
            return v.min(axis=0) if args.best else v.ravel()

        ms = {k: 1e3 * float(np.median(per_frame(v))) for k, v in times.items()}
        if args.clock == "wall":
            stage = float(np.median(per_frame(np.subtract(refine[True], refine[False]))))
        else:  # the stage timings are wall-clock: the plate's share as the CPU time it adds
            stage = 1e3 * float(np.median(per_frame(np.subtract(times[True], times[False]))))
        print(f"| {w}×{h} | {ms[False]:.1f} | {ms[True]:.1f} | {ms[True] / ms[False]:.2f} | {stage:.1f} | "
              f"{pipes[True].known_background_status} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
