"""``python -m matting bench``: time per stage at 720p, 1080p and 4K; ``--soak N``: memory.

Frames are real pictures: the demo clip (scikit-image's public-domain astronaut photo
moving over a generated room) or, with ``--video``, a clip of yours, cover-fitted to each
size and played back and forth so motion is continuous. Per size, after a warm-up (which
also makes sure every numba kernel is compiled or loaded from its cache), each repetition
runs, interleaved so that machine noise hits all alike:

* the pipeline (``Pipeline.process``; per-stage times from ``Pipeline.timings``),
* the baseline path (``baseline_alpha`` — whole frame stretched to the model, bilinear
  upsample — and the same composite onto the same background),
* a plain numpy copy of the frame (``frame.copy()``), the floor of any per-frame work.

The pipeline and the baseline composite in place into a copy of the frame (made outside
the timing), as the OBS filter does. The pipeline runs with adaptive rate off, so every
frame pays for the model (``--clips`` measures what adaptive rate saves).

Medians with the 25–75 % spread are printed, with the ratios the project's targets are
about; ``--json`` writes every number.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .metrics import frame_static
from ..settings import Settings

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
BENCH_SIZES = ("720p", "1080p", "4k")
STAGES = ("roi", "preprocess", "inference", "postprocess", "refine", "composite", "total")
CLIP_FRAMES = 16  # distinct frames per size, played back and forth
CLIP_RATIO = 0.5  # --clips: adaptive mean ms per frame at most this × off
# Ratios measured in the same run (milliseconds depend on the machine and its load).
TARGETS = {"pipeline_over_baseline": 0.65, "composite_over_copy": 2.0, "4k_over_1080p": 2.5}
# soak: every SOAK_BLOCK frames the size and the settings change (two different cycles,
# so the combinations vary); every other block gets 4-channel (BGRA, as from OBS) frames
SOAK_SIZES = ("720p", "1080p", "480p", "4k")
SOAK_SETTINGS = ({}, {"roi": False}, {"temporal_strength": 0.0}, {"cc_filter": False, "keep_largest": True},
                 {"background": "<image>", "background_fit": "contain"}, {"background": "transparent"},
                 {"background": "blur", "blur_strength": 0.9, "light_wrap": 0.3},
                 {"edge_detail": 0.0, "halo_removal": False},
                 {"background": "#202020", "redetect_interval": 5, "temporal_strength": 0.9})
SOAK_BLOCK = 300
SOAK_SAMPLE = 50  # RSS sampled every this many frames (for the highest value)


# ---- the machine ---------------------------------------------------------------------------
def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(provider: str = "", threads: int | None = None) -> dict:
    """What the numbers were measured on (and how busy it was: the load average)."""
    import numba
    import onnxruntime

    info = {
        "cpu": _cpu_name(), "cores": os.cpu_count(), "os": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__,
        "numba": numba.__version__, "onnxruntime": onnxruntime.__version__, "provider": provider,
        "ort_threads": threads, "numba_threads": numba.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    load = f", load avg {info['load_avg'][0]:.2f}" if info["load_avg"] else ""
    info["summary"] = (f"{info['cpu']}, {info['cores']} cores, {platform.system()}, Python {info['python']}, "
                       f"onnxruntime {info['onnxruntime']} {provider or ''} ({threads} intra-op threads), "
                       f"numba {info['numba']} ({info['numba_threads']} threads), OpenCV {info['opencv']} "
                       f"({info['opencv_threads']} threads){load}")
    return info


def rss_bytes() -> int | None:
    """Resident memory of this process now."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        return None


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process so far."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except ImportError:
        try:
            import psutil

            return getattr(psutil.Process().memory_info(), "peak_wset", None)
        except ImportError:
            return None


def _mb(v: int | None) -> float | None:
    return None if v is None else v / 2 ** 20


# ---- numba ---------------------------------------------------------------------------------
def numba_kernels() -> dict:
    """The library's numba kernels (name → dispatcher), with the builds that release the
    GIL (``name.nogil``, :mod:`matting.gil`)."""
    from numba.core.registry import CPUDispatcher

    from .. import adaptive, composite, postprocess, refine, resize, roi

    out = {}
    for m in (adaptive, composite, postprocess, refine, resize, roi):
        for n, o in vars(m).items():
            if isinstance(o, CPUDispatcher):
                out[f"{m.__name__.split('.')[-1]}.{n}"] = o
                if isinstance(getattr(o, "nogil", None), CPUDispatcher):
                    out[f"{m.__name__.split('.')[-1]}.{n}.nogil"] = o.nogil
    return out


