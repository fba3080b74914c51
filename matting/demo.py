"""An embedded demo: no files needed from the user.

A 1280×720 clip is made from scikit-image's public-domain ``astronaut`` photo (the
person *and* her original background: flag, shuttle model) sliding over a generated
"room", and the pipeline replaces everything but the person with a generated backdrop.
"""

from __future__ import annotations

import numpy as np

WIDTH, HEIGHT = 1280, 720


def room(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A generated 'messy room' backdrop (BGR): wall gradient, a shelf, a lamp, a window."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 90 + 60 * x / width
    img[..., 1] = 110 + 40 * y / height
    img[..., 2] = 140 + 50 * (1 - x / width)
    img[int(0.62 * height):, :] = (40, 60, 90)  # floor
    img[int(0.2 * height):int(0.24 * height), 50:int(0.35 * width)] = (30, 50, 80)  # shelf
    img[int(0.1 * height):int(0.45 * height), int(0.7 * width):int(0.92 * width)] = (220, 200, 170)  # window
    lamp = (x - 0.15 * width) ** 2 + (y - 0.5 * height) ** 2 < (0.05 * width) ** 2
    img[lamp] = (120, 220, 250)
    return img.astype(np.uint8)


def backdrop(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The new background (BGR): a soft blue-violet gradient with a few bright discs."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 200 - 80 * y / height
    img[..., 1] = 60 + 60 * x / width
    img[..., 2] = 120 + 100 * y / height
    rng = np.random.default_rng(7)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 90)
        disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[disc] = 0.5 * img[disc] + 0.5 * np.array([255, 240, 200])
    return img.astype(np.uint8)


def clip(frames: int = 90, width: int = WIDTH, height: int = HEIGHT) -> list[np.ndarray]:
    """Frames (BGR) of the astronaut photo sliding left and right, bobbing a little."""
    from skimage import data  # scikit-image ships the photo: no download

    person = data.astronaut()[:, :, ::-1]  # RGB → BGR
    ph = int(0.8 * height)
    import cv2

    person = cv2.resize(person, (ph, ph), interpolation=cv2.INTER_AREA)
    base = room(width, height)
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        x0 = int((width - ph) * (0.5 + 0.4 * np.sin(2 * np.pi * t)))
        y0 = height - ph - int(10 * (1 + np.sin(6 * np.pi * t)))
        f = base.copy()
        f[y0:y0 + ph, x0:x0 + ph] = person
        out.append(f)
    return out
