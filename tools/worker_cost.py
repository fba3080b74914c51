"""The OBS worker's pipeline cost per frame, offline: what `tools/obs_bench.py` measures
inside OBS, without OBS's render thread and rasteriser competing for the two cores.

    python3 tools/worker_cost.py [--root CHECKOUT] [--size 1920x1080] [--frames 120]
        [--rounds 4] [--threads 2:2,1:1]

The GPU path at 1080p reads back 960×540 BGRA (``obs_filter.worker._default_grid``)
and asks the pipeline for the matte alone (``fuse=False``), with numba on one thread
(obs_filter/worker.py says why). This plays the demo clip (bench's frames) that way,
adaptive rate off (the model on every frame), and prints per variant the median wall
time a frame and the process's CPU time a frame (all threads: what OBS's CPU % sees).

``--threads`` lists variants ``ORT:OPENCV`` (ONNX Runtime intra-op threads, OpenCV
threads); ``worker`` is what the OBS worker uses now (obs_filter/worker.py). The
variants are run in turn, ``--rounds`` times, so that machine noise hits all alike.
``--root`` times another checkout's ``matting`` (before/after: ``git worktree add
/tmp/old <commit>``, then ``--root /tmp/old``; alternate the runs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="checkout to time")
    ap.add_argument("--size", default="1920x1080", help="OBS canvas WxH (the readback is derived from it)")
    ap.add_argument("--frames", type=int, default=120, help="timed frames per variant and round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", default="worker", help="variants ORT:OPENCV, comma-separated, or 'worker'")
    args = ap.parse_args(argv)
    sys.path.insert(0, args.root)
    import numba

    numba.set_num_threads(1)
    from matting.lab.bench import ping_pong, source_frames
    from matting.pipeline import Pipeline
    from matting.settings import Settings

    from obs_filter import worker  # the readback size and thread counts the OBS worker uses

    variants = []
    for v in args.threads.split(","):
        if v == "worker":
            variants.append((getattr(worker, "MODEL_THREADS", 0), getattr(worker, "OPENCV_THREADS", cv2.getNumThreads())))
        else:
            ort_threads, cv_threads = (int(x) for x in v.split(":"))
            variants.append((ort_threads, cv_threads))
    w, h = (int(v) for v in args.size.lower().split("x"))
    rh, rw = worker._default_grid(h, w)
    frames = [cv2.cvtColor(cv2.resize(cv2.resize(s, (w, h)), (rw, rh), interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2BGRA) for s in source_frames(None)]
    order = ping_pong(len(frames))
    pipes = [Pipeline(Settings(adaptive_rate="off", threads=t, background="transparent")) for t, _ in variants]
    walls = [[] for _ in variants]
    cpus = [[] for _ in variants]
    for r in range(args.rounds):
        for i, ((_, cv_threads), p) in enumerate(zip(variants, pipes)):
            cv2.setNumThreads(cv_threads)
            for j in range(30 if r == 0 else 5):  # warm-up: kernels, caches, the tracker
                p.process(frames[order[j % len(order)]], fuse=False)
            c0 = time.process_time()
            for j in range(args.frames):
                frame = frames[order[j % len(order)]]
                t0 = time.perf_counter()
                p.process(frame, fuse=False)
                walls[i].append(time.perf_counter() - t0)
            cpus[i].append((time.process_time() - c0) / args.frames)
    print(f"matting from {Path(sys.modules['matting'].__file__).parent}; readback {rw}x{rh} BGRA, numba 1 thread, "
          f"fuse=False, adaptive off, {args.rounds} rounds x {args.frames} frames per variant\n")
    print("| ORT threads | OpenCV threads | wall ms a frame, median [25-75 %] | CPU ms a frame, per round |")
    print("|---:|---:|---|---|")
    for (t, c), wl, cp in zip(variants, walls, cpus):
        ms = 1e3 * np.asarray(wl)
        print(f"| {t or 'default'} | {c} | {np.median(ms):.2f} [{np.percentile(ms, 25):.2f}-{np.percentile(ms, 75):.2f}] "
              f"| {', '.join(f'{1e3 * x:.2f}' for x in cp)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
