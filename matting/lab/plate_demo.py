"""``python -m matting plate-demo``: before/after crop of the hair with a known background.

Runs the first frames of a sequence with a clean plate (``datasets.true_plate``: the
sequence's ``plate.png`` or its meta.json background) through the pipeline twice, with
and without the plate, and writes the crop around the top of the head side by side:
frame | full pipeline | with the known background, each composited onto a light
backdrop (where a leftover of the old room shows most) and enlarged 2×.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

CROP_W, CROP_H = 320, 200


def _backdrop(h: int, w: int) -> np.ndarray:
    """A light, slightly graded backdrop (BGR): leftovers of a darker room show on it."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    return (np.float32([235, 225, 210]) - 30 * y + np.zeros((h, w, 3), np.float32)).astype(np.uint8)


def demo_sequence(frames: int):
    """The embedded demo's person over its generated room, and the room as the plate:
    the astronaut (scikit-image's public-domain photo) cut from her photo by this
    pipeline's own matte, soft edge and hair included, and composited with it over
    :func:`matting.demo.room` by the pipeline (halo removal on), a little sensor noise on
    each frame. Needs no files; the "truth" is that matte (a demonstration, not an
    evaluation). Returns (frames, plate)."""
    from skimage import data

    from ..demo import HEIGHT, WIDTH, room
    from ..pipeline import Pipeline
    from .datasets import Frame

    side = int(0.8 * HEIGHT)
    person = cv2.resize(data.astronaut()[:, :, ::-1], (side, side), interpolation=cv2.INTER_AREA)
    plate = room(WIDTH, HEIGHT)
    x0, y0 = (WIDTH - side) // 2, HEIGHT - side
    with tempfile.TemporaryDirectory() as tmp:
        # The pipeline itself puts her into the room (halo removal on: no trace of the
        # photo's own background in her soft edge); its matte is the "truth".
        spot = Path(tmp) / "room.png"
        cv2.imwrite(str(spot), np.ascontiguousarray(plate[y0:y0 + side, x0:x0 + side]))
        cut = Pipeline(adaptive_rate="off", background=str(spot))
        for _ in range(3):  # a few runs: the temporal fusion settles on a still photo
            placed, alpha = cut.process(person)
    rng = np.random.default_rng(0)
    out = []
    for i in range(frames):  # a still person before a webcam: only the sensor noise moves
        image, truth = plate.copy(), np.zeros((HEIGHT, WIDTH), np.uint8)
        image[y0:y0 + side, x0:x0 + side] = placed
        image = np.clip(image + rng.normal(0, 1.5, image.shape), 0, 255).astype(np.uint8)
        truth[y0:y0 + side, x0:x0 + side] = alpha
        out.append(Frame(f"{i:05d}", image, truth))
    return out, plate


def before_after(ds, frames: int, out: Path) -> Path:
    """Write the side-by-side crop of the last of ``frames`` frames of the sequence ``ds``
    (or, for ``ds`` None, of :func:`demo_sequence`); returns its path."""
    from .datasets import true_plate

    if ds is None:
        sequence, plate = demo_sequence(frames)
        name = "the demo (astronaut over the generated room)"
    else:
        plate = true_plate(ds)
        if plate is None:
            raise InputError(f"{ds.path} has no plate.png and no meta.json background: no known background to show")
        sequence, name = ds.frames(frames), ds.name
    return _sheet(sequence, plate, name, frames, out)


def _sheet(sequence, plate, name: str, frames: int, out: Path) -> Path:
    from ..pipeline import Pipeline

    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = plate.shape[:2]
    bg_path = out.parent / "plate_demo_backdrop.png"
    from ..io import write_image

    write_image(bg_path, _backdrop(h, w))
    plain, known = Pipeline(background=str(bg_path), halo_removal=True), \
        Pipeline(background=str(bg_path), halo_removal=True)
    known.set_background_plate(plate)
    last = None
    for frame in sequence:
        a, alpha = plain.process(frame.image)
        b, _ = known.process(frame.image)
        last = (frame.image, a, b, frame.alpha)
    if last is None:
        raise InputError(f"no frames in {name}")
    image, a, b, truth = last
    ys, xs = np.nonzero(truth >= 128)
    cy, cx = int(ys.min()) + CROP_H // 3, int(np.median(xs)) - CROP_W // 2
    y0, x0 = max(0, min(h - CROP_H, cy - CROP_H // 2)), max(0, min(w - CROP_W, cx))
    tiles = [cv2.resize(t[y0:y0 + CROP_H, x0:x0 + CROP_W], None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
             for t in (image, a, b)]
    gap = np.full((tiles[0].shape[0], 8, 3), 255, np.uint8)
    sheet = np.hstack([tiles[0], gap, tiles[1], gap, tiles[2]])
    bar = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    for i, text in enumerate(("frame", "full pipeline", "with the known background")):
        cv2.putText(bar, text, (6 + i * (tiles[0].shape[1] + 8), 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                    cv2.LINE_AA)
    write_image(out, np.vstack([bar, sheet]))
    print(f"known background {known.known_background_status!r}; crop at x={x0} y={y0} of {name} "
          f"frame {frames} → {out}")
    return out


def register(subparsers) -> None:
    parser = subparsers.add_parser("plate-demo", help="before/after crop of the hair with a known background",
                                   description=__doc__.split("\n\n")[1])
    from .datasets import default_root

    parser.add_argument("sequence", nargs="?",
                        default=str(default_root() / "greenscreen" / "d0_012-indoor_a-static"),
                        help="a sequence folder with plate.png or a meta.json background "
                             "(default: the greenscreen a-static set)")
    parser.add_argument("--demo", action="store_true",
                        help="no data needed: the embedded demo's astronaut over its generated room")
    parser.add_argument("--frames", type=int, default=30, help="frames to run before the crop (default 30)")
    parser.add_argument("-o", "--output", default="out/plate_demo/before_after_known_bg.png",
                        help="image to write (default: out/plate_demo/before_after_known_bg.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .datasets import discover

    if args.frames < 1:
        raise InputError(f"--frames must be at least 1, got {args.frames}")
    before_after(None if args.demo else discover([args.sequence], "sequences")[0], args.frames, Path(args.output))
    return 0