def kernel_report() -> dict:
    """Per kernel: compiled signatures, and how many came from the on-disk cache."""
    out = {}
    for name, d in numba_kernels().items():
        stats = d.stats
        out[name] = {"signatures": len(d.signatures), "cache_hits": sum(stats.cache_hits.values()),
                     "cache_misses": sum(stats.cache_misses.values()),
                     "cached": bool(getattr(d, "_cache", None) is not None and type(d._cache).__name__ != "NullCache")}
    return out


# ---- frames --------------------------------------------------------------------------------
def source_frames(video: str | None, n: int = CLIP_FRAMES) -> list[np.ndarray]:
    """``n`` consecutive real frames: from ``video``, or the demo clip at 1280×720."""
    if video is None:
        from .. import demo

        return demo.clip(90)[:n]
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    if not frames:
        raise InputError(f"cannot read frames from {video}")
    return frames


def fit_frames(frames: list[np.ndarray], size: str, channels: int = 3) -> list[np.ndarray]:
    """The frames cover-fitted to a named size (crop to the aspect ratio, then scale)."""
    from ..background import fit_image

    w, h = SIZES[size]
    out = [fit_image(f, w, h, "cover") if f.shape[:2] != (h, w) else f.copy() for f in frames]
    return [cv2.cvtColor(f, cv2.COLOR_BGR2BGRA) for f in out] if channels == 4 else out


def ping_pong(n: int) -> list[int]:
    """0, 1, …, n-1, n-2, …, 1: a loop without jumps."""
    return list(range(n)) + list(range(n - 2, 0, -1))


