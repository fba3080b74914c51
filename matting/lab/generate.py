"""``python -m matting generate``: more evaluation sequences, built at run time.

The shared green-screen sequences are one keyed person (``greenscreen/*/fgr`` = true
foreground colour, ``alpha/`` = the exact alpha) composited onto three photos. This
module makes more of the same kind: every foreground source over every photo of
``backgrounds/`` (the busy, high-contrast ones included), through one of three cameras,
as the shared ones were made::

    I = α·F + (1 − α)·B          then, for the "noisy" camera, flicker + noise + JPEG

* ``static``: the background still (a little depth-of-field blur), the person as filmed;
* ``panzoom``: a slow pan and zoom over a larger background canvas, the person shifting
  a little with the camera (parallax);
* ``noisy``: static, then brightness flicker, signal-dependent sensor noise and JPEG
  compression of the whole frame (the truth stays the compositing alpha).

Each sequence gets its own person scale (anchored at the bottom edge, so the body still
leaves the frame there) and horizontal offset. Everything is drawn from one seeded
generator per sequence: the same arguments give the same files. The output has the
layout :mod:`matting.lab.datasets` reads (``NAME/images``, ``alpha``, ``fgr``,
``meta.json``), so ``python -m matting eval OUT`` scores it. It is written to a scratch
folder (default: a new temporary folder), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..io import list_images, read_image
from .datasets import default_root

CAMERAS = ("static", "panzoom", "noisy")
SIZE = (1280, 720)
FRAMES = 24
SEED = 10
BG_BLUR_SIGMA = 1.2  # the shared sequences' depth of field
PAN_CANVAS = 1.25  # the background canvas of a pan/zoom camera, × the frame
ZOOM = 0.12  # zoom in over the sequence (fraction of the frame)
PARALLAX = 0.35  # the person moves this fraction of the background's pan
SCALE_RANGE = (0.75, 1.1)  # person size, relative to the source footage
OFFSET_RANGE = 0.15  # horizontal offset, ± fraction of the frame width
FLICKER_AMP = (0.015, 0.035)
NOISE = (0.012, 0.0006)  # σ² = a² + b·x per channel (x in [0, 1])
JPEG_Q = (80, 92)


@dataclass(frozen=True)
class Source:
    """One foreground: a folder with ``fgr/`` and ``alpha/`` frames of one size."""

    name: str
    path: Path
    names: tuple[str, ...]


def find_sources(greenscreen: Path) -> list[Source]:
    """The folders under ``greenscreen`` with ``fgr/`` and ``alpha/`` (sorted)."""
    if not greenscreen.is_dir():
        raise InputError(f"green-screen folder not found: {greenscreen}")
    out = []
    for folder in sorted(p for p in greenscreen.iterdir() if p.is_dir()):
        if (folder / "fgr").is_dir() and (folder / "alpha").is_dir():
            names = tuple(sorted(p.stem for p in (folder / "alpha").glob("*.png")))
            if names and all(_find(folder / "fgr", n) for n in names):
                out.append(Source(folder.name, folder, names))
    if not out:
        raise InputError(f"no foreground sources (folders with fgr/ and alpha/) in {greenscreen}")
    return out


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in (".png", ".jpg", ".jpeg"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def plan(sources: list[Source], backgrounds: list[Path], limit: int | None = None,
         seed: int = SEED) -> list[dict]:
    """One sequence per background photo; source and camera cycle so that each
    camera meets every kind of photo. ``limit`` keeps an evenly spread subset (same
    seed → same subset)."""
    items = []
    for i, bg in enumerate(backgrounds):
        camera = CAMERAS[i % len(CAMERAS)]
        source = sources[(i // len(CAMERAS)) % len(sources)]
        items.append({"index": i, "name": f"g{i:02d}-{bg.stem}-{camera}", "background": bg,
                      "source": source, "camera": camera, "seed": seed * 1000 + i})
    if limit is not None and limit < len(items):
        chosen = []
        for c, camera in enumerate(CAMERAS):  # the same share of each camera, spread over the photos
            mine = [it for it in items if it["camera"] == camera]
            k = min(len(mine), limit // len(CAMERAS) + (c < limit % len(CAMERAS)))
            chosen += [mine[int((j + (c + 1) / (len(CAMERAS) + 1)) * len(mine) / k)] for j in range(k)]
        items = sorted(chosen, key=lambda it: it["index"])
    return items


def _cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale to cover w×h and centre-crop."""
    s = max(w / img.shape[1], h / img.shape[0])
    nw, nh = max(w, math.ceil(img.shape[1] * s)), max(h, math.ceil(img.shape[0] * s))
    big = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return big[y0:y0 + h, x0:x0 + w]


