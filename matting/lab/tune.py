"""``python -m matting tune``: choose the pipeline's constants by cross-validation.

The development data (``../shared/data`` and, if given, folders made by ``python -m
matting generate``) is cut into *items*: each sequence or clip is one item, each image
set is cut into one chunk per fold. Items are dealt to ``--folds`` folds round-robin
within their group (``davis``, ``greenscreen``, the generated sequences per camera,
``voc_person``, …), so every fold holds some of every kind of scene.

Search: one at a time around the current values. Every candidate value of every
constant (:data:`PARAMS`) is run once over every item (the other constants at their
current values), and each item's IoU, MAD and flicker are kept. Then, per fold, each
constant takes the value with the lowest objective on the *other* folds (fit), and that
combination is run on the fold itself (held out). The objective (lower is better),
relative to the raw model ("baseline") on the same frames::

    J = mean MAD / MAD_base  +  mean (flicker + 0.05) / (flicker_base + 0.05)
        + share of items worse than the baseline (IoU − 0.005, MAD or flicker)

The value to ship is the one most folds chose (ties: the current one, else the
smaller). Only ``--frames`` frames per sequence and ``--images`` images per image set
are used, and model outputs are cached by input, so a candidate that leaves the model's
crops alone costs no inference: the search is a sample, the final numbers come from
``python -m matting eval``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics as M
from .datasets import discover, default_root
from .. import pipeline as P
from .. import postprocess as PP
from .. import refine as RF
from .. import roi as R
from ..errors import InputError
from ..settings import Settings

IOU_SLACK = 0.005
GAIN_MIN = 0.02  # a change of a constant must lower J on all items by this much to ship
FLICKER_EPS = 0.05  # ×1e3: flicker ratios of nearly still sets do not explode

#: name → (where, attribute, candidates). ``where``: "settings" (a Settings field), a
#: module (its constant), or a function applying the value.
PARAMS: dict[str, tuple] = {
    "edge_low": ("edge", "EDGE_LOW", (0.0, 0.12, 0.2, 0.28, 0.35)),  # EDGE_HIGH = 1 − EDGE_LOW
    "edge_trust": (P, "EDGE_TRUST", (0.08, 0.15, 0.3, 1.0)),
    "edge_detail": ("settings", "edge_detail", (0.7, 0.9, 1.0)),
    "refine_side": (P, "REFINE_SIDE", (112, 160, 240, 320)),
    "threshold": ("settings", "threshold", (0.4, 0.5, 0.6)),
    "min_area": ("settings", "min_area", (0.002, 0.005, 0.01, 0.02)),
    "roi_margin": ("settings", "roi_margin", (0.04, 0.08, 0.15, 0.25)),
    "max_stretch": (R, "MAX_STRETCH", (1.5, 2.0, 3.0)),
    "smooth_alpha": ("settings", "smooth_alpha", (0.4, 0.6, 0.8, 1.0)),
    "temporal_strength": ("settings", "temporal_strength", (0.4, 0.6, 0.8, 0.9)),
    "motion_low": ("motion", "MOTION_LOW", (2.0, 4.0, 8.0)),  # MOTION_HIGH = 4 × MOTION_LOW
    "motion_spread": (P, "MOTION_SPREAD", (0, 2, 4)),
    "hysteresis": (P, "HYSTERESIS", (0.0, 0.15, 0.25, 0.35)),
    "core_share": (PP, "CORE_SHARE", (0.0, 0.05, 0.1, 0.2, 0.3)),
    "link_level": (PP, "LINK_LEVEL", (0.15, 0.25, 0.35, 0.5)),  # 0.5 (= threshold): off
    "min_crop": (P, "MIN_CROP", (2, 3, 4, 8)),  # the crop's least side = short side / this
    "small_alone": (PP, "SMALL_ALONE", (0, 1)),  # 0: the old rule
    "texture_high": (RF, "TEXTURE_HIGH", (0.1, 0.15, 0.25, math.inf)),  # inf: edges trusted everywhere (off)
    "crop_edge_max": (P, "CROP_EDGE_MAX", (0.5, 0.75, 0.9, math.inf)),  # inf: every crop trusted (off)
}


def current(name: str, base: Settings):
    where, attr, _ = PARAMS[name]
    if where == "settings":
        return getattr(base, attr)
    if where == "edge":
        return P.EDGE_LOW
    if where == "motion":
        return P.MOTION_LOW
    return getattr(where, attr)


@contextlib.contextmanager
def applied(values: dict, base: Settings):
    """Module constants set to ``values`` inside the block (restored after); yields the
    Settings with the settings-kind values applied."""
    saved = {(P, k): getattr(P, k) for k in ("EDGE_LOW", "EDGE_HIGH", "MOTION_LOW", "MOTION_HIGH")}
    changes = {}
    for name, v in values.items():
        where, attr, _ = PARAMS[name]
        if where == "settings":
            changes[attr] = v
        elif where == "edge":
            P.EDGE_LOW, P.EDGE_HIGH = v, 1.0 - v
        elif where == "motion":
            P.MOTION_LOW, P.MOTION_HIGH = v, 4.0 * v
        else:
            saved.setdefault((where, attr), getattr(where, attr))
            setattr(where, attr, v)
    try:
        yield base.replace(**changes)
    finally:
        for (mod, attr), v in saved.items():
            setattr(mod, attr, v)


class CachedSegmenter:
    """A model whose outputs are remembered by input tensor: reruns with other
    post-processing constants cost no inference."""

    def __init__(self, segmenter, max_items: int = 20000):
        self._s, self._cache, self._max = segmenter, {}, max_items
        self.hits = self.misses = 0

    def __getattr__(self, name):
        return getattr(self._s, name)

    def run(self, tensor: np.ndarray) -> np.ndarray:
        key = hashlib.blake2b(np.ascontiguousarray(tensor).data, digest_size=16).digest()
        hit = self._cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit.copy()
        self.misses += 1
        out = self._s.run(tensor)
        if len(self._cache) < self._max:
            self._cache[key] = out.copy()
        return out

    def predict(self, image, order="BGR", opencv=False):
        return self.run(self._s.preprocess(image, order, opencv))


@dataclass
class Item:
    """Frames scored together: a sequence, a clip or a chunk of an image set."""

    name: str
    group: str
    kind: str  # images | sequence | video
    frames: list = field(default_factory=list)  # (image, alpha or None, valid or None)
    fold: int = 0
    base: dict = field(default_factory=dict)
    person: str = ""  # who is in it: folds are made by person (a chunk of images: several)
    case: str = ""  # the kind of scene, for the per-case table


def person_of(ds, meta: dict) -> str:
    """Who a sequence or clip shows. The green-screen clips and every sequence
    :mod:`matting.lab.generate` makes from them are one person; :mod:`matting.lab.people`
    names its person; a DAVIS sequence or a clip is its own person."""
    if meta.get("generator") == "matting.lab.people" and meta.get("person"):
        return str(meta["person"])
    if meta.get("generator") == "matting.lab.generate" or ds.group.rsplit("/", 1)[-1] == "greenscreen":
        return "greenscreen"
    return ds.name


def assign_folds(persons: list[str], folds: int) -> dict[str, int]:
    """Persons dealt to folds round-robin within their source (the part before the first
    ``/``: portraits_vikram, voc_person, davis, …), the deal going on from source to
    source, so every fold holds people of every source it can."""
    out, k = {}, 0
    by_source: dict[str, list[str]] = {}
    for p in sorted(set(persons)):
        by_source.setdefault(p.split("/", 1)[0], []).append(p)
    for source in sorted(by_source):
        for p in by_source[source]:
            out[p] = k % folds
            k += 1
    return out


def load_items(paths: list, frames: int, images: int, folds: int) -> list[Item]:
    """The items of every set under ``paths`` (frames decoded once, kept in memory),
    folded by person: everything one person appears in (the shared green-screen
    sequences and every sequence generated from them; a portrait and the sequences cut
    from it) is in the same fold, so a held-out fold's people were never fitted on."""
    items: list[Item] = []
    image_sets = []
    for ds in discover(paths):
        group = ds.group
        meta = {}
        if ds.kind != "images" and ds.path.joinpath("meta.json").is_file():
            meta = json.loads(ds.path.joinpath("meta.json").read_text())
        if meta.get("generator") and "-" in ds.name.rsplit("/", 1)[-1]:
            group = f"{group}:{meta.get('camera', '')}"
        if ds.kind == "images":
            picked = []
            for f in ds.frames():
                if M.foreground_fraction(M.unit(f.alpha), f.valid) >= 0.15:
                    picked.append((f"{ds.name}/{f.name}", (f.image, f.alpha, f.valid)))
                if len(picked) >= images:
                    break
            image_sets.append((ds, group, picked))
        else:
            got = [(f.image, f.alpha, f.valid) for f in ds.frames(frames)]
            case = meta.get("case", meta.get("camera", ds.group)) if meta.get("generator") else ds.group
            if meta.get("kind") == "body":
                case = f"{case}-small"
            if meta.get("generator") == "matting.lab.generate":
                case = f"greenscreen-kind:{case}"
            items.append(Item(ds.name, group, ds.kind, got, person=person_of(ds, meta), case=case))
    persons = [it.person for it in items] + [name for _, _, picked in image_sets for name, _ in picked]
    fold_of = assign_folds(persons, folds)
    for it in items:
        it.fold = fold_of[it.person]
    for ds, group, picked in image_sets:
        for k in range(folds):
            chunk = [frame for name, frame in picked if fold_of[name] == k]
            if chunk:
                items.append(Item(f"{ds.name}#{k}", group, "images", chunk, fold=k, person=f"{ds.name}#{k}",
                                  case=ds.name))
    return items


