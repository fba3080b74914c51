"""``python -m matting eval``: quality of the pipeline against the baseline, per stage.

Every data set is run through several *configurations* in one pass (each frame is read
once and given to each): ``baseline`` (what typical plugins do: the whole frame
stretched to the model, bilinear upsample, no post-processing), ``full`` (the pipeline
with its defaults) and ablations that switch off one stage each. The metrics are those
of :mod:`matting.lab.metrics`. Output: markdown tables on stdout, a JSON
file with every number, and a contact sheet PNG of the worst frames (image, ground
truth, baseline, prediction, error) so a person can look instead of read.

Images of an image set are independent (the pipeline is reset before each); sequences
and clips run in order, as a stream.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import heapq
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from . import metrics as M
from .datasets import KINDS, DataSet, discover, default_root, true_plate
from ..composite import composite
from ..errors import InputError
from ..settings import Settings

#: Configurations: name → Settings overrides on top of the base settings; None = baseline.
#: Later stages add a row for their own ablation.
CONFIGS: dict[str, dict | None] = {
    "baseline": None,
    "full": {},
    "no_roi": {"roi": False},
    "no_cc": {"cc_filter": False},
    "no_temporal": {"temporal_strength": 0.0},
    "no_refine": {"edge_detail": 0.0},
    "no_halo": {"halo_removal": False},
    "no_edge": {"edge_detail": 0.0, "halo_removal": False},
    "known_bg": {},
    "learned_bg": {"known_background": True},
    "no_adaptive": {"adaptive_rate": "off"},
    "largest": {"keep_largest": True},
}
#: Configurations given each sequence's true clean plate (datasets.true_plate) first.
PLATE_CONFIGS = {"known_bg"}
DESCRIPTIONS = {
    "baseline": "whole frame stretched to the model, bilinear upsample, no post-processing",
    "full": "the pipeline with its defaults",
    "no_roi": "full, model on the whole frame (no ROI tracking)",
    "no_cc": "full, without the connected-component filter",
    "no_temporal": "full, without temporal fusion",
    "no_refine": "full, plain bilinear upsampling of the matte (no guided edge refinement)",
    "no_halo": "full, original colours kept in the soft edge (no foreground estimation)",
    "no_edge": "full without either edge step (the pipeline before edge refinement and halo removal)",
    "known_bg": "full with the sequence's true clean plate as known background (plate.png, or meta.json's "
                "background; sets without one run as full)",
    "learned_bg": "full with --known-background: the plate learnt from the frames only",
    "no_adaptive": "full, the model on every frame (adaptive rate off; `full` skips it while the outline is still)",
    "largest": "full with \"keep the largest person only\" (the person of the last frame when others stand behind)",
}
#: Columns of the table: metric → (header, format); temporal ones only for sequences.
COLUMNS = {
    "iou": ("IoU", ".3f"), "mad": ("MAD", ".1f"), "mse": ("MSE", ".1f"), "sad": ("SAD", ".2f"),
    "grad": ("Grad", ".2f"), "conn": ("Conn", ".2f"), "dtssd": ("dtSSD", ".2f"),
    "flicker": ("flicker", ".2f"), "static": ("static share", ".2f"),
    "edge_err": ("edge colour err", ".2f"), "ms": ("ms", ".1f"),
}
FLICKER_SETS = "*"  # the video sets where `full` must at least halve the baseline's mean flicker
FLICKER_CUT = 0.5
STATIC_SETS = "*a-static,*c-noisy"  # static-camera sequences: known_bg must halve full's MAD there
KNOWN_CUT = 0.5
NEVER_WORSE = 1.005  # "never worse than full": MAD within 0.5 % (rounding of a switched-off stage)
MAD_CUT = 0.5  # green-screen kind of video set: `full`'s mean MAD at most this × the baseline's
IOU_SLACK = 0.005  # per set, `full` may lose this much IoU against the baseline (and no more)


# ---- predictors -----------------------------------------------------------------------------
class _PipelinePredictor:
    def __init__(self, settings: Settings):
        from ..pipeline import Pipeline

        self.pipeline = Pipeline(settings)
        self.ms = 0.0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.composite, alpha = self.pipeline.process(image)
        t = self.pipeline.timings
        self.ms = t["total"] - t["composite"]  # the matte, as for the baseline
        return alpha

    def reset(self) -> None:
        self.pipeline.reset()


class _BaselinePredictor:
    def __init__(self, settings: Settings, segmenter=None):
        from ..model import Segmenter

        from ..background import Background

        self.segmenter = segmenter or Segmenter(settings.model, settings.device, settings.threads)
        self.background = Background(settings.background, settings.background_fit, settings.blur_strength)
        self.ms = 0.0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from ..pipeline import baseline_alpha

        t0 = time.perf_counter()
        alpha = baseline_alpha(image, self.segmenter)
        self.ms = 1e3 * (time.perf_counter() - t0)
        h, w = alpha.shape
        self.composite = composite(image, alpha, self.background.frame(h, w, image.shape[2], "BGR", image))
        return alpha

    def reset(self) -> None:
        self.segmenter.reset_state()  # a recurrent model starts each sequence afresh


def predictor_background(predictor, h: int, w: int, image: np.ndarray) -> np.ndarray | None:
    """The new background the predictor composited onto (None if transparent)."""
    bg = predictor.pipeline.background if hasattr(predictor, "pipeline") else predictor.background
    return None if bg.transparent or bg.kind == "video" else bg.frame(h, w, 3, "BGR", image)


def make_predictors(names: list[str], base: Settings) -> dict:
    """One predictor per configuration name, all on one model session: the model is
    stateless, and one ONNX Runtime thread pool (instead of one per configuration,
    each spinning while the others run) keeps the configurations from slowing each
    other down on a small machine."""
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise InputError(f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    preds, segmenter = {}, None
    for n in names:
        if CONFIGS[n] is None:
            continue
        preds[n] = _PipelinePredictor(base.replace(**CONFIGS[n]))
        pipeline = preds[n].pipeline
        # A recurrent model's state belongs to one stream of frames: never shared.
        same_model = (pipeline.settings.model, pipeline.settings.device, pipeline.settings.threads) == \
            (base.model, base.device, base.threads) and not pipeline.segmenter.recurrent
        if segmenter is None and same_model:
            segmenter = pipeline.segmenter
        elif same_model:
            pipeline.segmenter = segmenter
    return {n: preds[n] if n in preds else _BaselinePredictor(base, segmenter) for n in names}


# ---- the run -------------------------------------------------------------------------------
class _Worst:
    """The k worst frames of a set by one metric (kept with their pictures)."""

    def __init__(self, k: int):
        self.k, self.heap, self.n = k, [], 0

    def offer(self, score: float, item) -> None:
        if self.k <= 0 or math.isnan(score):
            return
        self.n += 1  # tie-breaker: heapq never compares the items
        entry = (score, self.n, item)
        if len(self.heap) < self.k:
            heapq.heappush(self.heap, entry)
        elif score > self.heap[0][0]:
            heapq.heapreplace(self.heap, entry)

    def items(self):
        return [(s, item) for s, _, item in sorted(self.heap, reverse=True)]


def evaluate_set(ds: DataSet, predictors: dict, limit: int | None = None, sheet_config: str | None = None,
                 worst_k: int = 2, progress=None, clock: dict | None = None,
                 lag: int = 0) -> tuple[dict[str, list[dict]], list]:
    """Run every predictor over a set; per-frame metric rows per configuration, and the
    set's worst frames by ``sheet_config``'s MAD (with the pictures for the sheet).
    ``clock`` (if given) accumulates the seconds spent in ``predict`` and ``score``.
    ``lag`` K > 0 (sequences): the matte of frame t−K is scored over frame t, as a live
    filter that draws the newest picture with the newest finished matte shows it; the
    first K frames are not scored."""
    clock = {} if clock is None else clock
    now = time.perf_counter
    plate = true_plate(ds) if ds.temporal and PLATE_CONFIGS & set(predictors) else None
    for name, p in predictors.items():
        p.reset()
        if name in PLATE_CONFIGS:
            p.pipeline.set_background_plate(plate)
    scorers = {n: M.SequenceScorer(temporal=ds.temporal) for n in predictors}
    worst = _Worst(worst_k if ds.has_truth and sheet_config in predictors else 0)
    prev = None
    history = {n: collections.deque(maxlen=lag + 1) for n in predictors}
    for frame in ds.frames(limit):
        # clips without truth: where the picture did not change, once for every config
        static = M.frame_static(frame.image, prev) if not ds.has_truth and prev is not None else None
        prev = frame.image
        preds = {}
        for name, predictor in predictors.items():
            t0 = now()
            if not ds.temporal:
                predictor.reset()  # independent images
            preds[name] = predictor(frame.image)
            t1 = now()
            history[name].append(preds[name])
            if len(history[name]) <= lag:
                continue  # no matte from K frames ago yet
            preds[name] = history[name][0]
            row = scorers[name].add(preds[name], frame.alpha, frame.valid, frame.image, static)
            if lag == 0 and frame.fgr is not None and getattr(predictor, "composite", None) is not None:
                h, w = frame.alpha.shape
                bg = predictor_background(predictor, h, w, frame.image)
                if bg is not None:
                    row["edge_err"] = M.boundary_colour_error(predictor.composite, M.unit(frame.alpha), frame.fgr,
                                                              bg, frame.valid)
            row["ms"] = predictor.ms
            clock["predict"] = clock.get("predict", 0.0) + t1 - t0
            clock["score"] = clock.get("score", 0.0) + now() - t1
        if worst.k and scorers[sheet_config].rows:
            worst.offer(scorers[sheet_config].rows[-1]["mad"],
                        (ds.name, frame.name, frame.image, frame.alpha, frame.valid,
                         {n: preds[n] for n in ("baseline", sheet_config) if n in preds},
                         {n: scorers[n].rows[-1] for n in ("baseline", sheet_config) if n in preds}))
        if progress:
            progress.update(1)
    return {n: s.rows for n, s in scorers.items()}, worst.items()


def aggregate(rows: list[dict]) -> dict[str, float]:
    """Means over the frames; ``ms`` as the median (timings have outliers)."""
    out = M.summarize(rows, [k for k in COLUMNS if k != "ms" and any(k in r for r in rows)])
    out["ms"] = float(np.median([r["ms"] for r in rows])) if rows else math.nan
    return out


# ---- reporting -----------------------------------------------------------------------------
def _fmt(v: float, spec: str) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def markdown_table(entries: list[dict], configs: list[str]) -> str:
    """One row per (set, configuration); the columns that apply to any of the sets."""
    cols = [c for c in COLUMNS if any(c in e["results"][configs[0]] for e in entries)]
    lines = ["| set | frames | config | " + " | ".join(COLUMNS[c][0] for c in cols) + " |",
             "|---|---:|---|" + "---:|" * len(cols)]
    for e in entries:
        for i, cfg in enumerate(configs):
            r = e["results"][cfg]
            head = f"| {e['name']} | {e['frames']} |" if i == 0 else "| | |"
            lines.append(f"{head} {cfg} | " + " | ".join(_fmt(r.get(c), COLUMNS[c][1]) for c in cols) + " |")
    return "\n".join(lines)


def _group(name: str) -> str:
    """The video set a sequence belongs to (``davis`` for ``davis/parkour``)."""
    return name.rsplit("/", 1)[0] if "/" in name else name


def per_sequence(entries: list[dict]) -> list[dict]:
    """``full`` against ``baseline`` on every set (its fg-filtered subset where there is
    one): IoU, MAD and flicker of both, and where ``full`` is worse: IoU below the
    baseline's by more than :data:`IOU_SLACK`, MAD above it, flicker above it."""
    out = []
    for e in entries:
        if e.get("subset_of"):
            continue
        scored = next((s for s in entries if s.get("subset_of") == e["name"]), e)
        b, f = scored["results"].get("baseline"), scored["results"].get("full")
        if b is None or f is None:
            continue
        row = {"set": scored["name"], "group": _group(e["name"]), "kind": e["kind"], "worse": []}
        for m in ("iou", "mad", "flicker", "edge_err"):
            if m in b and m in f and not (math.isnan(b[m]) or math.isnan(f[m])):
                row[m] = (b[m], f[m])
        if "iou" in row and row["iou"][1] < row["iou"][0] - IOU_SLACK:
            row["worse"].append("IoU")
        if "mad" in row and row["mad"][1] > row["mad"][0]:
            row["worse"].append("MAD")
        if "flicker" in row and row["flicker"][1] > row["flicker"][0]:
            row["worse"].append("flicker")
        out.append(row)
    return out