def _person_warp(scale: float, dx: float, w: int, h: int) -> np.ndarray:
    """Affine matrix: scale about the bottom centre, then shift by dx."""
    cx, cy = w / 2, h
    return np.float32([[scale, 0, cx - scale * cx + dx], [0, scale, cy - scale * cy]])


def _background_frame(canvas: np.ndarray, t: float, w: int, h: int, params: dict) -> np.ndarray:
    """The camera's view of the background at time t ∈ [0, 1]."""
    if params["camera"] != "panzoom":
        return canvas
    ch, cw = canvas.shape[:2]
    zoom = 1 - ZOOM * (0.5 - 0.5 * math.cos(math.pi * t))  # eased zoom-in
    vw, vh = cw / PAN_CANVAS * zoom, ch / PAN_CANVAS * zoom
    px, py = params["pan"]
    cx = cw / 2 + px * (t - 0.5) * (cw - vw)
    cy = ch / 2 + py * (t - 0.5) * (ch - vh)
    m = np.float32([[vw / w, 0, cx - vw / 2], [0, vh / h, cy - vh / 2]])
    return cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _degrade(frame: np.ndarray, t_index: int, rng: np.random.Generator, params: dict) -> np.ndarray:
    """Brightness flicker and signal-dependent sensor noise (float in [0, 1] → uint8)."""
    amp, hz, phase = params["flicker"]
    gain = 1 + amp * math.sin(2 * math.pi * hz * t_index / 25 + phase) + rng.normal(0, amp / 4)
    x = np.clip(frame * gain, 0, 1)
    a, b = NOISE
    noise = rng.standard_normal(x.shape, dtype=np.float32) * np.sqrt(a * a + b * x)
    return cv2.GaussianBlur(x + noise, (0, 0), 0.6)