def score_item(item: Item, predict, reset) -> dict:
    """Mean IoU and MAD (×1e3) where there is truth, mean flicker (×1e3) for sequences and clips."""
    ious, mads, flicks = [], [], []
    prev_pred = prev_true = prev_image = None
    reset()
    for image, alpha, valid in item.frames:
        if item.kind == "images":
            reset()
        pred = M.unit(predict(image))
        true = M.unit(alpha) if alpha is not None else None
        if true is not None:
            ious.append(M.iou(pred, true, valid))
            mads.append(M.mad(pred, true, valid))
        if item.kind != "images" and prev_pred is not None:
            static = M.gt_static(true, prev_true, valid) if true is not None else M.frame_static(image, prev_image)
            flicks.append(M.flicker(pred, prev_pred, static))
        prev_pred, prev_true, prev_image = pred, true, image
    out = {}
    if ious:
        out["iou"], out["mad"] = float(np.mean(ious)), float(np.mean(mads))
    if flicks:
        out["flicker"] = float(np.nanmean(flicks)) if not all(math.isnan(x) for x in flicks) else 0.0
    return out


def worse(r: dict, b: dict) -> bool:
    """Whether ``r`` misses a per-set target against the baseline ``b``."""
    return (("iou" in r and r["iou"] < b["iou"] - IOU_SLACK) or ("mad" in r and r["mad"] > b["mad"])
            or ("flicker" in r and r["flicker"] > b["flicker"]))


