"""Held objects and enclosed gaps: sequences for what a known background decides inside
the person's box.

``python -m matting generate`` composites a keyed person over a photo. This module makes
sequences of the same layout (so ``python -m matting eval`` scores them too) with two
things the plate, not the model, should decide:

* **a held object** (a mug- or phone-like rounded block in a colour far from the room
  behind it, with a shading gradient) attached to the person's side at arm height, moving
  with them: in the truth's alpha, absent from ``plate.png``;
* **enclosed gaps**: holes through the person's alpha (one the size of the gap under an
  arm, a few the size of gaps between curls near the top of the head), through which the
  room shows: background in the truth, inside the person's outline.

Only static and noisy cameras (a plate fits them). Besides ``images/``, ``alpha/``,
``fgr/``, ``plate.png`` and ``meta.json`` each sequence has ``object/`` (the object's own
alpha) and ``gaps/`` (how much alpha the holes took away), per frame, for the scores::

    python -m matting.lab.held_object --out /tmp/held --limit 4 --frames 16
    python -m matting.lab.held_object --score /tmp/held

The score runs the default pipeline (``full``) and the same with the sequence's plate
(``known_bg``) over every frame and reports, per sequence and overall, the object's IoU
(matte ≥ 0.5 against the truth's, in the object's box grown by a margin, outside the
person) and the gaps' MAD (×1e3, over the holes grown by a margin). Written to a scratch
folder, never into the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..io import list_images, read_image
from . import generate as G
from .datasets import default_root

CAMERAS = ("static", "noisy")
SUPER = 4  # supersampling of the drawn shapes (soft, anti-aliased edges)
OBJECT_SIZE = (0.075, 0.11)  # the object's width and height, fractions of the frame height
OBJECT_ROW = 0.55  # its centre's row in the person's box (0 = top, 1 = bottom)
OBJECT_OVERLAP = 0.3  # share of its width in front of the person
ARM_GAP = 0.03  # the large hole's radius, fraction of the frame height
CURL_GAP = 0.007  # the small holes' radius
CURLS = 3
MARGIN = 0.01  # score regions grown by this fraction of the frame height


def _soft_disc(shape, cy, cx, ry, rx):
    """Anti-aliased filled ellipse, float32 in [0, 1]."""
    h, w = shape
    big = np.zeros((h * SUPER, w * SUPER), np.uint8)
    cv2.ellipse(big, (round((cx + 0.5) * SUPER - 0.5), round((cy + 0.5) * SUPER - 0.5)),
                (max(1, round(rx * SUPER)), max(1, round(ry * SUPER))), 0, 0, 360, 255, -1)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)


def _soft_block(shape, y0, x0, y1, x1, radius):
    """Anti-aliased filled rounded rectangle, float32 in [0, 1]."""
    h, w = shape
    big = np.zeros((h * SUPER, w * SUPER), np.uint8)
    r = max(1, round(radius * SUPER))
    X0, Y0, X1, Y1 = (round(v * SUPER) for v in (x0, y0, x1, y1))
    cv2.rectangle(big, (X0 + r, Y0), (X1 - r, Y1), 255, -1)
    cv2.rectangle(big, (X0, Y0 + r), (X1, Y1 - r), 255, -1)
    for cx, cy in ((X0 + r, Y0 + r), (X1 - r, Y0 + r), (X0 + r, Y1 - r), (X1 - r, Y1 - r)):
        cv2.circle(big, (cx, cy), r, 255, -1)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)


def person_box(alpha: np.ndarray):
    """(x0, y0, x1, y1) of alpha ≥ 0.5, or None."""
    x, y, w, h = cv2.boundingRect((alpha >= 0.5).view(np.uint8))
    return (x, y, x + w, y + h) if w and h else None


def held_object(alpha: np.ndarray, colour, side: int):
    """The object's alpha and colour (float32 HxW, HxWx3 in [0, 1]) for a person of matte
    ``alpha`` (float32 in [0, 1]): a rounded block at ``OBJECT_ROW`` of the person's box,
    overlapping their outline on ``side`` (−1 left, +1 right) by ``OBJECT_OVERLAP`` of its
    width, so that it touches them; ``colour`` (3 floats) shaded top to bottom. None
    without a person."""
    h, w = alpha.shape
    box = person_box(alpha)
    if box is None:
        return None
    ow, oh = OBJECT_SIZE[0] * h, OBJECT_SIZE[1] * h
    cy = int(np.clip(box[1] + OBJECT_ROW * (box[3] - box[1]), oh / 2, h - oh / 2 - 1))
    cols = np.nonzero(alpha[cy] >= 0.5)[0]
    if cols.size == 0:
        return None
    edge = cols[-1] if side > 0 else cols[0]
    cx = edge + side * (0.5 - OBJECT_OVERLAP) * ow
    cx = float(np.clip(cx, ow / 2, w - ow / 2 - 1))
    a = _soft_block((h, w), cy - oh / 2, cx - ow / 2, cy + oh / 2, cx + ow / 2, 0.15 * ow)
    shade = np.linspace(1.1, 0.75, h, dtype=np.float32)[:, None, None]
    f = np.clip(np.float32(colour)[None, None, :] * shade, 0, 1) * np.ones((1, w, 1), np.float32)
    return a, f


def gap_anchors(alpha: np.ndarray, rng: np.random.Generator):
    """Where the holes go, relative to the person's box (v, u, radius as a fraction of the
    frame height): the large one at the point of the middle rows furthest inside the
    person, the small ones near the top of the head. From the first frame; [] without a
    person."""
    h = alpha.shape[0]
    box = person_box(alpha)
    if box is None:
        return []
    x0, y0, x1, y1 = box
    dist = cv2.distanceTransform((alpha >= 0.99).view(np.uint8), cv2.DIST_L2, 5)
    out = []
    for (r0, r1), radius, count in (((0.3, 0.6), ARM_GAP, 1), ((0.03, 0.15), CURL_GAP, CURLS)):
        ya, yb = y0 + int(r0 * (y1 - y0)), y0 + max(1, int(r1 * (y1 - y0)))
        band = dist[ya:yb, x0:x1]
        ys, xs = np.nonzero(band >= radius * h + 3)
        if ys.size == 0:
            continue
        if count == 1:
            k = [int(np.argmax(band[ys, xs]))]
        else:
            k = rng.choice(ys.size, min(count, ys.size), replace=False)
        for i in k:
            out.append(((ya + ys[i] - y0) / (y1 - y0), (x0 + xs[i] - x0) / (x1 - x0), radius))
    return out


def punch_gaps(alpha: np.ndarray, anchors):
    """The person's matte with the holes of ``anchors`` (see :func:`gap_anchors`) placed in
    this frame's box: each as large as fits inside the person here (none if under 2 px).
    Returns (new alpha, alpha taken away), float32."""
    h, w = alpha.shape
    box = person_box(alpha)
    hole = np.zeros((h, w), np.float32)
    if box is not None and anchors:
        x0, y0, x1, y1 = box
        dist = cv2.distanceTransform((alpha >= 0.99).view(np.uint8), cv2.DIST_L2, 5)
        for v, u, radius in anchors:
            cy, cx = y0 + v * (y1 - y0), x0 + u * (x1 - x0)
            room = float(dist[min(h - 1, int(cy)), min(w - 1, int(cx))]) - 2
            r = min(radius * h, room)
            if r >= 2:
                hole = np.maximum(hole, _soft_disc((h, w), cy, cx, r, 0.8 * r))
    new = alpha * (1 - hole)
    return new, alpha - new


def _u8(x):
    return cv2.convertScaleAbs(x, alpha=255.0)


def _far_colour(plate: np.ndarray, rng: np.random.Generator):
    """A saturated colour far from the room's mean colour (float BGR in [0, 1])."""
    mean = plate.reshape(-1, 3).mean(axis=0) / 255
    options = np.float32([[0.1, 0.2, 0.9], [0.9, 0.3, 0.1], [0.2, 0.8, 0.2], [0.9, 0.9, 0.2], [0.8, 0.2, 0.8]])
    d = np.abs(options - mean).sum(axis=1)
    return options[int(np.argmax(d + rng.uniform(0, 0.1, len(options))))]