def generate_sequence(item: dict, out: Path, size: tuple[int, int] = SIZE, frames: int = FRAMES) -> Path:
    """Write one sequence (see the module doc); returns its folder."""
    w, h = size
    rng = np.random.default_rng(item["seed"])
    source: Source = item["source"]
    camera = item["camera"]
    n = min(frames, len(source.names))
    start = int(rng.integers(0, len(source.names) - n + 1))
    params = {"camera": camera,
              "scale": float(rng.uniform(*SCALE_RANGE)),
              "offset": float(rng.uniform(-OFFSET_RANGE, OFFSET_RANGE) * w),
              "pan": [float(rng.choice([-1, 1]) * rng.uniform(0.5, 1)), float(rng.uniform(-0.4, 0.4))],
              "fg_gain": float(rng.uniform(0.92, 1.05)),
              "flicker": [float(rng.uniform(*FLICKER_AMP)), float(rng.uniform(0.3, 0.8)),
                          float(rng.uniform(0, 2 * math.pi))],
              "jpeg_quality": int(rng.integers(JPEG_Q[0], JPEG_Q[1] + 1)) if camera == "noisy" else 95}
    photo = read_image(item["background"], InputError, "background")
    canvas_scale = PAN_CANVAS if camera == "panzoom" else 1.0
    canvas = _cover(photo, round(w * canvas_scale), round(h * canvas_scale))
    canvas = cv2.GaussianBlur(canvas, (0, 0), BG_BLUR_SIGMA).astype(np.float32) * np.float32(1 / 255)

    folder = out / item["name"]
    for sub in ("images", "alpha", "fgr"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    names = source.names[start:start + n]
    # The clean plate: the room as the camera saw it at the first frame, without noise,
    # flicker or JPEG (what a captured plate averages to); a moving camera leaves it.
    plate = cv2.convertScaleAbs(_background_frame(canvas, 0.0, w, h, params), alpha=255.0)
    cv2.imwrite(str(folder / "plate.png"), plate)
    for k, name in enumerate(names):
        t = k / max(1, n - 1)
        fgr = read_image(_find(source.path / "fgr", name), InputError, "foreground")
        alpha = read_image(source.path / "alpha" / f"{name}.png", InputError, "alpha", cv2.IMREAD_GRAYSCALE)
        if alpha.ndim == 3:
            alpha = alpha[:, :, 0]
        if fgr.shape[:2] != (h, w):
            fgr = cv2.resize(fgr, (w, h), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
        dx = params["offset"]
        if camera == "panzoom":
            dx -= PARALLAX * params["pan"][0] * (t - 0.5) * (PAN_CANVAS - 1) * w
        m = _person_warp(params["scale"], dx, w, h)
        fgr = cv2.warpAffine(fgr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Border replication: below the frame the body goes on; the source's other edges are background.
        a = alpha.astype(np.float32)[:, :, None] * np.float32(1 / 255)
        f = np.clip(fgr.astype(np.float32) * np.float32(params["fg_gain"] / 255), 0, 1)
        bg = _background_frame(canvas, t, w, h, params)
        image = a * f + (1 - a) * bg
        if camera == "noisy":
            image = _degrade(image, k, rng, params)
        image_u8 = cv2.convertScaleAbs(image, alpha=255.0)
        cv2.imwrite(str(folder / "images" / f"{k:05d}.jpg"), image_u8,
                    [cv2.IMWRITE_JPEG_QUALITY, params["jpeg_quality"]])
        cv2.imwrite(str(folder / "alpha" / f"{k:05d}.png"), alpha)
        fg_out = cv2.convertScaleAbs(f * (a > 0), alpha=255.0)
        cv2.imwrite(str(folder / "fgr" / f"{k:05d}.jpg"), fg_out, [cv2.IMWRITE_JPEG_QUALITY, 95])
    meta = {"sequence": item["name"], "generator": "matting.lab.generate", "seed": item["seed"],
            "source": source.name, "source_frames": list(names), "background": {"file": item["background"].name},
            "size": [w, h], "camera": camera, "bg_blur_sigma": BG_BLUR_SIGMA, **params,
            "note": "alpha/NNNNN.png is exactly the alpha used for compositing I=aF+(1-a)B "
                    "before flicker/noise/JPEG (noisy camera); fgr/ is F (black where alpha is 0); "
                    "plate.png is B at the first frame (the clean plate, for known-background matting)."}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    return folder


def generate(out: Path, data: Path | None = None, limit: int | None = None, frames: int = FRAMES,
             size: tuple[int, int] = SIZE, seed: int = SEED, progress=None) -> list[Path]:
    """Every sequence of :func:`plan` under ``out``; returns their folders."""
    data = Path(data) if data else default_root()
    sources = find_sources(data / "greenscreen")
    backgrounds = list_images(data / "backgrounds")
    if not backgrounds:
        raise InputError(f"no background photos in {data / 'backgrounds'}")
    if frames < 2:
        raise InputError(f"--frames must be at least 2, got {frames}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for item in plan(sources, backgrounds, limit, seed):
        folders.append(generate_sequence(item, out, size, frames))
        if progress:
            progress(item["name"])
    return folders


def _inside_repo(path: Path) -> bool:
    repo = Path(__file__).resolve().parents[2]
    try:
        path.resolve().relative_to(repo)
    except ValueError:
        return False
    return (repo / ".git").exists()


# ---- command line --------------------------------------------------------------------------
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="build extra evaluation sequences (green-screen people over the background photos)",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", metavar="DIR", help="scratch folder to write to (default: a new temporary "
                                                     "folder); never inside the repository")
    parser.add_argument("--data", metavar="DIR", help=f"development data with greenscreen/ and backgrounds/ "
                                                      f"(default: {default_root()})")
    parser.add_argument("--limit", type=int, metavar="N", help="only N sequences, spread over the photos "
                                                               "and cameras (default: one per photo)")
    parser.add_argument("--frames", type=int, default=FRAMES, metavar="N", help=f"frames per sequence "
                                                                                f"(default {FRAMES})")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", metavar="WxH",
                        help=f"frame size (default {SIZE[0]}x{SIZE[1]})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.set_defaults(func=run)


def size_and_out(args: argparse.Namespace, prefix: str) -> tuple[int, int, Path]:
    """A generator's --size and --out checked: (w, h, the scratch folder outside the
    repository, a new temporary one by default)."""
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 1280x720, got {args.size!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise InputError(f"--size must be 16..4096 per side, got {args.size}")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix=prefix))
    if _inside_repo(out):
        raise InputError(f"--out {out} is inside the repository: give a scratch folder outside it")
    return w, h, out


def run(args: argparse.Namespace) -> int:
    w, h, out = size_and_out(args, "matting_gen_")
    folders = generate(out, Path(args.data) if args.data else None, args.limit, args.frames, (w, h), args.seed,
                       progress=lambda name: print(f"  {name}"))
    print(f"{len(folders)} sequence(s) of {args.frames} frames at {w}x{h} in {out}")
    print(f"score them: python -m matting eval {out}")
    return 0
