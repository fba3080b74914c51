"""``python -m matting people``: validation sequences from every person of the shared data.

:mod:`matting.lab.generate` puts the one person of the green-screen clips over the
background photos; constants fitted on that person are fitted to one head of hair and
one body. This module cuts out the other people the shared data has, with their masks:

* ``portraits_vikram`` and ``voc_person`` images: one person (or group) per image, moved
  and scaled over the frame (a talking head anchored at the bottom edge, or at the side
  the photo cuts it at; a whole person standing somewhere in the room, small);
* the green-screen person (``greenscreen/*/fgr``, ``alpha``): the only one with a true
  soft matte (real hair) and true foreground colour, over every case;
* ``davis/parkour`` and ``davis/dance-twirl``: a full body in real motion (its own
  consecutive frames), small (its box 5–20 % of the frame), walking across the frame.

The other masks are binary, so the truth there is *not* a true matte: the mask is scaled to
the frame and feathered by a Gaussian of ``FEATHER`` px (written in ``meta.json`` as
``truth``), and the frame is composited with exactly that alpha, ``I = α·F + (1 − α)·B``,
with ``F`` the source photo's own pixels (which carry some of their old background at
the edge, as a real edge does). The hard part is the background, one *case* per
sequence:

* ``photo``: a photo of ``backgrounds/``;
* ``stripes`` / ``checks``: black-and-white stripes or checks (period 10–40 px), the
  wall on which the edge refinement cut away hair;
* ``dark``: a wall of the person's own darkest colour (dark hair on a dark wall);
* ``backlight``: a bright window behind the head, the person darker (backlit);
* ``clutter``: a photo with shelves of small objects at the height of the shoulders.

Each frame then gets mild sensor noise and JPEG compression (a webcam). ``meta.json``
names the ``person`` (for folding by person in :mod:`matting.lab.tune`), the ``case``
(as ``camera``, so tune and eval group by it) and every drawn parameter; the same
arguments give the same files. Written to a scratch folder, never the repository.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..io import list_images, read_image
from .datasets import default_root
from .generate import _cover, size_and_out

SIZE = (1280, 720)
FRAMES = 8
SEED = 32
PERSONS = 12  # per image set (portraits_vikram, voc_person)
FEATHER = 1.0  # px at the output size: the truth's edge (the masks are binary)
CASES = ("photo", "stripes", "checks", "dark", "backlight", "clutter")
BODY_SHARE = (0.05, 0.20)  # a small person's box, share of the frame
HEAD_HEIGHT = (0.6, 0.95)  # a talking head's box height, share of the frame's height
NOISE_SIGMA = 0.008  # sensor noise, 0..1 units
JPEG_Q = (84, 93)


@dataclass
class Person:
    """One cut-out: frames of (BGR image, uint8 mask) cropped to the mask's box, and
    which of the crop's sides the source photo cut the person at."""

    name: str  # "SET/IMAGE" or "davis/SEQ": the key folds are made by
    kind: str  # "head" (cut at the bottom: a talking head) or "body" (a whole person)
    frames: list = field(default_factory=list)
    cut: tuple = (False, False, False, False)  # left, top, right, bottom
    soft: bool = False  # the mask is a true soft matte (not feathered again)


def _crop_person(image: np.ndarray, mask: np.ndarray, pad: int = 4):
    ys, xs = np.nonzero(mask > 127)
    if ys.size == 0:
        return None
    h, w = mask.shape
    x0, y0 = max(0, xs.min() - pad), max(0, ys.min() - pad)
    x1, y1 = min(w, xs.max() + 1 + pad), min(h, ys.max() + 1 + pad)
    edge = 2
    cut = (xs.min() < edge, ys.min() < edge, xs.max() >= w - edge, ys.max() >= h - edge)
    return image[y0:y1, x0:x1], mask[y0:y1, x0:x1], cut


def _pick(names: list[str], n: int) -> list[str]:
    """``n`` names spread evenly over the sorted list."""
    if n >= len(names):
        return names
    return [names[int((j + 0.5) * len(names) / n)] for j in range(n)]


