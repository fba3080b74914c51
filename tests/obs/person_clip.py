"""Person sources for the real-OBS tests and tools/obs_bench.py, made at run time.

* :func:`person_image`: the public-domain astronaut (scikit-image) filling the frame.
* :func:`moving_clip`: the astronaut, cut out with this project's own matte, moving left
  and right at constant speed over a generated room; written as an mp4 that an OBS media
  source plays in a loop (ping-pong motion, so the loop has no jump). The clip knows where
  the person is in every frame, so a screenshot tells where the picture shows the person
  and where the filter's matte put them (:func:`offsets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


def person_image(w: int, h: int) -> np.ndarray:
    """The astronaut, head and shoulders filling a w×h frame (RGB)."""
    from skimage import data

    return cv2.resize(data.astronaut(), (w, w), interpolation=cv2.INTER_AREA)[:h].copy()


def room(w: int, h: int) -> np.ndarray:
    """A generated room (RGB): a wall with a gradient and a window, a floor, shelves."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = 150 + 50 * x / w
    img[..., 1] = 130 + 30 * y / h
    img[..., 2] = 100 + 20 * np.sin(x / 37.0)
    floor = y > 0.78 * h
    img[floor] = np.stack([90 + 40 * ((x[floor] // 48 + y[floor] // 24) % 2), 60 + 0 * x[floor],
                           40 + 0 * x[floor]], axis=1)
    out = img.clip(0, 255).astype(np.uint8)
    s = max(w, h) / 1280
    cv2.rectangle(out, (int(60 * s), int(80 * s)), (int(300 * s), int(330 * s)), (200, 225, 245), -1)  # window
    cv2.rectangle(out, (int(60 * s), int(80 * s)), (int(300 * s), int(330 * s)), (60, 50, 40), max(1, int(8 * s)))
    for i in range(4):  # shelves with books
        y0 = int((120 + 90 * i) * s)
        cv2.rectangle(out, (int(w - 330 * s), y0), (int(w - 40 * s), y0 + int(10 * s)), (70, 45, 30), -1)
        for j in range(9):
            c = (int(40 + 23 * j) % 255, int(200 - 17 * j), int(60 + 31 * (i + j) % 180))
            x0 = int(w - 320 * s + j * 30 * s)
            cv2.rectangle(out, (x0, y0 - int(60 * s)), (x0 + int(22 * s), y0), c, -1)
    return out


@dataclass
class Clip:
    path: Path
    width: int
    height: int
    fps: int
    xs: list  # the person's horizontal offset in each frame (px)
    cutout: np.ndarray  # RGB of the person, cut_h × cut_w
    alpha: np.ndarray  # float32 0..1, cut_h × cut_w
    top: int  # row of the cutout's top in the frame
    background: np.ndarray  # the room, RGB h × w

    @property
    def speed(self) -> float:
        """Pixels per frame."""
        return float(abs(self.xs[1] - self.xs[0]))


def _cutout(size: int):
    """The astronaut at size×size and its matte from this project's pipeline (steady state)."""
    from skimage import data

    from matting.pipeline import Pipeline
    from matting.settings import Settings

    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    p = Pipeline(Settings(background="transparent"))
    for _ in range(8):
        _, alpha = p.process(img, order="RGB")
    return img, alpha.astype(np.float32) / 255.0


def moving_clip(path: Path, w: int, h: int, fps: int, speed: int = 8, travel: int | None = None) -> Clip:
    """Write the moving-person clip (mp4, MPEG-4 part 2) and describe it."""
    size = h
    cut, alpha = _cutout(size)
    bg = room(w, h)
    travel = travel if travel is not None else max(speed * 8, (w - size) // 2)
    n_half = max(2, travel // speed)
    x0 = (w - size) // 2 - (n_half * speed) // 2
    xs = [x0 + speed * i for i in range(n_half)] + [x0 + speed * (n_half - i) for i in range(n_half)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4 here")
    try:
        for x in xs:
            writer.write(compose(bg, cut, alpha, x, 0)[:, :, ::-1])
    finally:
        writer.release()
    return Clip(Path(path), w, h, fps, xs, cut, alpha, 0, bg)


def compose(bg: np.ndarray, cut: np.ndarray, alpha: np.ndarray, x: int, top: int) -> np.ndarray:
    """The cutout over ``bg`` with its left edge at column x (clipped at the frame)."""
    out = bg.astype(np.float32)
    h, w = bg.shape[:2]
    ch, cw = alpha.shape
    a0, a1 = max(0, -x), min(cw, w - x)
    if a1 > a0:
        a = alpha[:, a0:a1, None]
        region = out[top:top + ch, x + a0:x + a1]
        out[top:top + ch, x + a0:x + a1] = a * cut[:, a0:a1] + (1 - a) * region
    return out.round().clip(0, 255).astype(np.uint8)


def person_mask(clip: Clip, x: int) -> np.ndarray:
    """Where the person is (alpha ≥ 0.5) when the cutout's left edge is at column x."""
    m = np.zeros((clip.height, clip.width), bool)
    ch, cw = clip.alpha.shape
    a0, a1 = max(0, -x), min(cw, clip.width - x)
    if a1 > a0:
        m[clip.top:clip.top + ch, x + a0:x + a1] = clip.alpha[:, a0:a1] >= 0.5
    return m


def offsets(clip: Clip, shot: np.ndarray, replaced) -> tuple[int, int, float]:
    """Where a screenshot (RGB) shows the person's picture and where its matte is.

    ``replaced(shot) -> bool mask`` tells the pixels the filter replaced (e.g. the
    background colour). Returns (picture x, matte x, IoU of the matte at its best x):
    the picture's x is the clip position whose frame matches the shot's kept pixels best,
    the matte's x the position whose person mask best matches the kept pixels."""
    kept = ~replaced(shot)
    cands = sorted(set(clip.xs))
    frames = {x: compose(clip.background, clip.cutout, clip.alpha, x, clip.top) for x in cands}
    # The picture: compare colours on kept pixels that are surely person in the shot.
    inner = cv2.erode(kept.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    err = {x: float(np.abs(frames[x][inner].astype(np.int16) - shot[inner].astype(np.int16)).mean())
           for x in cands}
    pic_x = min(err, key=err.get)
    # The matte: the person mask (over the whole range of x, 1 px steps) that best fits.
    best, best_iou = cands[0], -1.0
    reach = 4 * int(clip.speed)
    for x in range(min(cands) - reach, max(cands) + reach + 1):
        m = person_mask(clip, x)
        inter = np.logical_and(m, kept).sum()
        iou = inter / max(1, np.logical_or(m, kept).sum())
        if iou > best_iou:
            best, best_iou = x, float(iou)
    return pic_x, best, best_iou