def known_background_targets(entries: list[dict], static_sets: str = STATIC_SETS) -> list[dict]:
    """The known-background targets, against ``full``: given the true plate (``known_bg``)
    MAD ≤ ``KNOWN_CUT``× and Grad lower on the static-camera sets (``static_sets``) and
    never worse elsewhere (it must switch itself off); the learnt plate (``learned_bg``)
    never worse anywhere."""
    patterns = [p.strip() for p in static_sets.split(",") if p.strip()]
    out = []
    for e in entries:
        res, f = e["results"], e["results"].get("full")
        if e["kind"] == "video" or e.get("subset_of") or f is None:
            continue
        static = any(fnmatch.fnmatch(e["name"], p) for p in patterns)
        if "known_bg" in res:
            k = res["known_bg"]
            if static:
                out.append({"set": e["name"], "criterion": f"known_bg MAD ≤ {KNOWN_CUT:g}× full", "full": f["mad"],
                            "value": k["mad"], "met": k["mad"] <= KNOWN_CUT * f["mad"]})
                out.append({"set": e["name"], "criterion": "known_bg Grad lower", "full": f["grad"],
                            "value": k["grad"], "met": k["grad"] < f["grad"]})
            else:
                out.append({"set": e["name"], "criterion": "known_bg MAD never worse", "full": f["mad"],
                            "value": k["mad"], "met": k["mad"] <= NEVER_WORSE * f["mad"]})
        if "learned_bg" in res:
            k = res["learned_bg"]
            out.append({"set": e["name"], "criterion": "learned_bg MAD never worse", "full": f["mad"],
                        "value": k["mad"], "met": k["mad"] <= NEVER_WORSE * f["mad"]})
    return out