def find_people(data: Path, persons: int = PERSONS) -> list[Person]:
    """The people of the shared data: ``persons`` per image set whose person covers
    8–70 % of the photo (and that the photo does not cut at the top), and each DAVIS sequence (its first 40 frames)."""
    out: list[Person] = []
    for set_name in ("portraits_vikram", "voc_person"):
        folder = data / set_name
        if not (folder / "alpha").is_dir():
            continue
        usable = []
        for p in sorted((folder / "alpha").glob("*.png")):
            m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            share = float(np.count_nonzero(m > 127)) / m.size if m is not None else 0
            if 0.08 <= share <= 0.7:
                usable.append(p.stem)
        first = _pick(usable, persons)
        spare = [u for u in _pick(usable, 3 * persons) if u not in first]  # if some of the first do not fit
        for stem in first + spare:
            if sum(p.name.startswith(f"{set_name}/") for p in out) >= persons:
                break
            img_path = next((folder / "images" / f"{stem}{s}" for s in (".jpg", ".png", ".jpeg")
                             if (folder / "images" / f"{stem}{s}").is_file()), None)
            if img_path is None:
                continue
            image = read_image(img_path, InputError, "image")
            mask = read_image(folder / "alpha" / f"{stem}.png", InputError, "mask", cv2.IMREAD_GRAYSCALE)
            got = _crop_person(image, mask)
            if got is None:
                continue
            img, m, cut = got
            if cut[1] or (not cut[3] and (cut[0] or cut[2])):
                continue  # cut at the top, or at a side but not the bottom: no natural place in a frame
            kind = "head" if cut[3] else "body"
            if cut[0] and cut[2] and m.shape[0] * SIZE[0] / m.shape[1] > 1.2 * SIZE[1]:
                continue  # as wide as the frame, the head would be far above it
            out.append(Person(f"{set_name}/{stem}", kind, [(img, m)], cut))
    # The green-screen person: the one with a true soft matte (real hair), and the true
    # foreground colour; over the hard cases, it shows what a binary mask cannot.
    gs = data / "greenscreen"
    sources = sorted(p for p in gs.iterdir() if (p / "fgr").is_dir() and (p / "alpha").is_dir()) if gs.is_dir() else []
    if sources:
        frames = []
        for p in sorted((sources[0] / "alpha").glob("*.png"))[:40]:
            fgr = next((sources[0] / "fgr" / f"{p.stem}{s}" for s in (".jpg", ".png")
                        if (sources[0] / "fgr" / f"{p.stem}{s}").is_file()), None)
            if fgr is None:
                continue
            got = _crop_person(read_image(fgr), read_image(p, flags=cv2.IMREAD_GRAYSCALE))
            if got is not None:
                frames.append(got[:2])
                cut = got[2]
        if frames:
            out.append(Person("greenscreen", "head", frames, cut, soft=True))
    davis = sorted(p for p in (data / "davis").iterdir() if (p / "alpha").is_dir()) if (data / "davis").is_dir() else []
    for folder in davis:
        seq = folder.name
        frames = []
        for p in sorted((folder / "alpha").glob("*.png"))[:40]:
            img_path = next((folder / "images" / f"{p.stem}{s}" for s in (".jpg", ".png")
                             if (folder / "images" / f"{p.stem}{s}").is_file()), None)
            if img_path is None:
                continue
            got = _crop_person(read_image(img_path), read_image(p, flags=cv2.IMREAD_GRAYSCALE))
            if got is not None:
                frames.append(got[:2])
        if frames:
            out.append(Person(f"davis/{seq}", "body", frames))
    return out


def plan(people: list[Person], backgrounds: list[Path], per_head: int = 2, per_body: int = 2,
         seed: int = SEED) -> list[dict]:
    """Sequences: every talking head over ``per_head`` cases, every whole person small
    over ``per_body`` cases; the cases cycle so that each meets every kind of person."""
    items, k = [], 0
    for p in people:
        # The one person with a true soft matte meets every case.
        for j in range(len(CASES) if p.soft else per_head if p.kind == "head" else per_body):
            case = CASES[k % len(CASES)]
            bg = backgrounds[(k * 7) % len(backgrounds)] if backgrounds else None
            tag = p.name.replace("/", "-")
            items.append({"index": k, "name": f"p{k:03d}-{tag}-{case}" + ("-small" if p.kind == "body" else ""),
                          "person": p, "case": case, "background": bg, "seed": seed * 1000 + k})
            k += 1
    return items


