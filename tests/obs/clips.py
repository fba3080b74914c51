"""Test media made at run time (nothing from ../shared): a moving person clip and stills."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def astronaut_rgb(size: int) -> np.ndarray:
    """The public-domain astronaut (scikit-image), size×size RGB."""
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def backdrop(width: int, height: int) -> np.ndarray:
    """A room-like backdrop (gradient + checker), BGR."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // width, y * 255 // height, ((x // 40 + y // 40) % 2) * 120 + 60], axis=2)
    return img.astype(np.uint8)


def moving_person_clip(path: Path, width: int = 1280, height: int = 720, fps: int = 30,
                       seconds: float = 8.0) -> Path:
    """An mp4 (mp4v) of the astronaut's head and shoulders swaying left and right over a
    backdrop, ``seconds`` long; it loops seamlessly (one full sway per clip)."""
    side = height
    person = astronaut_rgb(side)[:, :, ::-1]
    back = backdrop(width, height)
    n = max(2, int(round(fps * seconds)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    try:
        for i in range(n):
            frame = back.copy()
            x0 = int((width - side) / 2 + 0.3 * (width - side) * np.sin(2 * np.pi * i / n))
            frame[:, x0:x0 + side] = person
            writer.write(frame)
    finally:
        writer.release()
    return path