def summary(results: dict[str, dict], items: list[Item]) -> dict:
    """Objective and its parts over ``items`` (results by item name)."""
    mad = [results[it.name]["mad"] / max(it.base["mad"], 1e-6) for it in items if "mad" in it.base]
    flk = [(results[it.name]["flicker"] + FLICKER_EPS) / (it.base["flicker"] + FLICKER_EPS)
           for it in items if "flicker" in it.base]
    bad = [it.name for it in items if worse(results[it.name], it.base)]
    mad_r = float(np.mean(mad)) if mad else 0.0
    flk_r = float(np.mean(flk)) if flk else 0.0
    share = len(bad) / max(1, len(items))
    return {"objective": mad_r + flk_r + share, "mad_ratio": mad_r, "flicker_ratio": flk_r,
            "worse": len(bad), "items": len(items), "worse_items": bad}


class Runner:
    """Runs the pipeline with given constants over items, on one cached model session."""

    def __init__(self, base: Settings):
        from ..pipeline import Pipeline, baseline_alpha

        self.base = base
        self.pipeline = Pipeline(base)
        self.pipeline.segmenter = CachedSegmenter(self.pipeline.segmenter)
        self._baseline = baseline_alpha
        self.runs = 0

    def baseline(self, items: list[Item]) -> None:
        for it in items:
            it.base = score_item(it, lambda im: self._baseline(im, self.pipeline.segmenter), lambda: None)

    def run(self, values: dict, items: list[Item]) -> dict[str, dict]:
        self.runs += 1
        with applied(values, self.base) as settings:
            self.pipeline.configure(settings)
            return {it.name: score_item(it, lambda im: self.pipeline.process(im)[1], self.pipeline.reset)
                    for it in items}


def _vote(choices: list, default):
    counts = {v: choices.count(v) for v in choices}
    top = max(counts.values())
    best = [v for v, c in counts.items() if c == top]
    return default if default in best else min(best)