def known_targets_table(targets: list[dict]) -> str:
    lines = ["| set | target | full | value | value/full | met |", "|---|---|---:|---:|---:|:---:|"]
    for t in targets:
        ratio = t["value"] / t["full"] if t["full"] else math.nan
        lines.append(f"| {t['set']} | {t['criterion']} | {_fmt(t['full'], '.3f')} | {_fmt(t['value'], '.3f')} | "
                     f"{_fmt(ratio, '.3f')} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines)


def json_rows(rows: list[dict]) -> list[dict]:
    """:func:`per_sequence` rows for JSON: ``{metric: {"baseline": b, "full": f}}``."""
    return [{k: ({"baseline": v[0], "full": v[1]} if isinstance(v, tuple) else v) for k, v in r.items()}
            for r in rows]


def per_sequence_table(rows: list[dict]) -> str:
    """Markdown: one line per set, the metrics where ``full`` is worse in bold."""
    lines = ["| set | IoU base → full | MAD base → full | flicker base → full | worse on |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        cells = []
        for m, label, spec in (("iou", "IoU", ".4f"), ("mad", "MAD", ".2f"), ("flicker", "flicker", ".2f")):
            if m not in r:
                cells.append("–")
                continue
            text = f"{_fmt(r[m][0], spec)} → {_fmt(r[m][1], spec)}"
            cells.append(f"**{text}**" if label in r["worse"] else text)
        lines.append(f"| {r['set']} | " + " | ".join(cells) + f" | {', '.join(r['worse']) or '–'} |")
    return "\n".join(lines)


def check_targets(entries: list[dict], flicker_sets: str = FLICKER_SETS) -> list[dict]:
    """The issue's quality targets, ``full`` against ``baseline``. Per set (on its
    fg-filtered subset where there is one): IoU ≥ baseline − :data:`IOU_SLACK`, MAD ≤
    baseline, flicker ≤ baseline. Per video set (the sequences and clips of one folder,
    those whose name matches ``flicker_sets``): mean flicker ≤ :data:`FLICKER_CUT` ×
    the baseline's. Per video set with true foreground colours (green-screen kind): mean
    MAD ≤ :data:`MAD_CUT` × the baseline's."""
    patterns = [p.strip() for p in flicker_sets.split(",") if p.strip()]
    out = []
    rows = per_sequence(entries)
    for r in rows:
        if "iou" in r:
            out.append({"set": r["set"], "criterion": f"IoU ≥ baseline − {IOU_SLACK:g}", "baseline": r["iou"][0],
                        "full": r["iou"][1], "met": "IoU" not in r["worse"]})
        if "mad" in r:
            out.append({"set": r["set"], "criterion": "MAD ≤ baseline", "baseline": r["mad"][0],
                        "full": r["mad"][1], "met": "MAD" not in r["worse"]})
        if "flicker" in r:
            out.append({"set": r["set"], "criterion": "flicker ≤ baseline", "baseline": r["flicker"][0],
                        "full": r["flicker"][1], "met": "flicker" not in r["worse"]})
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["kind"] != "images":
            groups.setdefault(r["group"], []).append(r)
    for g, members in groups.items():
        flick = [r["flicker"] for r in members if "flicker" in r]
        if flick and any(fnmatch.fnmatch(g, p) for p in patterns):
            fb, ff = float(np.mean([b for b, _ in flick])), float(np.mean([f for _, f in flick]))
            out.append({"set": f"{g}/* (mean of {len(flick)})", "criterion": f"flicker ≤ {FLICKER_CUT:g}× baseline",
                        "baseline": fb, "full": ff, "met": ff <= FLICKER_CUT * fb})
        mads = [r["mad"] for r in members if "mad" in r and "edge_err" in r]
        if mads:
            mb, mf = float(np.mean([b for b, _ in mads])), float(np.mean([f for _, f in mads]))
            out.append({"set": f"{g}/* (mean of {len(mads)})", "criterion": f"MAD ≤ {MAD_CUT:g}× baseline",
                        "baseline": mb, "full": mf, "met": mf <= MAD_CUT * mb})
    return out


def targets_table(targets: list[dict], only_missed: bool = False) -> str:
    lines = ["| set | target | baseline | full | full/baseline | met |", "|---|---|---:|---:|---:|:---:|"]
    for t in targets:
        if only_missed and t["met"]:
            continue
        spec = ".4f" if t["criterion"].startswith("IoU") else ".2f"
        ratio = t["full"] / t["baseline"] if t["baseline"] else math.nan
        lines.append(f"| {t['set']} | {t['criterion']} | {_fmt(t['baseline'], spec)} | {_fmt(t['full'], spec)} | "
                     f"{_fmt(ratio, '.2f')} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines)


def _tile(img: np.ndarray, height: int) -> np.ndarray:
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    w = max(1, round(img.shape[1] * height / img.shape[0]))
    return cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)


def error_map(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """BGR picture of pred − truth: red = extra (background kept as person), blue = missing
    (person cut away), black = right, grey = not scored."""
    d = pred.astype(np.int16) - true.astype(np.int16)
    out = np.zeros((*d.shape, 3), np.uint8)
    out[..., 2] = np.clip(d, 0, 255)
    out[..., 0] = np.clip(-d, 0, 255)
    out[..., 1] = np.clip(-d, 0, 255) // 2
    if valid is not None:
        out[~valid] = 96
    return out


def contact_sheet(worst: list, height: int = 180) -> np.ndarray | None:
    """Rows of image | truth | baseline | prediction | error, each with a caption."""
    rows = []
    for score, (set_name, frame_name, image, alpha, valid, preds, rows_by_cfg) in worst:
        names = list(preds)
        shown = preds[names[-1]]
        tiles = [_tile(image, height), _tile(alpha, height)] + [_tile(preds[n], height) for n in names]
        tiles.append(_tile(error_map(shown, alpha, valid), height))
        strip = np.hstack(tiles)
        caption = f"{set_name}/{frame_name}   columns: image | truth | " + " | ".join(names) + f" | error of {names[-1]}"
        scores = "   ".join(f"{n}: IoU {rows_by_cfg[n]['iou']:.3f} MAD {rows_by_cfg[n]['mad']:.1f}" for n in names)
        bar = np.full((44, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(bar, scores, (6, 38), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 160), 1, cv2.LINE_AA)
        rows.append(np.vstack([bar, strip]))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])


# ---- command line --------------------------------------------------------------------------
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="score the pipeline, the baseline and ablations on data sets with ground truth",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("data", nargs="*",
                        help=f"data set folders or clips (default: {default_root()}); a folder of "
                             "sets is walked, a folder of sequence folders is a video set")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated configurations (default: all: {','.join(CONFIGS)})")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N frames of each set")
    parser.add_argument("--min-fg", type=float, default=0.15, metavar="F",
                        help="also score each image set's images whose person covers ≥ F of the frame "
                             "(default 0.15; 0 = off)")
    parser.add_argument("--as", dest="kind", choices=KINDS, default="auto",
                        help="read every set as independent images or as sequences (default: auto)")
    parser.add_argument("--out", default="out/eval", metavar="DIR",
                        help="folder for eval.json and worst.png (default: out/eval)")
    parser.add_argument("--json", metavar="PATH", help="JSON file (default: DIR/eval.json)")
    parser.add_argument("--sheet", metavar="PATH", help="contact sheet PNG (default: DIR/worst.png)")
    parser.add_argument("--sheet-config", default="full", help="configuration whose worst frames are shown")
    parser.add_argument("--worst", type=int, default=2, metavar="K", help="worst frames per set on the sheet")
    parser.add_argument("--flicker-sets", default=FLICKER_SETS, metavar="GLOBS",
                        help="video sets (folder names, globs) where full must halve the baseline's mean flicker "
                             f"(default: {FLICKER_SETS})")
    parser.add_argument("--static-sets", default=STATIC_SETS, metavar="GLOBS",
                        help=f"static-camera sets where known_bg must halve full's MAD (default: {STATIC_SETS})")
    parser.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--lag", type=int, default=0, metavar="K",
                        help="score the matte of frame t-K over frame t (sequences only; what a live filter "
                             "shows when the matte trails the picture by K frames)")
    from ..cli import add_settings_arguments

    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .bench import json_safe, machine_info
    from ..cli import settings_from_args

    base = settings_from_args(args)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    if args.lag < 0:
        raise InputError(f"--lag must be 0 or more, got {args.lag}")
    datasets = discover(args.data or [default_root()], args.kind)
    if args.lag:
        datasets = [ds for ds in datasets if ds.temporal and ds.has_truth]
        if not datasets:
            raise InputError("--lag needs sequences with ground truth (a lag means nothing for single images)")
    predictors = make_predictors(configs, base)

    total = sum(min(len(ds), args.limit or len(ds)) for ds in datasets)
    progress = None
    if not args.quiet:
        try:
            from tqdm import tqdm

            progress = tqdm(total=total, unit="frame", file=sys.stderr, desc="eval")
        except ImportError:
            pass
    t0 = time.perf_counter()
    entries, worst, clock = [], [], {}
    try:
        for ds in datasets:
            rows, bad = evaluate_set(ds, predictors, args.limit, args.sheet_config, args.worst, progress, clock,
                                     args.lag)
            worst += bad
            n = len(next(iter(rows.values())))
            entry = {"name": ds.name, "kind": ds.kind, "path": str(ds.path), "frames": n, "lag": args.lag,
                     "results": {c: aggregate(r) for c, r in rows.items()}}
            entries.append(entry)
            if ds.kind == "images" and args.min_fg > 0:
                keep = [i for i, r in enumerate(next(iter(rows.values()))) if r["fg"] >= args.min_fg]
                if 0 < len(keep) < n:
                    entries.append({"name": f"{ds.name} fg≥{args.min_fg:g}", "kind": ds.kind, "subset_of": ds.name,
                                    "frames": len(keep), "min_fg": args.min_fg,
                                    "results": {c: aggregate([r[i] for i in keep]) for c, r in rows.items()}})
    finally:
        if progress:
            progress.close()
    elapsed = time.perf_counter() - t0

    targets = check_targets(entries, args.flicker_sets) if not args.lag else []  # targets are for lag 0
    kb_targets = known_background_targets(entries, args.static_sets) if not args.lag else []
    provider = next((p.pipeline.provider for p in predictors.values() if hasattr(p, "pipeline")), "")
    info = machine_info(provider=provider, threads=next(
        (p.pipeline.segmenter.threads for p in predictors.values() if hasattr(p, "pipeline")), None))
    gt_entries = [e for e in entries if e["kind"] != "video"]
    clip_entries = [e for e in entries if e["kind"] == "video"]
    print(f"# matting eval: {len(datasets)} set(s), {total} frames, {len(configs)} configurations, "
          + (f"matte lag {args.lag} frame(s), " if args.lag else "")
          + f"{elapsed:.0f} s ({clock.get('predict', 0):.0f} s in the configurations, "
          f"{clock.get('score', 0):.0f} s scoring, the rest reading)\n")
    print(f"Machine: {info['summary']}\n")
    print("Configurations: " + "; ".join(f"`{c}` = {DESCRIPTIONS.get(c, CONFIGS[c])}" for c in configs) + "\n")
    if gt_entries:
        print("## Sets with ground truth\n")
        print("IoU at 0.5; MAD, MSE ×1e3; SAD, Grad, Conn /1e3; dtSSD ×1e2; flicker ×1e3 "
              "(mean |αₜ − αₜ₋₁| where the truth did not change); ms = median time per frame "
              "for the matte.\n")
        print(markdown_table(gt_entries, configs) + "\n")
    if clip_entries:
        print("## Clips without ground truth\n")
        print("flicker ×1e3: mean |αₜ − αₜ₋₁| where the picture did not change "
              f"(grey level within ±{M.STATIC_LEVELS:g} after a σ=1 blur, {M.STATIC_RADIUS} px around).\n")
        print(markdown_table(clip_entries, configs) + "\n")
    rows = per_sequence(entries)
    if rows:
        worse = [r for r in rows if r["worse"]]
        print("## Per set: full against baseline\n")
        print(f"Worse = IoU below the baseline's by more than {IOU_SLACK:g}, MAD above it, or flicker above it "
              f"(bold). {len(worse)} of {len(rows)} set(s) worse on something"
              + (": " + ", ".join(f"{r['set']} ({', '.join(r['worse'])})" for r in worse) if worse else "") + ".\n")
        print(per_sequence_table(rows) + "\n")
    if targets:
        missed = [t for t in targets if not t["met"]]
        print("## Targets (full against baseline)\n")
        print(f"{len(targets) - len(missed)} of {len(targets)} met. Per set and per video set:\n")
        print(targets_table(targets) + "\n")
    if kb_targets:
        print("## Known-background targets (against full)\n")
        print(known_targets_table(kb_targets) + "\n")

    out_dir = Path(args.out)
    json_path = Path(args.json) if args.json else out_dir / "eval.json"
    sheet_path = Path(args.sheet) if args.sheet else out_dir / "worst.png"
    report = {"command": "python -m matting " + " ".join(sys.argv[1:]),
              "machine": info, "elapsed_s": elapsed, "predict_s": clock.get("predict", 0.0),
              "score_s": clock.get("score", 0.0), "settings": asdict(base),
              "configs": {c: CONFIGS[c] for c in configs}, "descriptions": {c: DESCRIPTIONS.get(c, "") for c in configs},
              "sets": entries, "per_sequence": json_rows(rows), "targets": targets,
              "known_background_targets": kb_targets, "all_targets_met": all(t["met"] for t in targets + kb_targets)}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(json_safe(report), indent=1, ensure_ascii=False))
    sheet = contact_sheet(worst)
    if sheet is not None:
        from ..io import write_image

        write_image(sheet_path, sheet)
    print(f"JSON: {json_path}" + (f"   worst frames: {sheet_path}" if sheet is not None else ""))
    missed = [t for t in targets + kb_targets if not t["met"]]
    return 1 if args.check and missed else 0