def stats(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"median": float(np.median(v)), "p25": float(np.percentile(v, 25)), "p75": float(np.percentile(v, 75)),
            "p90": float(np.percentile(v, 90)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


# ---- timing --------------------------------------------------------------------------------
def time_size(pipeline, frames: list[np.ndarray], reps: int, warmup: int) -> dict[str, dict]:
    """Interleaved timings at one size: pipeline stages, baseline path, frame copy."""
    from ..composite import composite
    from ..pipeline import baseline_alpha

    order = ping_pong(len(frames))
    h, w, c = frames[0].shape
    background, seg = pipeline.background, pipeline.segmenter

    def baseline_path(f):  # the same background and composite (in place) as the pipeline's
        return composite(f, baseline_alpha(f, seg), background.frame(h, w, c, "BGR", f), f,
                         uniform=background.uniform)

    pipeline.reset()
    for i in range(warmup):
        f = frames[order[i % len(order)]]
        g = f.copy()
        pipeline.process(g, out=g)
        g = f.copy()
        baseline_path(g)
    kernels_before = {k: v["signatures"] for k, v in kernel_report().items()}
    times: dict[str, list[float]] = {k: [] for k in (*STAGES, "baseline", "copy")}
    clock = time.perf_counter
    for i in range(reps):
        f = frames[order[(warmup + i) % len(order)]]
        g = f.copy()  # both composite in place, as in OBS: on a copy, the clip stays intact
        pipeline.process(g, out=g)
        for k in STAGES:
            times[k].append(pipeline.timings[k])
        g = f.copy()
        t0 = clock()
        baseline_path(g)
        t1 = clock()
        f.copy()
        t2 = clock()
        times["baseline"].append(1e3 * (t1 - t0))
        times["copy"].append(1e3 * (t2 - t1))
    compiled_during = sorted(k for k, v in kernel_report().items() if v["signatures"] != kernels_before[k])
    out = {k: stats(v) for k, v in times.items()}
    out["_compiled_during_timing"] = compiled_during
    return out


def run_bench(base: Settings, sizes=BENCH_SIZES, reps: int = 200, warmup: int = 30,
              video: str | None = None, n_frames: int = CLIP_FRAMES) -> dict:
    """The timing benchmark; returns the report (see ``--json``)."""
    from ..pipeline import Pipeline

    t_start = time.perf_counter()
    rss0 = rss_bytes()
    src = source_frames(video, n_frames)
    pipeline = Pipeline(base.replace(adaptive_rate="off"))  # the model on every frame
    per_size = {}
    for size in sizes:
        frames = fit_frames(src, size)
        per_size[size] = time_size(pipeline, frames, reps, warmup)
        del frames
    kernels = kernel_report()
    report = {
        "machine": machine_info(pipeline.provider, pipeline.segmenter.threads),
        "settings": asdict(base), "source": video or "demo clip (astronaut over a generated room)",
        "repetitions": reps, "warmup": warmup, "sizes": {s: SIZES[s] for s in sizes}, "stages": per_size,
        "numba_kernels": kernels,
        "numba_compiled_during_timing": sorted({k for s in per_size.values() for k in s["_compiled_during_timing"]}),
        "rss_start_mb": _mb(rss0), "rss_end_mb": _mb(rss_bytes()), "peak_rss_mb": _mb(peak_rss_bytes()),
    }
    for s in per_size.values():
        del s["_compiled_during_timing"]
    med = {s: {k: v["median"] for k, v in per_size[s].items()} for s in sizes}
    for s in sizes:
        report[f"pipeline_{s}_ms"] = med[s]["total"]
        report[f"baseline_{s}_ms"] = med[s]["baseline"]
        report[f"composite_{s}_ms"] = med[s]["composite"]
        report[f"copy_{s}_ms"] = med[s]["copy"]
    ratios = {}
    for s in sizes:
        ratios[f"pipeline_over_baseline_{s}"] = med[s]["total"] / med[s]["baseline"]
        ratios[f"composite_over_copy_{s}"] = med[s]["composite"] / med[s]["copy"]
    if "4k" in sizes and "1080p" in sizes:
        ratios["4k_over_1080p"] = med["4k"]["total"] / med["1080p"]["total"]
    report["ratios"] = ratios
    report["targets"] = _targets(report)
    report["elapsed_s"] = time.perf_counter() - t_start
    return report


def _targets(r: dict) -> list[dict]:
    out = []
    if "pipeline_over_baseline_1080p" in r["ratios"]:
        out.append({"target": f"pipeline ≤ {TARGETS['pipeline_over_baseline']:g}× the baseline path (1080p)",
                    "value": r["ratios"]["pipeline_over_baseline_1080p"], "limit": TARGETS["pipeline_over_baseline"]})
    if "composite_over_copy_1080p" in r["ratios"]:
        out.append({"target": f"composite ≤ {TARGETS['composite_over_copy']:g}× copy of the frame (1080p)",
                    "value": r["ratios"]["composite_over_copy_1080p"], "limit": TARGETS["composite_over_copy"]})
    if "4k_over_1080p" in r["ratios"]:
        out.append({"target": f"4K ≤ {TARGETS['4k_over_1080p']:g}× 1080p (pipeline)",
                    "value": r["ratios"]["4k_over_1080p"], "limit": TARGETS["4k_over_1080p"]})
    for t in out:
        t["met"] = t["value"] <= t["limit"]
    return out


def format_bench(r: dict) -> str:
    sizes = list(r["stages"])
    lines = [f"# matting bench: {r['repetitions']} repetitions per size after {r['warmup']} warm-up frames, "
             f"{r['source']}", "", f"Machine: {r['machine']['summary']}", "",
             "Milliseconds per frame, median [25–75 %]:", "",
             "| stage | " + " | ".join(f"{s} ({SIZES[s][0]}×{SIZES[s][1]})" for s in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    names = {"total": "**whole pipeline**", "baseline": "baseline path (alpha + composite)",
             "copy": "numpy copy of the frame"}
    for k in (*STAGES, "baseline", "copy"):
        cells = []
        for s in sizes:
            v = r["stages"][s][k]
            cells.append(f"{v['median']:.2f} [{v['p25']:.2f}–{v['p75']:.2f}]")
        lines.append(f"| {names.get(k, k)} | " + " | ".join(cells) + " |")
    lines += ["", "| ratio | " + " | ".join(sizes) + " |", "|---|" + "---:|" * len(sizes)]
    for key, label in (("pipeline_over_baseline", "pipeline / baseline"), ("composite_over_copy", "composite / copy")):
        lines.append(f"| {label} | " + " | ".join(f"{r['ratios'][f'{key}_{s}']:.2f}" for s in sizes) + " |")
    if "4k_over_1080p" in r["ratios"]:
        lines.append(f"\n4K / 1080p (whole pipeline): {r['ratios']['4k_over_1080p']:.2f}")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for t in r["targets"]:
        lines.append(f"| {t['target']} | {t['value']:.2f} | {'yes' if t['met'] else '**no**'} |")
    used = {k: v for k, v in r["numba_kernels"].items() if v["signatures"]}
    loaded = sum(1 for v in used.values() if v["cache_hits"])
    lines += ["", f"numba: {len(used)} kernel(s) used, all compiled before timing "
                  f"({loaded} loaded from the on-disk cache, {len(used) - loaded} compiled in this run)"
              if not r["numba_compiled_during_timing"] else
              f"numba: WARNING, compiled during timing: {', '.join(r['numba_compiled_during_timing'])}",
              f"memory: RSS {r['rss_start_mb']:.0f} MB at start, {r['rss_end_mb']:.0f} MB at the end, "
              f"peak {r['peak_rss_mb']:.0f} MB (includes the test frames held for every size)",
              f"elapsed: {r['elapsed_s']:.0f} s"]
    return "\n".join(lines)


# ---- clips: adaptive rate ------------------------------------------------------------------
def clip_paths(folder: str | Path) -> list[Path]:
    """The clips in a folder (sorted), or the one clip given."""
    from ..io import VIDEO_SUFFIXES

    path = Path(folder)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"--clips: no such folder or clip: {path}")
    clips = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise InputError(f"--clips: no clips ({', '.join(sorted(VIDEO_SUFFIXES))}) in {path}")
    return clips


def run_clips(base: Settings, folder: str | Path, limit: int | None = None) -> dict:
    """Each clip played once through two pipelines side by side, frame by frame (so machine
    noise hits both alike): adaptive rate off, and on (the base's mode; ``balanced`` if the
    base says off). Per clip: mean ms per frame of each (the pipeline's total, composite
    included), model runs per 100 frames of the adaptive one, and the flicker of both
    (×1e3, as ``eval`` measures it on clips: where the picture did not change).

    Also per clip: the adaptive pipeline's mean ms on the frames where its model ran and
    on those it carried, and ``floor``, the ratio it would reach if a carried frame cost
    nothing and a frame that runs the model cost what the same frame costs with adaptive
    rate off (``off``'s ms summed over the frames where the model ran, over ``off``'s ms
    summed over all frames). The rule "when anything moves, run at once" fixes which
    frames run the model, so no cheaper carried frame can take the ratio below it."""
    from ..pipeline import Pipeline
    from .metrics import SequenceScorer, summarize

    mode = base.adaptive_rate if base.adaptive_rate != "off" else "balanced"
    full = Pipeline(base.replace(adaptive_rate="off"))
    adaptive = Pipeline(base.replace(adaptive_rate=mode))
    adaptive.segmenter = full.segmenter  # one ORT thread pool, as in eval
    t_start = time.perf_counter()
    clips = {}
    for path in clip_paths(folder):
        cap = cv2.VideoCapture(str(path))
        # One untimed frame through both first: a kernel compiled (or loaded from numba's
        # cache) on first use would otherwise count in this clip's mean (it once made a
        # first clip's "off" 22.9 ms a frame against 9.1 on a rerun).
        ok, first = cap.read()
        for p in (full, adaptive):
            if ok:
                p.process(first)
            p.reset()
        cap.release()
        cap = cv2.VideoCapture(str(path))  # from the first frame again
        ms = {"full": [], "adaptive": []}
        ran = []  # per frame: did the adaptive pipeline run its model
        scorers = {"full": SequenceScorer(True, {}), "adaptive": SequenceScorer(True, {})}
        prev, n = None, 0
        while limit is None or n < limit:
            ok, frame = cap.read()
            if not ok:
                break
            static = None if prev is None else frame_static(frame, prev)
            for name, p in (("full", full), ("adaptive", adaptive)):
                runs = p.model_runs
                _, alpha = p.process(frame)
                if p is adaptive:
                    ran.append(p.model_runs > runs)
                ms[name].append(p.timings["total"])
                scorers[name].add(alpha, frame=frame, static=static)  # static computed once for both
            prev, n = frame, n + 1
        cap.release()
        if n == 0:
            raise InputError(f"cannot read frames from {path}")
        flick = {k: summarize(v.rows).get("flicker", math.nan) for k, v in scorers.items()}
        clips[path.stem] = {
            "frames": n, "size": [int(prev.shape[1]), int(prev.shape[0])],
            "ms_full": float(np.mean(ms["full"])), "ms_adaptive": float(np.mean(ms["adaptive"])),
            "model_runs_per_100": 100.0 * sum(ran) / n,
            "flicker_full": flick["full"], "flicker_adaptive": flick["adaptive"],
            "ms_full_median": float(np.median(ms["full"])), "ms_adaptive_median": float(np.median(ms["adaptive"])),
        }
        ran_, full_ms, adaptive_ms = np.array(ran), np.array(ms["full"]), np.array(ms["adaptive"])
        clips[path.stem].update({
            "ms_adaptive_run": float(adaptive_ms[ran_].mean()) if ran_.any() else math.nan,
            "ms_adaptive_carried": float(adaptive_ms[~ran_].mean()) if (~ran_).any() else math.nan,
            "floor": float(full_ms[ran_].sum() / full_ms.sum()),
        })
        c = clips[path.stem]
        c["ratio"] = c["ms_adaptive"] / c["ms_full"]
    return {"machine": machine_info(full.provider, full.segmenter.threads), "settings": asdict(base),
            "mode": mode, "folder": str(folder), "limit": limit, "clips": clips,
            "targets": [{"clip": k, "ratio": v["ratio"], "flicker_full": v["flicker_full"],
                         "flicker_adaptive": v["flicker_adaptive"],
                         "met": v["ratio"] <= CLIP_RATIO and not v["flicker_adaptive"] > v["flicker_full"]}
                        for k, v in clips.items()],
            "elapsed_s": time.perf_counter() - t_start}


def format_clips(r: dict) -> str:
    lines = [f"# matting bench --clips {r['folder']}: adaptive rate off vs {r['mode']}, "
             f"{r['elapsed_s']:.0f} s", "", f"Machine: {r['machine']['summary']}", "",
             "| clip | frames | size | ms/frame off | ms/frame adaptive | ratio | model runs /100 | "
             "ms run / carried | floor | flicker off | flicker adaptive | met |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for (name, c), t in zip(r["clips"].items(), r["targets"]):
        lines.append(f"| {name} | {c['frames']} | {c['size'][0]}×{c['size'][1]} | {c['ms_full']:.2f} | "
                     f"{c['ms_adaptive']:.2f} | {c['ratio']:.2f} | {c['model_runs_per_100']:.0f} | "
                     f"{c['ms_adaptive_run']:.2f} / {c['ms_adaptive_carried']:.2f} | {c['floor']:.2f} | "
                     f"{c['flicker_full']:.2f} | {c['flicker_adaptive']:.2f} | {'yes' if t['met'] else '**no**'} |")
    lines += ["", f"Target per clip: mean ms/frame adaptive ≤ {CLIP_RATIO:g}× off, flicker (×1e3, where the picture "
                  "did not change) not higher.",
              "ms run / carried: the adaptive pipeline's mean on the frames where its model ran / where it "
              "carried the matte. floor: the ratio if carried frames cost nothing and the frames that run the "
              "model cost what they cost with adaptive rate off."]
    return "\n".join(lines)


# ---- soak ----------------------------------------------------------------------------------
def run_soak(base: Settings, n: int, video: str | None = None, block: int = SOAK_BLOCK,
             max_growth_mb: float = 20.0, progress=None, n_frames: int = 8) -> dict:
    """``n`` frames through one pipeline, changing size, settings and channel count every
    ``block`` frames; resident memory sampled along the way.

    What a block holds (its test frames, the background and buffers at its size) makes
    RSS swing by hundreds of MB between a 480p and a 4K block, so growth is measured like
    for like: after each block its frames are dropped and one reference frame (480p,
    default settings) is processed, which puts the pipeline's buffers back at one size,
    and RSS is read then. Growth is the last of these readings minus the first one after a
    warm-up cycle (every size and every settings variant seen once); it must stay under
    ``max_growth_mb``. The trend (least squares over the same readings) is reported too.
    """
    import gc

    from .. import demo
    from ..io import write_image
    from ..pipeline import Pipeline

    src = source_frames(video, n_frames)
    reference = fit_frames(src[:1], "480p")[0]
    with tempfile.TemporaryDirectory() as tmp:
        bg_path = str(Path(tmp) / "background.png")
        write_image(Path(bg_path), demo.backdrop())
        variants = [{k: (bg_path if v == "<image>" else v) for k, v in s.items()} for s in SOAK_SETTINGS]
        pipeline = Pipeline(base)
        rss_start = rss_bytes()
        warm_blocks = max(len(SOAK_SIZES), len(variants))
        samples, block_ends = [], []  # (frame, rss) every SOAK_SAMPLE frames; at block ends
        slowest, slowest_steady = (0.0, -1, ""), (0.0, -1, "")
        t_start = time.perf_counter()
        i = k = 0
        while i < n:
            size, changes, channels = SOAK_SIZES[k % len(SOAK_SIZES)], variants[k % len(variants)], 4 if k % 2 else 3
            pipeline.configure(base.replace(**changes))
            frames = fit_frames(src, size, channels)
            order = ping_pong(len(frames))
            label = f"{size} {'BGRA' if channels == 4 else 'BGR'} {SOAK_SETTINGS[k % len(variants)] or 'defaults'}"
            for j in range(min(block, n - i)):
                pipeline.process(frames[order[j % len(order)]])
                ms = pipeline.timings["total"]
                if ms > slowest[0]:
                    slowest = (ms, i, label)
                if j > 0 and ms > slowest_steady[0]:
                    slowest_steady = (ms, i, label)
                i += 1
                if i % SOAK_SAMPLE == 0:
                    samples.append((i, rss_bytes()))
                if progress:
                    progress.update(1)
            del frames
            pipeline.configure(base)
            pipeline.process(reference)
            gc.collect()
            block_ends.append((i, rss_bytes()))
            k += 1
        elapsed = time.perf_counter() - t_start
    rss_end = rss_bytes()
    steady = [(x, r) for b, (x, r) in enumerate(block_ends) if b + 1 >= warm_blocks and r is not None]
    growth = slope = None
    if len(steady) >= 2:
        growth = _mb(steady[-1][1] - steady[0][1])
    if len(steady) >= 3:
        slope = float(np.polyfit([x for x, _ in steady], [_mb(r) for _, r in steady], 1)[0] * 1000)
    return {
        "frames": n, "block": block, "sizes": list(SOAK_SIZES), "settings_cycle": [dict(s) for s in SOAK_SETTINGS],
        "elapsed_s": elapsed, "machine": machine_info(pipeline.provider, pipeline.segmenter.threads),
        "rss_start_mb": _mb(rss_start), "rss_end_mb": _mb(rss_end),
        "rss_max_mb": _mb(max((y for _, y in samples if y), default=rss_end)), "peak_rss_mb": _mb(peak_rss_bytes()),
        "warmup_blocks": warm_blocks, "rss_after_warmup_mb": _mb(steady[0][1]) if steady else None,
        "rss_after_warmup_frame": steady[0][0] if steady else None,
        "rss_last_block_mb": _mb(steady[-1][1]) if steady else None,
        "growth_mb": growth, "slope_mb_per_1000_frames": slope,
        "max_growth_mb": max_growth_mb, "flat": growth is not None and growth <= max_growth_mb,
        "slowest_frame_ms": slowest[0], "slowest_frame_index": slowest[1], "slowest_frame_config": slowest[2],
        "slowest_steady_frame_ms": slowest_steady[0], "slowest_steady_frame_index": slowest_steady[1],
        "slowest_steady_frame_config": slowest_steady[2],
        "rss_samples_mb": [(x, _mb(y)) for x, y in samples],
        "rss_block_ends_mb": [(x, _mb(r)) for x, r in block_ends],
    }


def format_soak(r: dict) -> str:
    fmt = lambda v: "n/a" if v is None else f"{v:.1f}"  # noqa: E731
    lines = [
        f"# matting bench --soak {r['frames']}: size, settings and channels changed every {r['block']} frames "
        f"({', '.join(r['sizes'])}; {len(r['settings_cycle'])} settings variants; BGR and BGRA), "
        f"{r['elapsed_s']:.0f} s",
        "", f"Machine: {r['machine']['summary']}", "",
        f"Resident memory (RSS): {fmt(r['rss_start_mb'])} MB at the start (pipeline loaded), "
        f"{fmt(r['rss_end_mb'])} MB at the end, highest sample {fmt(r['rss_max_mb'])} MB "
        f"(sampled every {SOAK_SAMPLE} frames; 4K blocks hold their 4K test frames).", "",
        "Like for like, after each block and one reference frame (480p, default settings):", "",
        "| resident memory (RSS) | MB |", "|---|---:|",
        f"| after the warm-up cycle ({r['warmup_blocks']} blocks, frame {r['rss_after_warmup_frame']}) "
        f"| {fmt(r['rss_after_warmup_mb'])} |",
        f"| after the last block (frame {r['frames']}) | {fmt(r['rss_last_block_mb'])} |",
        f"| growth | {fmt(r['growth_mb'])} |",
        f"| trend, MB per 1000 frames | {fmt(r['slope_mb_per_1000_frames'])} |",
        "",
        f"memory flat (growth ≤ {r['max_growth_mb']:g} MB): "
        + ("n/a (too few blocks: more frames or a smaller --soak-block)" if r["growth_mb"] is None
           else ("yes" if r["flat"] else "**no**")),
        f"slowest frame: {r['slowest_frame_ms']:.1f} ms (frame {r['slowest_frame_index']}, {r['slowest_frame_config']})",
        f"slowest frame not right after a change: {r['slowest_steady_frame_ms']:.1f} ms "
        f"(frame {r['slowest_steady_frame_index']}, {r['slowest_steady_frame_config']})",
    ]
    return "\n".join(lines)


# ---- command line --------------------------------------------------------------------------
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="time each stage at 720p/1080p/4K against the baseline and a frame copy; --soak for memory",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200, metavar="N", help="timed repetitions per size (default 200)")
    parser.add_argument("--warmup", type=int, default=30, metavar="N", help="untimed frames first (default 30)")
    parser.add_argument("--sizes", default=",".join(BENCH_SIZES),
                        help=f"comma-separated, of {', '.join(SIZES)} (default: {','.join(BENCH_SIZES)})")
    parser.add_argument("--video", metavar="PATH", help="take the frames from this clip (default: the demo clip)")
    parser.add_argument("--frames", type=int, default=CLIP_FRAMES, metavar="N",
                        help=f"distinct frames per size, played back and forth (default {CLIP_FRAMES}; "
                             "the soak uses at most 8)")
    parser.add_argument("--json", metavar="PATH", help="write the numbers here")
    parser.add_argument("--soak", type=int, nargs="?", const=10000, default=None, metavar="N",
                        help="instead: run N frames (default 10000) changing size and settings, report memory")
    parser.add_argument("--soak-block", type=int, default=SOAK_BLOCK, metavar="N",
                        help=f"frames between changes in the soak (default {SOAK_BLOCK})")
    parser.add_argument("--max-growth-mb", type=float, default=20.0,
                        help="soak: RSS growth after the first cycle that still counts as flat (default 20)")
    parser.add_argument("--clips", metavar="DIR",
                        help="instead: play each clip in DIR with adaptive rate off and on; ms/frame, model runs, flicker")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="--clips: first N frames of each clip")
    parser.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    from ..cli import add_settings_arguments

    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import settings_from_args

    base = settings_from_args(args)
    if args.clips is not None:
        if args.limit is not None and args.limit < 2:
            raise InputError("--limit must be at least 2")
        report = run_clips(base, args.clips, args.limit)
        print(format_clips(report))
        ok = all(t["met"] for t in report["targets"])
    elif args.soak is not None:
        if args.soak < 1 or args.soak_block < 1:
            raise InputError("--soak and --soak-block must be at least 1")
        progress = None
        try:
            from tqdm import tqdm

            progress = tqdm(total=args.soak, unit="frame", file=sys.stderr, desc="soak")
        except ImportError:
            pass
        try:
            report = run_soak(base, args.soak, args.video, args.soak_block, args.max_growth_mb, progress,
                              min(8, args.frames))
        finally:
            if progress:
                progress.close()
        print(format_soak(report))
        ok = report["flat"]
    else:
        sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
        bad = [s for s in sizes if s not in SIZES]
        if bad or not sizes:
            raise InputError(f"unknown size(s) {', '.join(bad) or '(none)'}; known: {', '.join(SIZES)}")
        if args.reps < 1 or args.warmup < 0 or args.frames < 1:
            raise InputError("--reps and --frames must be at least 1, --warmup at least 0")
        report = run_bench(base, sizes, args.reps, args.warmup, args.video, args.frames)
        print(format_bench(report))
        ok = all(t["met"] for t in report["targets"]) and not report["numba_compiled_during_timing"]
    report["command"] = "python -m matting " + " ".join(sys.argv[1:])
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json_safe(report), indent=1, ensure_ascii=False))
        print(f"JSON: {path}")
    return 1 if args.check and not ok else 0


def json_safe(v):
    """JSON-safe: NaN/inf → None, numpy scalars → Python, tuples → lists."""
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