def cross_validate(runner: Runner, items: list[Item], names: list[str], folds: int, log=print,
                   candidates: dict | None = None) -> dict:
    """The search of the module doc; returns every number it printed. ``candidates``
    (name → values) narrows :data:`PARAMS`' lists (a second round around the first's picks)."""
    candidates = candidates or {}
    base = runner.base
    defaults = {n: current(n, base) for n in names}
    t0 = time.perf_counter()
    runner.baseline(items)
    log(f"baseline scored on {len(items)} items ({time.perf_counter() - t0:.0f} s)")
    table: dict[str, dict] = {}  # param → value → results per item
    default_results = runner.run({}, items)
    for n in names:
        table[n] = {defaults[n]: default_results}
        for v in candidates.get(n, PARAMS[n][2]):
            if v == defaults[n]:
                continue
            t1 = time.perf_counter()
            table[n][v] = runner.run({n: v}, items)
            log(f"  {n} = {v}: objective {summary(table[n][v], items)['objective']:.3f} on all items "
                f"(current {summary(default_results, items)['objective']:.3f}; {time.perf_counter() - t1:.0f} s)")
    report = {"defaults": defaults, "folds": [], "sensitivity": {
        n: {str(v): summary(r, items) for v, r in table[n].items()} for n in names}}
    for k in range(folds):
        fit = [it for it in items if it.fold != k]
        held = [it for it in items if it.fold == k]
        if not held or not fit:
            continue
        chosen = {n: min(table[n], key=lambda v: (summary(table[n][v], fit)["objective"], v != defaults[n]))
                  for n in names}
        changed = {n: v for n, v in chosen.items() if v != defaults[n]}
        results = runner.run(changed, items) if changed else default_results
        cases = {}
        for c in sorted({it.case for it in items}):
            f_c, h_c = [it for it in fit if it.case == c], [it for it in held if it.case == c]
            cases[c] = {"fit": summary(results, f_c) if f_c else None,
                        "held_out": summary(results, h_c) if h_c else None,
                        "held_out_current": summary(default_results, h_c) if h_c else None}
        report["folds"].append({"fold": k, "chosen": chosen, "fit": summary(results, fit),
                                "held_out": summary(results, held), "held_out_current": summary(default_results, held),
                                "fit_current": summary(default_results, fit), "cases": cases,
                                "persons": sorted({it.person for it in held})})
    report["picked"] = {n: _vote([f["chosen"][n] for f in report["folds"]], defaults[n]) for n in names}
    # Ship a change only where it is more than noise: the vote's value must also lower J
    # on all items by GAIN_MIN; else the current value stays (fewer, steadier changes).
    every = {n: {v: summary(r, items)["objective"] for v, r in table[n].items()} for n in names}
    report["shipped"] = {n: (report["picked"][n] if every[n][defaults[n]] - every[n][report["picked"][n]] >= GAIN_MIN
                             else defaults[n]) for n in names}
    report["elapsed_s"] = time.perf_counter() - t0
    report["runs"] = runner.runs
    return report