def _stripes(w: int, h: int, rng: np.random.Generator, checks: bool) -> np.ndarray:
    period = float(rng.uniform(10, 40))
    angle = float(rng.choice([0.0, 90.0, 45.0, 20.0]))
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    t = math.radians(angle)
    u = xx * math.cos(t) + yy * math.sin(t)
    s = (np.floor(u / (period / 2)) % 2).astype(np.float32)
    if checks:
        v = -xx * math.sin(t) + yy * math.cos(t)
        s = np.abs(s - (np.floor(v / (period / 2)) % 2))
    lo, hi = float(rng.uniform(0.0, 0.08)), float(rng.uniform(0.85, 1.0))
    g = cv2.GaussianBlur(lo + (hi - lo) * s, (0, 0), 0.7)
    return np.repeat(g[:, :, None], 3, axis=2)


def _darkest(person: Person) -> np.ndarray:
    """The person's dark colour (10th percentile of the top third's pixels), 0..1 BGR."""
    img, m = person.frames[0]
    top = m[: max(1, m.shape[0] // 3)] > 127
    px = img[: top.shape[0]][top]
    if px.size == 0:
        px = img[m > 127]
    lum = px.astype(np.float32).sum(axis=1)
    dark = px[lum <= np.percentile(lum, 10)]
    return dark.astype(np.float32).mean(axis=0) / 255


def _background(case: str, photo: np.ndarray | None, person: Person, w: int, h: int, head_box,
                rng: np.random.Generator) -> np.ndarray:
    """The room for one case, float32 0..1 BGR (h, w, 3)."""
    base = (_cover(photo, w, h).astype(np.float32) / 255) if photo is not None else np.full((h, w, 3), 0.5, np.float32)
    if case in ("stripes", "checks"):
        return _stripes(w, h, rng, case == "checks")
    if case == "dark":
        colour = _darkest(person) * np.float32(rng.uniform(0.8, 1.2))
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        shade = 1 + 0.15 * (xx / w - 0.5) + 0.1 * (yy / h - 0.5)  # a lit corner, not a flat fill
        return np.clip(colour[None, None, :] * shade[:, :, None] + 0.01, 0, 1).astype(np.float32)
    if case == "backlight":
        x0, y0, x1, y1 = head_box
        cx = (x0 + x1) / 2 + rng.uniform(-0.1, 0.1) * w
        ww, wh = rng.uniform(0.35, 0.6) * w, rng.uniform(0.4, 0.6) * h
        room = base * np.float32(rng.uniform(0.4, 0.7))
        win = np.zeros((h, w), np.float32)
        wx0, wy0 = int(max(0, cx - ww / 2)), int(max(0, y0 - 0.1 * h))
        win[wy0:int(wy0 + wh), wx0:int(wx0 + ww)] = 1
        bars = int(rng.integers(1, 3))  # window frame bars
        for b in range(1, bars + 1):
            bx = int(wx0 + b * ww / (bars + 1))
            win[wy0:int(wy0 + wh), max(0, bx - 4):bx + 4] = 0
        win = cv2.GaussianBlur(win, (0, 0), 3)
        sky = np.array([0.98, 0.97, 0.93], np.float32) * np.float32(rng.uniform(0.95, 1.0))
        return room * (1 - win[:, :, None]) + sky * win[:, :, None]
    if case == "clutter":
        out = base.copy()
        x0, y0, x1, y1 = head_box
        shoulder = y0 + 0.55 * (y1 - y0)
        for _ in range(int(rng.integers(30, 60))):
            side = rng.choice([-1, 1])
            cx = (x0 if side < 0 else x1) + side * rng.uniform(-0.08, 0.2) * w
            cy = shoulder + rng.normal(0, 0.12) * h
            sw, sh = rng.uniform(0.01, 0.06) * w, rng.uniform(0.02, 0.12) * h
            colour = tuple(float(c) for c in rng.uniform(0, 1, 3))
            if rng.random() < 0.6:
                cv2.rectangle(out, (int(cx - sw / 2), int(cy - sh / 2)), (int(cx + sw / 2), int(cy + sh / 2)), colour, -1)
            else:
                cv2.ellipse(out, (int(cx), int(cy)), (max(1, int(sw / 2)), max(1, int(sh / 2))), 0, 0, 360, colour, -1)
        return cv2.GaussianBlur(out, (0, 0), 0.8)
    return cv2.GaussianBlur(base, (0, 0), 1.0)


def _placement(person: Person, w: int, h: int, rng: np.random.Generator) -> dict:
    """Scale and position of the cut-out at t = 0, and how it moves."""
    img, m = person.frames[0]
    ch, cw = m.shape
    if person.kind == "head":
        left, top, right, _ = person.cut
        scale = rng.uniform(*HEAD_HEIGHT) * h / ch
        if left and right:
            scale = max(scale, 1.04 * w / cw)  # cut at both sides: it fills the width
        amp = float(rng.uniform(0.02, 0.05) * w)
        if left and not right:
            x0 = -amp - 0.02 * w
        elif right and not left:
            x0 = w + amp + 0.02 * w - cw * scale
        elif left and right:
            x0 = (w - cw * scale) / 2
        else:
            x0 = rng.uniform(0.1, 0.9) * w - cw * scale / 2
        y1 = h + 0.02 * h  # the body leaves the frame at the bottom
        return {"scale": float(scale), "x0": float(x0), "y1": float(y1), "amp": amp,
                "hz": float(rng.uniform(0.5, 1.2)), "phase": float(rng.uniform(0, 2 * math.pi)),
                "zoom": float(rng.uniform(-0.06, 0.06)), "walk": 0.0}
    boxes = [fm[1].shape for fm in person.frames]
    bh, bw = np.median([b[0] for b in boxes]), np.median([b[1] for b in boxes])
    share = rng.uniform(*BODY_SHARE)
    scale = math.sqrt(share * w * h / (bw * bh))
    scale = min(scale, 0.9 * h / bh)
    walk = float(rng.choice([-1, 1]) * rng.uniform(0.1, 0.25) * w)  # over the sequence
    cx = rng.uniform(0.25, 0.75) * w
    y1 = rng.uniform(0.75, 0.97) * h
    return {"scale": float(scale), "x0": float(cx - bw * scale / 2 - walk / 2), "y1": float(y1), "amp": 0.0,
            "hz": 0.0, "phase": 0.0, "zoom": 0.0, "walk": walk, "share": float(share)}


def _paste(img: np.ndarray, m: np.ndarray, scale: float, x0: float, y1: float, w: int, h: int,
           feather: float = FEATHER):
    """The cut-out scaled and placed (bottom at ``y1``, left at ``x0``): F (float 0..1)
    and the feathered truth alpha (float 0..1), frame-sized."""
    mat = np.float32([[scale, 0, x0], [0, scale, y1 - m.shape[0] * scale]])
    f = cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Replicated borders: where the source cut the person, the body goes on past the cut
    # (placed outside the frame); the crop's other sides are background (mask 0).
    a = cv2.warpAffine(m, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = a.astype(np.float32) / 255
    if feather > 0:
        a = cv2.GaussianBlur(a, (0, 0), feather)
    return f.astype(np.float32) / 255, a


def generate_sequence(item: dict, out: Path, size: tuple[int, int] = SIZE, frames: int = FRAMES) -> Path:
    w, h = size
    rng = np.random.default_rng(item["seed"])
    person: Person = item["person"]
    case = item["case"]
    place = _placement(person, w, h, rng)
    start = int(rng.integers(0, max(1, len(person.frames) - frames + 1)))
    # The head's box at t = 0, for the window and the clutter.
    m0 = person.frames[start % len(person.frames)][1]
    hb = (place["x0"], place["y1"] - m0.shape[0] * place["scale"], place["x0"] + m0.shape[1] * place["scale"],
          place["y1"])
    head_box = (hb[0], hb[1], hb[2], hb[1] + min(hb[3] - hb[1], 0.5 * h)) if person.kind == "head" else hb
    photo = read_image(item["background"], InputError, "background") if item["background"] is not None else None
    room = _background(case, photo, person, w, h, head_box, rng)
    fg_gain = float(rng.uniform(0.55, 0.75)) if case == "backlight" else float(rng.uniform(0.92, 1.05))
    quality = int(rng.integers(JPEG_Q[0], JPEG_Q[1] + 1))
    folder = out / item["name"]
    for sub in ("images", "alpha", "fgr"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    shares = []
    for k in range(frames):
        t = k / max(1, frames - 1)
        img, m = person.frames[(start + k) % len(person.frames)]
        s = place["scale"] * (1 + place["zoom"] * t)
        x0 = place["x0"] + place["walk"] * t + place["amp"] * math.sin(2 * math.pi * place["hz"] * k / 25 + place["phase"])
        if person.kind == "head":
            x0 -= (s - place["scale"]) * m.shape[1] / 2  # zoom about the cut-out's centre
        else:
            x0 += (place["scale"] - s) * m.shape[1] / 2
            x0 -= (m.shape[1] - person.frames[start][1].shape[1]) * s / 2  # keep the body's centre on its path
        f, a = _paste(img, m, s, x0, place["y1"], w, h, 0.0 if person.soft else FEATHER)
        f = np.clip(f * np.float32(fg_gain), 0, 1)
        a3 = a[:, :, None]
        image = a3 * f + (1 - a3) * room
        image = image + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(NOISE_SIGMA)
        image_u8 = cv2.convertScaleAbs(image, alpha=255.0)
        alpha_u8 = cv2.convertScaleAbs(a, alpha=255.0)
        shares.append(float(np.count_nonzero(alpha_u8 >= 128)) / alpha_u8.size)
        cv2.imwrite(str(folder / "images" / f"{k:05d}.jpg"), image_u8, [cv2.IMWRITE_JPEG_QUALITY, quality])
        cv2.imwrite(str(folder / "alpha" / f"{k:05d}.png"), alpha_u8)
        cv2.imwrite(str(folder / "fgr" / f"{k:05d}.jpg"), cv2.convertScaleAbs(f * (a3 > 0), alpha=255.0),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
    meta = {"sequence": item["name"], "generator": "matting.lab.people", "seed": item["seed"],
            "person": person.name, "kind": person.kind, "case": case, "camera": case,
            "background": {"file": item["background"].name if item["background"] is not None and case in
                           ("photo", "clutter", "backlight") else None},
            "size": [w, h], "start_frame": start, "fg_gain": fg_gain, "jpeg_quality": quality,
            "noise_sigma": NOISE_SIGMA, "person_share": [round(v, 4) for v in shares], **place,
            "truth": "the green-screen clip's own soft alpha (a true matte), scaled; I = a*F + (1-a)*B with F its "
                     "true foreground colour, then noise and JPEG" if person.soft else
                     f"the source's binary person mask, scaled and feathered by a Gaussian of sigma {FEATHER} px: "
                     "not a true matte (hair is as coarse as the mask); the frame is composited with exactly it, "
                     "I = a*F + (1-a)*B, F = the source photo's pixels, then noise and JPEG"}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return folder


def generate(out: Path, data: Path | None = None, persons: int = PERSONS, frames: int = FRAMES,
             size: tuple[int, int] = SIZE, seed: int = SEED, per_head: int = 2, per_body: int = 2,
             limit: int | None = None, progress=None) -> list[Path]:
    data = Path(data) if data else default_root()
    if frames < 2:
        raise InputError(f"--frames must be at least 2, got {frames}")
    people = find_people(data, persons)
    if not people:
        raise InputError(f"no people found under {data} (portraits_vikram/, voc_person/, davis/)")
    backgrounds = list_images(data / "backgrounds") if (data / "backgrounds").is_dir() else []
    items = plan(people, backgrounds, per_head, per_body, seed)
    if limit is not None:
        items = items[:: max(1, math.ceil(len(items) / limit))][:limit]
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for item in items:
        folders.append(generate_sequence(item, out, size, frames))
        if progress:
            progress(item["name"])
    return folders


# ---- command line --------------------------------------------------------------------------
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "people", help="build validation sequences from every person of the shared data (hard backgrounds, "
                       "small whole bodies)", description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", metavar="DIR", help="scratch folder (default: a new temporary folder); never "
                                                     "inside the repository")
    parser.add_argument("--data", metavar="DIR", help=f"the shared data (default: {default_root()})")
    parser.add_argument("--persons", type=int, default=PERSONS, metavar="N",
                        help=f"people per image set (default {PERSONS}); DAVIS adds its two")
    parser.add_argument("--per-person", type=int, default=2, metavar="N", help="sequences per person (default 2)")
    parser.add_argument("--limit", type=int, metavar="N", help="only N sequences, spread over the list")
    parser.add_argument("--frames", type=int, default=FRAMES, metavar="N", help=f"frames per sequence (default {FRAMES})")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", metavar="WxH", help="frame size")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    w, h, out = size_and_out(args, "matting_people_")
    folders = generate(out, Path(args.data) if args.data else None, args.persons, args.frames, (w, h), args.seed,
                       args.per_person, args.per_person, args.limit, progress=lambda name: print(f"  {name}"))
    print(f"{len(folders)} sequence(s) of {args.frames} frames at {w}x{h} in {out}")
    print(f"score them: python -m matting eval {out}")
    return 0
