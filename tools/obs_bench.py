"""What the filter costs inside a real OBS, by OBS's own numbers.

Starts a headless OBS Studio through the e2e harness (tests/obs/obs_harness.py: Xvfb,
software GL unless the machine has better, an isolated HOME), shows a person source (a
still image, or a clip of a person moving over a room, both generated at run time), and
for each case measures over a fixed time:

* from obs-websocket ``GetStats``: average frame render time (ms), render-skipped frames,
  active fps, OBS CPU %;
* from the filter's own counters (obs_filter/stats.py, written to a folder given by
  ``$OBS_BG_REPLACE_STATS_DIR``): render-thread ms per render (capture, readback, draw),
  renders and readbacks per second, worker ms per frame and fps, and the matte age in
  frames (frame drawn minus frame the matte came from; mean and max).

Cases: ``none`` (no filter), ``sync`` (GPU compositing, picture delayed to its matte),
``passes`` (``sync`` with the worker idle once the delay is chosen: the filter's GPU
passes and readback alone, without inference),
``latency`` (GPU compositing, newest picture with the newest matte), ``cpu`` (CPU
compositing), ``sync_off`` (``sync`` with adaptive rate off: the model on every frame);
for scale, ``stock_colour`` and ``stock_mask`` put OBS's own Color Correction or Image Mask
filter on the source instead.
``--background`` runs each filter case once per background: ``color`` (the default),
``image``, ``blur``, ``video``, ``transparent``, each optionally with ``+halo`` (halo
removal) and ``+wrap`` (light wrap 0.5), e.g. ``--background color,blur,image+halo``
(rows ``sync/blur`` …). ``--cpu-hog N`` keeps N busy processes running beside OBS for the
whole run (each ends by itself after ``--hog-limit`` seconds and is killed at the end).
Usage:

    python3 tools/obs_bench.py --size 1280x720 --fps 30 --seconds 10 --source still \\
        --json out.json

The JSON holds ``{"cases": {"none": {...}, "sync": {...}, ...}}`` with the keys
``obs_render_ms, render_skipped, active_fps, obs_cpu_pct, readback_ms, worker_ms,
worker_fps`` (the filter's matte fps), ``matte_age_mean, matte_age_max``, ``delays_ms``
(every picture delay the filter reported during the case), ``shed_share`` (share of
frames the filter did not read back because it was shedding load) and ``shed_changes``
(and more). Timings are only comparable within one run
on one machine: the table also prints the load average seen.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "obs")]

import obs_harness as oh  # noqa: E402
import person_clip  # noqa: E402

from obs_filter.stats import STATS_DIR_ENV, window  # noqa: E402

CASES = {
    "none": None,
    # Every case names every setting it depends on: the filter's settings are updated in
    # place from case to case, so a setting left out would keep the previous case's value.
    "sync": {"compositing": "gpu", "timing": "sync", "adaptive_rate": "balanced"},
    "sync_off": {"compositing": "gpu", "timing": "sync", "adaptive_rate": "off"},  # the model on every frame
    "latency": {"compositing": "gpu", "timing": "latency", "adaptive_rate": "balanced"},
    "cpu": {"compositing": "cpu", "timing": "sync", "adaptive_rate": "balanced"},
    # "sync" with the worker idle once the delay is chosen: the filter's GPU passes and
    # readback alone (what a software renderer costs OBS without any inference)
    "passes": {"compositing": "gpu", "timing": "sync", "adaptive_rate": "balanced", "bench_worker_paused": True},
}
for _case in CASES.values():
    if _case is not None:
        _case.setdefault("bench_worker_paused", False)
# OBS's own effect filters on the same source, for scale (on a still source they draw it
# directly, OBS_ALLOW_DIRECT_RENDERING; on an async one through a texture, as this filter).
STOCK = {
    "stock_colour": ("color_filter_v2", {"gamma": 0.1}),
    "stock_mask": ("mask_filter_v2", {"type": "mask_alpha_filter.effect"}),  # image_path: the person still
}
CASES.update({k: None for k in STOCK})
SRC, FLT = "photo", "bg"
BLUE = 0xFFFF0000  # OBS colours are 0xAABBGGRR
KEYS = ["obs_render_ms", "render_skipped", "active_fps", "obs_cpu_pct", "capture_ms", "readback_ms", "draw_ms",
        "renders_per_s", "readbacks_per_s", "worker_ms", "worker_fps", "matte_age_mean", "matte_age_max",
        "shed_share", "shed_changes"]
BACKGROUNDS = ("color", "image", "blur", "video", "transparent")
EDGE_OPTIONS = {"halo": {"halo_removal": True}, "wrap": {"light_wrap": 0.5}}


def parse_background(kind: str) -> tuple[str, dict]:
    """'image+halo' → ('image', {"halo_removal": True}); ValueError if unknown."""
    base, *mods = kind.strip().split("+")
    if base not in BACKGROUNDS or any(m not in EDGE_OPTIONS for m in mods):
        raise ValueError(kind)
    extra = {"halo_removal": False, "light_wrap": 0.0}
    for m in mods:
        extra.update(EDGE_OPTIONS[m])
    return base, extra


def background_settings(kind: str, files: dict) -> dict:
    """The filter's settings for a --background kind (every setting it depends on)."""
    base, extra = parse_background(kind)
    out = {"background_type": base, "background_color": BLUE, **extra}
    if base == "image":
        out["background_image"] = str(files["image"])
    elif base == "video":
        out["background_video"] = str(files["video"])
    return out