def print_report(report: dict, items: list[Item]) -> None:
    names = list(report["defaults"])
    print("\n## Items per fold\n")
    for k in sorted({it.fold for it in items}):
        mine = [it for it in items if it.fold == k]
        people = sorted({it.person for it in mine})
        print(f"- fold {k}: {len(mine)} items, {len(people)} people/chunks: " + ", ".join(it.name for it in mine))
    print("\n## Constants chosen per fold (fit on the other folds)\n")
    print(f"picked = the value most folds chose; shipped = picked if it lowers J on all items by ≥ {GAIN_MIN:g}, "
          "else the current value.\n")
    print("| constant | current | " + " | ".join(f"fold {f['fold']}" for f in report["folds"]) + " | picked | shipped |")
    print("|---|---:|" + "---:|" * (len(report["folds"]) + 2))
    for n in names:
        print(f"| {n} | {report['defaults'][n]:g} | " + " | ".join(f"{f['chosen'][n]:g}" for f in report["folds"])
              + f" | {report['picked'][n]:g} | {report['shipped'][n]:g} |")
    print("\n## Fit vs held-out\n")
    print("Objective J = mean MAD/MAD_base + mean (flicker+0.05)/(flicker_base+0.05) + share of items worse "
          "than the baseline; lower is better. 'current' = the constants before this run.\n")
    print("| fold | fit J (chosen) | held-out J (chosen) | held-out J (current) | held-out MAD ratio | "
          "held-out flicker ratio | held-out items worse than baseline |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for f in report["folds"]:
        h, hc = f["held_out"], f["held_out_current"]
        print(f"| {f['fold']} | {f['fit']['objective']:.3f} | {h['objective']:.3f} | {hc['objective']:.3f} | "
              f"{h['mad_ratio']:.3f} | {h['flicker_ratio']:.3f} | {h['worse']}/{h['items']}"
              + (f" ({', '.join(h['worse_items'])})" if h["worse_items"] else "") + " |")
    print("\n## Fit vs held-out per kind of scene\n")
    print("J per case (as above) on the fold's fit items and on its held-out items, with the fold's choice; "
          "held-out people were never fitted on (folds are made by person).\n")
    print("| case | " + " | ".join(f"fold {f['fold']} fit / held-out (current)" for f in report["folds"]) + " |")
    print("|---|" + "---|" * len(report["folds"]))

    def cell(s):
        return "–" if s is None else f"{s['objective']:.3f}"

    for c in sorted({c for f in report["folds"] for c in f.get("cases", {})}):
        row = []
        for f in report["folds"]:
            e = f["cases"].get(c, {})
            row.append(f"{cell(e.get('fit'))} / {cell(e.get('held_out'))} ({cell(e.get('held_out_current'))})")
        print(f"| {c} | " + " | ".join(row) + " |")
    print("\n## One at a time, all items\n")
    print("| constant | value | J | MAD ratio | flicker ratio | worse |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in names:
        for v, s in sorted(report["sensitivity"][n].items(), key=lambda kv: float(kv[0])):
            mark = " (current)" if float(v) == float(report["defaults"][n]) else ""
            print(f"| {n} | {v}{mark} | {s['objective']:.3f} | {s['mad_ratio']:.3f} | {s['flicker_ratio']:.3f} | "
                  f"{s['worse']}/{s['items']} |")


# ---- command line --------------------------------------------------------------------------
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tune", help="choose the pipeline's constants by cross-validation (fit vs held-out per fold)",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("data", nargs="*", help=f"data folders (default: {default_root()}); add a folder "
                                                "made by `python -m matting generate`")
    parser.add_argument("--frames", type=int, default=8, metavar="N", help="frames per sequence or clip (default 8)")
    parser.add_argument("--images", type=int, default=24, metavar="N",
                        help="images per image set, person ≥ 15 %% of the frame (default 24)")
    parser.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    parser.add_argument("--params", default=",".join(PARAMS), help=f"constants to search (default: all: "
                                                                   f"{','.join(PARAMS)})")
    parser.add_argument("--values", action="append", default=[], metavar="NAME=V1,V2",
                        help="search only these values of a constant (repeatable), e.g. a second round")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    from ..cli import add_settings_arguments

    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import settings_from_args

    names = [n.strip() for n in args.params.split(",") if n.strip()]
    unknown = [n for n in names if n not in PARAMS]
    if unknown:
        raise InputError(f"unknown constant(s) {', '.join(unknown)}; known: {', '.join(PARAMS)}")
    if args.folds < 2:
        raise InputError(f"--folds must be at least 2, got {args.folds}")
    if args.frames < 2 or args.images < 1:
        raise InputError("--frames must be at least 2 and --images at least 1")
    candidates = {}
    for spec in args.values:
        name, _, vals = spec.partition("=")
        if name not in PARAMS or not vals:
            raise InputError(f"--values needs NAME=V1,V2 with a known constant, got {spec!r}")
        try:
            candidates[name] = tuple(type(PARAMS[name][2][0])(v) for v in vals.split(","))
        except ValueError:
            raise InputError(f"--values {spec!r}: not numbers") from None
        if name not in names:
            names.append(name)
    base = settings_from_args(args)
    items = load_items(args.data or [default_root()], args.frames, args.images, args.folds)
    if len({it.fold for it in items}) < 2:
        raise InputError("the data holds fewer than 2 people's folds (folds are made by person): add data with "
                         "other people, e.g. a folder made by `python -m matting people`")
    runner = Runner(base)
    print(f"# matting tune: {len(items)} items, {args.folds} folds, {len(names)} constants "
          f"({sum(len(PARAMS[n][2]) for n in names)} candidate values)\n", flush=True)
    report = cross_validate(runner, items, names, args.folds, log=lambda m: print(m, file=sys.stderr, flush=True),
                            candidates=candidates)
    print_report(report, items)
    seg = runner.pipeline.segmenter
    print(f"\n{report['runs']} runs in {report['elapsed_s']:.0f} s; model cache {seg.hits} hits, {seg.misses} misses")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0