def generate_sequence(item: dict, out: Path, size=G.SIZE, frames: int = G.FRAMES) -> Path:
    """One sequence (see the module doc); ``item`` as from :func:`matting.lab.generate.plan`."""
    w, h = size
    rng = np.random.default_rng(item["seed"])
    source, camera = item["source"], item["camera"]
    n = min(frames, len(source.names))
    start = int(rng.integers(0, len(source.names) - n + 1))
    params = {"camera": camera, "scale": float(rng.uniform(*G.SCALE_RANGE)),
              "offset": float(rng.uniform(-G.OFFSET_RANGE, G.OFFSET_RANGE) * w),
              "flicker": [float(rng.uniform(*G.FLICKER_AMP)), float(rng.uniform(0.3, 0.8)),
                          float(rng.uniform(0, 2 * np.pi))],
              "jpeg_quality": int(rng.integers(G.JPEG_Q[0], G.JPEG_Q[1] + 1)) if camera == "noisy" else 95,
              "side": int(rng.choice([-1, 1]))}
    canvas = G._cover(read_image(item["background"], InputError, "background"), w, h)
    canvas = cv2.GaussianBlur(canvas, (0, 0), G.BG_BLUR_SIGMA).astype(np.float32) * np.float32(1 / 255)
    plate = cv2.convertScaleAbs(canvas, alpha=255.0)
    colour = _far_colour(plate, rng)
    params["object_colour"] = [float(c) for c in colour]
    folder = out / item["name"]
    for sub in ("images", "alpha", "fgr", "object", "gaps"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "plate.png"), plate)
    anchors = None
    for k, name in enumerate(source.names[start:start + n]):
        fgr = read_image(G._find(source.path / "fgr", name), InputError, "foreground")
        alpha = read_image(source.path / "alpha" / f"{name}.png", InputError, "alpha", cv2.IMREAD_GRAYSCALE)
        alpha = alpha[:, :, 0] if alpha.ndim == 3 else alpha
        if fgr.shape[:2] != (h, w):
            fgr = cv2.resize(fgr, (w, h), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
        m = G._person_warp(params["scale"], params["offset"], w, h)
        fgr = cv2.warpAffine(fgr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        a = alpha.astype(np.float32) * np.float32(1 / 255)
        f = np.clip(fgr.astype(np.float32) * np.float32(1 / 255), 0, 1)
        if anchors is None:
            anchors = gap_anchors(a, rng)
        a, taken = punch_gaps(a, anchors)
        obj = held_object(a, colour, params["side"])
        ao = np.zeros_like(a) if obj is None else obj[0]
        fo = f if obj is None else obj[1]
        # The object in front of the person: A = ao + (1 − ao)·a, A·F = ao·Fo + (1 − ao)·a·F.
        big_a = ao + (1 - ao) * a
        big_f = (ao[..., None] * fo + ((1 - ao) * a)[..., None] * f) / np.maximum(big_a, 1e-6)[..., None]
        image = big_a[..., None] * big_f + (1 - big_a[..., None]) * canvas
        if camera == "noisy":
            image = G._degrade(image, k, rng, params)
        cv2.imwrite(str(folder / "images" / f"{k:05d}.jpg"), _u8(image),
                    [cv2.IMWRITE_JPEG_QUALITY, params["jpeg_quality"]])
        cv2.imwrite(str(folder / "alpha" / f"{k:05d}.png"), _u8(big_a))
        cv2.imwrite(str(folder / "fgr" / f"{k:05d}.jpg"), _u8(big_f * (big_a > 0)[..., None]),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(folder / "object" / f"{k:05d}.png"), _u8(ao))
        cv2.imwrite(str(folder / "gaps" / f"{k:05d}.png"), _u8(taken))
    meta = {"sequence": item["name"], "generator": "matting.lab.held_object", "seed": item["seed"],
            "source": source.name, "background": {"file": item["background"].name}, "size": [w, h],
            "gaps": [list(map(float, g)) for g in anchors or []], **params,
            "note": "alpha/ is the truth (person with holes, object in front); object/ the object's alpha; "
                    "gaps/ the alpha the holes took from the person; plate.png the room (no object)."}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return folder


def generate(out: Path, data: Path | None = None, limit: int | None = None, frames: int = G.FRAMES,
             size=G.SIZE, seed: int = G.SEED) -> list[Path]:
    data = Path(data) if data else default_root()
    sources = G.find_sources(data / "greenscreen")
    backgrounds = list_images(data / "backgrounds")
    if not backgrounds:
        raise InputError(f"no background photos in {data / 'backgrounds'}")
    items = [it for it in G.plan(sources, backgrounds, None, seed) if it["camera"] in CAMERAS]
    if limit is not None:  # the same share of each camera, spread over the photos
        chosen = []
        for c, camera in enumerate(CAMERAS):
            mine = [it for it in items if it["camera"] == camera]
            k = min(len(mine), limit // len(CAMERAS) + (c < limit % len(CAMERAS)))
            chosen += [mine[int(j * len(mine) / k)] for j in range(k)]
        items = sorted(chosen, key=lambda it: it["index"])
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for it in items:
        it = dict(it, name=it["name"].replace(f"-{it['camera']}", f"-held-{it['camera']}"))
        folders.append(generate_sequence(it, out, size, frames))
    return folders


# ---- scores -------------------------------------------------------------------------------
def object_iou(pred: np.ndarray, truth: np.ndarray, obj: np.ndarray, person: np.ndarray, margin: int):
    """IoU of ``pred`` ≥ 0.5 and ``truth`` ≥ 0.5 (float mattes) over the object's box grown
    by ``margin`` px, leaving out the person's own pixels (``person`` ≥ 0.5 in the truth
    without the object); None where the object is not in view."""
    box = person_box(obj)
    if box is None:
        return None
    h, w = obj.shape
    x0, y0, x1, y1 = max(0, box[0] - margin), max(0, box[1] - margin), min(w, box[2] + margin), min(h, box[3] + margin)
    region = person[y0:y1, x0:x1] < 0.5
    p, t = (pred[y0:y1, x0:x1] >= 0.5) & region, (truth[y0:y1, x0:x1] >= 0.5) & region
    union = int((p | t).sum())
    return float((p & t).sum()) / union if union else None


def gap_mad(pred: np.ndarray, truth: np.ndarray, gaps: np.ndarray, margin: int):
    """Mean |pred − truth| over the holes (``gaps`` > 0.1) grown by ``margin`` px; None
    without holes."""
    region = cv2.dilate((gaps > 0.1).view(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    return float(np.abs(pred[region] - truth[region]).mean()) if region.any() else None


def score(folders, limit: int | None = None, out=sys.stdout) -> dict:
    """Object IoU and gap MAD of ``full`` and ``known_bg`` per sequence; prints a table."""
    from ..pipeline import Pipeline

    def read(path):
        return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32) * np.float32(1 / 255)

    rows = {}
    for folder in folders:
        folder = Path(folder)
        names = [p.stem for p in list_images(folder / "images")][:limit]
        plate = cv2.imread(str(folder / "plate.png"))
        if not names or plate is None or not (folder / "object").is_dir():
            raise InputError(f"{folder}: not a held-object sequence (images/, plate.png, object/, gaps/)")
        pipes = {"full": Pipeline(), "known_bg": Pipeline()}
        pipes["known_bg"].set_background_plate(plate)
        res = {c: {"iou": [], "gap": []} for c in pipes}
        margin = max(1, round(MARGIN * plate.shape[0]))
        for name in names:
            image = cv2.imread(str(folder / "images" / f"{name}.jpg"))
            truth, obj, gaps = (read(folder / sub / f"{name}.png") for sub in ("alpha", "object", "gaps"))
            person = np.where(obj > 0, (truth - obj) / np.maximum(1 - obj, 1e-6), truth)
            for c, p in pipes.items():
                pred = p.process(image.copy())[1].astype(np.float32) * np.float32(1 / 255)
                iou, mad = object_iou(pred, truth, obj, person, margin), gap_mad(pred, truth, gaps, margin)
                if iou is not None:
                    res[c]["iou"].append(iou)
                if mad is not None:
                    res[c]["gap"].append(mad)
        rows[folder.name] = {c: {k: float(np.mean(v)) if v else None for k, v in r.items()} for c, r in res.items()}
    print("| sequence | object IoU full | object IoU known_bg | gap MAD ×1e3 full | gap MAD ×1e3 known_bg |\n"
          "|---|---:|---:|---:|---:|", file=out)

    def fmt(v, k=1.0, d=3):
        return "–" if v is None else f"{v * k:.{d}f}"

    for name, r in list(rows.items()) + [("mean", _mean(rows))]:
        print(f"| {name} | {fmt(r['full']['iou'])} | {fmt(r['known_bg']['iou'])} | "
              f"{fmt(r['full']['gap'], 1e3, 1)} | {fmt(r['known_bg']['gap'], 1e3, 1)} |", file=out)
    return rows


def _mean(rows: dict) -> dict:
    out = {}
    for c in ("full", "known_bg"):
        out[c] = {}
        for k in ("iou", "gap"):
            v = [r[c][k] for r in rows.values() if r[c][k] is not None]
            out[c][k] = float(np.mean(v)) if v else None
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m matting.lab.held_object", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write sequences to this scratch folder")
    ap.add_argument("--score", type=Path, help="score the sequences under this folder")
    ap.add_argument("--data", type=Path, default=None, help="development data (default: the shared data)")
    ap.add_argument("--limit", type=int, default=None, help="sequences to write (default: every static/noisy one)")
    ap.add_argument("--frames", type=int, default=G.FRAMES, help="frames per sequence (writing) or scored (scoring)")
    ap.add_argument("--seed", type=int, default=G.SEED)
    args = ap.parse_args(argv)
    if not args.out and not args.score:
        ap.error("give --out (write) and/or --score (score)")
    try:
        if args.out:
            if G._inside_repo(args.out):
                raise InputError(f"{args.out} is inside the repository: write generated data elsewhere")
            for f in generate(args.out, args.data, args.limit, args.frames, seed=args.seed):
                print(f"  {f.name}")
        if args.score:
            folders = sorted(p for p in args.score.iterdir() if (p / "object").is_dir())
            if not folders:
                raise InputError(f"no held-object sequences under {args.score}")
            score(folders, args.frames)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