def make_backgrounds(w: int, h: int, fps: int, folder: Path) -> dict:
    """A background picture (gradient + checker) and a 2-second looping clip of it moving."""
    import cv2
    import numpy as np

    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, ((x // 40 + y // 40) % 2) * 200], axis=2).astype(np.uint8)
    cv2.imwrite(str(folder / "background.png"), img[:, :, ::-1])
    vw = cv2.VideoWriter(str(folder / "background.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for i in range(2 * fps):
        vw.write(np.ascontiguousarray(np.roll(img, 8 * i, axis=1)[:, :, ::-1]))
    vw.release()
    return {"image": folder / "background.png", "video": folder / "background.avi"}


HOG = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


def start_hogs(n: int, limit: float) -> list:
    """N busy processes (a pure-Python spin), each ending by itself after ``limit`` s."""
    return [subprocess.Popen([sys.executable, "-c", HOG.format(limit=float(limit))]) for _ in range(n)]


def stop_hogs(procs: list) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 1280x720 (got {text!r})") from None
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise argparse.ArgumentTypeError("size must be 64..4096 per side")
    return w, h


def read_stats(folder: Path) -> dict | None:
    path = folder / f"{FLT}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def wait_running(folder: Path, path: str, timeout: float) -> None:
    """Until the filter has produced mattes on the wanted compositing path."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        s = read_stats(folder)
        if s and s.get("path") == path:
            frames = s.get("worker_frames", 0)
            if first is None or frames < first:  # (a smaller count: a new filter, a removed one's file before)
                first = frames
            elif frames > first + 2:
                return
        time.sleep(0.25)
    raise RuntimeError(f"the filter did not start working on the {path} path within {timeout:.0f} s")


def measure(obs: oh.Obs, folder: Path | None, seconds: float) -> dict:
    """Sample GetStats twice a second for ``seconds``; the filter's counters around it."""
    a = read_stats(folder) if folder else None
    s0 = obs.ws.get_stats()
    samples = []
    delays, levels = [], []  # the filter's reported picture delay (ms) and shed level, as seen
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        time.sleep(0.5)
        samples.append(obs.ws.get_stats())
        f = read_stats(folder) if folder else None
        if f:
            if f.get("delay_frames") is not None or f.get("path") == "cpu" or f.get("timing") != "sync":
                delays.append(round(f.get("delay_ms", 0.0)))  # (not while the delay is being measured)
            levels.append(f.get("shed_level", 1))
    b = read_stats(folder) if folder else None
    mean = lambda attr: sum(getattr(s, attr) for s in samples) / len(samples)  # noqa: E731
    out = {
        "obs_render_ms": mean("average_frame_render_time"),
        "render_skipped": samples[-1].render_skipped_frames - s0.render_skipped_frames,
        "render_total": samples[-1].render_total_frames - s0.render_total_frames,
        "active_fps": mean("active_fps"),
        "obs_cpu_pct": mean("cpu_usage"),
    }
    nan = float("nan")
    if a and b:
        d = window(a, b)
        dt = max(d["time"], 1e-6)
        renders = max(d.get("renders", 0), 1)
        wf = d.get("worker_frames", 0)
        out.update({
            "capture_ms": d.get("capture_ms", 0) / renders,
            "readback_ms": d.get("readback_ms", 0) / renders,
            "draw_ms": d.get("draw_ms", 0) / renders,
            "render_ms": d.get("render_ms", 0) / renders,
            "map_ms": d.get("map_ms", 0) / renders,
            "stage_ms": d.get("stage_ms", 0) / renders,
            "scale_ms": d.get("scale_ms", 0) / renders,
            "renders_per_s": d.get("renders", 0) / dt,
            "readbacks_per_s": d.get("readbacks", 0) / dt,
            "ticks_per_s": d.get("ticks", 0) / dt,
            "worker_ms": d.get("worker_ms", 0) / wf if wf else nan,
            "worker_fps": wf / dt,
            "matte_age_mean": d["age_mean"],
            "matte_age_max": d["age_max"],
            "sync_delay_ms": b.get("delay_ms", 0.0),
            "delays_ms": sorted(set(delays)),
            "delay_frames": b.get("delay_frames"),
            "shed_levels": sorted(set(levels)),
            "shed_share": d.get("shed", 0) / max(d.get("ticks", 0), 1),
            "shed_changes": d.get("shed_changes", 0),
        })
    else:
        out.update({k: nan for k in KEYS if k not in out})
    return out


def make_source(kind: str, w: int, h: int, fps: int, folder: Path) -> tuple[Path, dict | None]:
    import cv2

    img = folder / "person.png"
    cv2.imwrite(str(img), person_clip.person_image(w, h)[:, :, ::-1])
    if kind == "still":
        return img, None
    clip = person_clip.moving_clip(folder / "person.mp4", w, h, fps, speed=max(2, w // 160))
    return img, oh.media_source(SRC, clip.path)


def run(args) -> dict:
    w, h = args.size
    result = {"size": f"{w}x{h}", "fps": args.fps, "seconds": args.seconds, "source": args.source,
              "cpu_hogs": args.cpu_hog, "backgrounds": args.background, "load_before": os.getloadavg(),
              "cases": {}}
    hogs = []
    with tempfile.TemporaryDirectory(prefix="obs-bench-") as tmp:
        tmp = Path(tmp)
        stats_dir = tmp / "stats"
        stats_dir.mkdir()
        (tmp / "home").mkdir()
        img, source = make_source(args.source, w, h, args.fps, tmp)
        files = make_backgrounds(w, h, args.fps, tmp) if any(k != "color" for k in args.background) else {}
        try:
            with oh.Obs(tmp / "home", img, w, h, args.fps, env={STATS_DIR_ENV: str(stats_dir)},
                        source=source) as obs:
                hogs = start_hogs(args.cpu_hog, args.hog_limit)
                have_filter = False
                for case in args.cases:
                    kinds = args.background if CASES[case] is not None else [None]
                    for kind in kinds:
                        # a case named again is measured again (rows "sync", "sync#2", ...)
                        label = case if kind is None or args.background == ["color"] else f"{case}/{kind}"
                        n = sum(1 for k in result["cases"] if k.split("#")[0] == label)
                        key = label if n == 0 else f"{label}#{n + 1}"
                        have_filter = measure_case(obs, case, kind, files, img, stats_dir, have_filter, key,
                                                   result, args)
                        print(f"  {key}: done", file=sys.stderr, flush=True)
                result["hogs_still_running_at_end"] = sum(p.poll() is None for p in hogs)
                stop_hogs(hogs)
                obs.close()
                log = obs.log_text()
                tracebacks = oh.python_tracebacks(log)
                if args.log:
                    args.log.write_text(log)
        finally:
            stop_hogs(hogs)
    if tracebacks:
        raise RuntimeError("Python traceback in the OBS log:\n" + tracebacks[0])
    result["load_after"] = os.getloadavg()
    return result


def measure_case(obs, case, kind, files, img, stats_dir, have_filter, key, result, args) -> bool:
    """Measure one case (with one background); returns whether the filter is on the source."""
    settings = CASES[case]
    if settings is None and have_filter:  # no filter, or OBS's own: this one goes
        obs.ws.remove_source_filter(SRC, FLT)
        have_filter = False
    if case in STOCK:
        stock_kind, stock = STOCK[case]
        if stock_kind == "mask_filter_v2":
            stock = {**stock, "image_path": str(img)}
        obs.ws.create_source_filter(SRC, case, stock_kind, stock)
        time.sleep(args.warmup)
        result["cases"][key] = measure(obs, None, args.seconds)
        obs.ws.remove_source_filter(SRC, case)
    elif settings is None:
        time.sleep(args.warmup)
        result["cases"][key] = measure(obs, None, args.seconds)
    else:
        full = {**background_settings(kind, files), **settings}
        if have_filter:
            obs.ws.set_source_filter_settings(SRC, FLT, full, True)
        else:
            obs.ws.create_source_filter(SRC, FLT, oh.FILTER_KIND, full)
            have_filter = True
        wait_running(stats_dir, settings["compositing"], 180)
        if settings["compositing"] == "gpu" and settings["timing"] == "sync":
            wait_delay(stats_dir, 120)  # measured from the first mattes, then held
        time.sleep(args.warmup)
        result["cases"][key] = measure(obs, stats_dir, args.seconds)
    return have_filter


def wait_delay(folder: Path, timeout: float) -> None:
    """Until the filter has chosen its synchronised delay (or ``timeout`` s: measured anyway)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = read_stats(folder)
        if s and s.get("delay_frames") is not None:
            return
        time.sleep(0.25)


def table(result: dict) -> str:
    cols = [("obs_render_ms", "OBS render ms", "{:.2f}"), ("render_skipped", "skipped", "{:.0f}"),
            ("active_fps", "fps", "{:.1f}"), ("obs_cpu_pct", "OBS CPU %", "{:.0f}"),
            ("capture_ms", "capture ms", "{:.2f}"), ("readback_ms", "readback ms", "{:.2f}"),
            ("draw_ms", "draw ms", "{:.2f}"), ("renders_per_s", "renders/s", "{:.1f}"),
            ("readbacks_per_s", "readbacks/s", "{:.1f}"), ("worker_ms", "worker ms", "{:.1f}"),
            ("worker_fps", "matte fps", "{:.1f}"), ("matte_age_mean", "age mean", "{:.2f}"),
            ("matte_age_max", "age max", "{:.0f}"), ("delays_ms", "delays ms", None),
            ("shed_share", "shed", "{:.0%}"), ("shed_changes", "shed changes", "{:.0f}")]
    lines = [f"OBS bench: {result['size']} @ {result['fps']} fps, {result['source']} source, "
             f"{result['seconds']} s per case, {result.get('cpu_hogs', 0)} CPU hog(s); "
             f"load average {result['load_before'][0]:.1f} → "
             f"{result.get('load_after', [math.nan])[0]:.1f}",
             "| case | " + " | ".join(c[1] for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for case, r in result["cases"].items():
        cells = []
        for key, _, fmt in cols:
            v = r.get(key, math.nan)
            if isinstance(v, list):
                cells.append(", ".join(str(x) for x in v) or "–")
            else:
                cells.append("–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v))
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=(1280, 720), help="canvas and source size WxH")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring time per case")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds after each switch before measuring")
    ap.add_argument("--source", choices=["still", "moving"], default="still")
    ap.add_argument("--cases", default="none,sync,latency,cpu",
                    help="comma-separated, from: " + ", ".join(CASES))
    ap.add_argument("--background", default="color",
                    help="comma-separated backgrounds, each filter case runs once per background: "
                         + ", ".join(BACKGROUNDS) + ", optionally +halo and/or +wrap (e.g. image+halo)")
    ap.add_argument("--cpu-hog", type=int, default=0, metavar="N",
                    help="N busy processes beside OBS for the whole run (killed at the end)")
    ap.add_argument("--hog-limit", type=float, default=1800.0,
                    help="seconds after which a CPU hog ends by itself, whatever happens to this run")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--log", type=Path, help="write OBS's log here (the filter's lines start [obs_bg_replace])")
    args = ap.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in args.cases if c not in CASES]
    if bad or not args.cases:
        ap.error(f"unknown case(s) {', '.join(bad) or '(none)'}; choose from {', '.join(CASES)}")
    if not 1 <= args.fps <= 120 or args.seconds <= 0:
        ap.error("--fps must be 1..120 and --seconds > 0")
    args.background = [k.strip() for k in args.background.split(",") if k.strip()] or ["color"]
    for k in args.background:
        try:
            parse_background(k)
        except ValueError:
            ap.error(f"unknown background {k!r}: one of {', '.join(BACKGROUNDS)}, optionally +halo, +wrap")
    if not 0 <= args.cpu_hog <= 64 or args.hog_limit <= 0:
        ap.error("--cpu-hog must be 0..64 and --hog-limit > 0")
    why = oh.missing_requirements()
    if why:
        print(f"error: cannot run OBS here: {why}", file=sys.stderr)
        return 2
    result = run(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
