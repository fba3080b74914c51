"""Two checkouts' pipelines in one process, frame by frame: per-stage times and whether
their mattes and composites are the same.

    git worktree add /tmp/before <commit>
    python3 tools/ab_checkouts.py /tmp/before [--size 1080p] [--frames 400] [--set key=value ...]
    python3 tools/ab_checkouts.py /tmp/before --clip ../shared/data/videos/liveportrait_d12.mp4 \
        --set adaptive_rate=balanced

This checkout's ``matting`` and the other's (imported as a second package, with its own
numba cache) each get a pipeline (adaptive rate off unless ``--set adaptive_rate=…``) and
the bench's frames (the demo clip, cover-fitted, played back and forth; or ``--clip``'s
frames at their own size, in order then back). Every frame goes
through both, in alternating order, and through the baseline path (``bench``'s), so
machine noise falls on all of them alike; a whole ``bench`` run per checkout moves more
than the sub-millisecond differences between two commits on a shared machine.

Prints the median ms of each stage for both, the baseline's, each pipeline's total over
the baseline (the bench's ratio), and on how many frames the mattes and the composites
were bit-identical. With adaptive rate on, also each side's model runs and its mean ms per
stage on the frames that ran the model and on those that carried the matte.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

# numba caches a kernel under the name of its module: the other checkout's, imported as
# another package, must not leave caches there that a plain ``import matting`` of that
# checkout would then fail to load. Both sides cache in a folder of their own instead
# (set before numba is imported).
os.environ["NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "obs-bg-replace-ab-numba")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))


def load_other(root: Path, name: str = "matting_other"):
    """The ``matting`` package of another checkout, imported as ``name``."""
    init = root / "matting" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"no matting package in {root}")
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", type=Path, help="the other checkout (e.g. a git worktree of the commit before)")
    ap.add_argument("--size", default="1080p", choices=("480p", "720p", "1080p", "4k"))
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="settings for both pipelines")
    ap.add_argument("--clip", type=Path, help="play this video's frames (at their size) instead of the demo clip")
    args = ap.parse_args(argv)

    from matting.lab import bench
    from matting.pipeline import STAGES, Pipeline, baseline_alpha
    from matting.composite import composite
    from matting.settings import Settings

    other = load_other(args.other.resolve())
    import importlib

    OtherPipeline = importlib.import_module(f"{other.__name__}.pipeline").Pipeline
    OtherSettings = importlib.import_module(f"{other.__name__}.settings").Settings
    changes = dict(kv.split("=", 1) for kv in args.set)
    changes = {k: _value(v) for k, v in changes.items()}
    changes.setdefault("adaptive_rate", "off")
    sides = {"this": Pipeline(Settings(**changes)), "other": OtherPipeline(OtherSettings(**changes))}
    if args.clip is not None:
        frames = bench.source_frames(args.clip, (args.warmup + args.frames) // 2 + 1)
        label = f"{args.clip.name} ({frames[0].shape[1]}×{frames[0].shape[0]})"
    else:
        frames, label = bench.fit_frames(bench.source_frames(None), args.size), args.size
    order = bench.ping_pong(len(frames))
    h, w, c = frames[0].shape
    this = sides["this"]

    def baseline(g):
        composite(g, baseline_alpha(g, this.segmenter), this.background.frame(h, w, c, "BGR", g), g,
                  uniform=this.background.uniform)

    times = {k: {s: [] for s in (*STAGES,)} for k in sides}
    ran = {k: [] for k in sides}  # per timed frame: did that side run its model
    base, same_matte, same_comp = [], 0, 0
    clock = time.perf_counter
    for i in range(args.warmup + args.frames):
        f = frames[order[i % len(order)]]
        out = {}
        names = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for k in names:
            g = f.copy()
            runs = sides[k].model_runs
            comp, alpha = sides[k].process(g, out=g)
            out[k] = (comp, alpha)
            if i >= args.warmup:
                for s in STAGES:
                    times[k][s].append(sides[k].timings[s])
                ran[k].append(sides[k].model_runs > runs)
        g = f.copy()
        t0 = clock()
        baseline(g)
        t1 = clock()
        if i >= args.warmup:
            base.append(1e3 * (t1 - t0))
            same_matte += bool(np.array_equal(out["this"][1], out["other"][1]))
            same_comp += bool(np.array_equal(out["this"][0], out["other"][0]))
        del out
    med = {k: {s: float(np.median(v)) for s, v in t.items()} for k, t in times.items()}
    b = float(np.median(base))
    print(f"# {label}, {args.frames} frames after {args.warmup} warm-up, alternated; settings {changes or 'default'}")
    print(f"this: {HERE}\nother: {args.other.resolve()}\n")
    print("| stage | other ms | this ms | this − other |\n|---|---:|---:|---:|")
    for s in STAGES:
        print(f"| {s} | {med['other'][s]:.3f} | {med['this'][s]:.3f} | {med['this'][s] - med['other'][s]:+.3f} |")
    print(f"| baseline path | {b:.3f} | | |")
    print(f"\npipeline / baseline: other {med['other']['total'] / b:.3f}, this {med['this']['total'] / b:.3f}")
    print(f"identical mattes on {same_matte} of {args.frames} frames, composites on {same_comp}")
    if changes["adaptive_rate"] != "off":
        print(f"\nmodel runs: other {sum(ran['other'])}, this {sum(ran['this'])} of {args.frames} frames; "
              f"same frames: {ran['other'] == ran['this']}")
        print("\n| stage, mean ms | other, model ran | this, model ran | other, carried | this, carried |\n"
              "|---|---:|---:|---:|---:|")
        for s in STAGES:
            cells = []
            for kind in (True, False):
                for k in ("other", "this"):
                    v = [t for t, r in zip(times[k][s], ran[k]) if r == kind]
                    cells.append(f"{np.mean(v):.3f}" if v else "–")
            print(f"| {s} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
