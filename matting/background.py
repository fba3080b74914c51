"""The new background: solid colour, image, or transparent.

A background is parsed once from its setting string and prepared once per frame size and
channel order (scaled, converted, made opaque), never per frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import BackgroundError
from .io import IMAGE_SUFFIXES, read_image


def parse_colour(spec: str) -> tuple[int, int, int]:
    """'#RRGGBB' → (r, g, b)."""
    try:
        if len(spec) != 7 or spec[0] != "#":
            raise ValueError
        return int(spec[1:3], 16), int(spec[3:5], 16), int(spec[5:7], 16)
    except ValueError:
        raise BackgroundError(f"background colour must look like #RRGGBB, got {spec!r}") from None


def fit_image(img: np.ndarray, width: int, height: int, fit: str) -> np.ndarray:
    """Scale ``img`` to width×height: ``cover`` crops (fills the frame), ``contain``
    letterboxes with black, ``stretch`` ignores the aspect ratio."""
    ih, iw = img.shape[:2]
    if fit == "stretch":
        return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    scale = (max if fit == "cover" else min)(width / iw, height / ih)
    sw, sh = max(1, round(iw * scale)), max(1, round(ih * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(img, (sw, sh), interpolation=interp)
    if fit == "cover":
        x0, y0 = (sw - width) // 2, (sh - height) // 2
        return np.ascontiguousarray(scaled[y0:y0 + height, x0:x0 + width])
    out = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - sw) // 2, (height - sh) // 2
    out[y0:y0 + sh, x0:x0 + sw] = scaled
    return out


class Background:
    """Parsed background setting; :meth:`frame` gives the prepared pixels for a frame."""

    def __init__(self, spec: str, fit: str = "cover"):
        self.spec, self.fit = spec, fit
        self._cache_key = None
        self._cache = None
        if spec == "transparent":
            self.kind, self.source = "transparent", None
        elif spec.startswith("#"):
            r, g, b = parse_colour(spec)
            self.kind, self.source = "colour", np.array([[[b, g, r]]], np.uint8)
        else:
            path = Path(spec).expanduser()
            if path.suffix.lower() not in IMAGE_SUFFIXES and path.is_file():
                raise BackgroundError(f"background must be an image ({', '.join(sorted(IMAGE_SUFFIXES))}), "
                                      f"a #RRGGBB colour or 'transparent': {path}")
            self.kind, self.source = "image", read_image(path, BackgroundError, "background image")

    @property
    def transparent(self) -> bool:
        return self.kind == "transparent"

    def frame(self, height: int, width: int, channels: int, order: str = "BGR") -> np.ndarray | None:
        """Background pixels for a frame of this size and channel order (None if
        transparent). Prepared once and cached: call it every frame."""
        if self.kind == "transparent":
            return None
        key = (height, width, channels, order)
        if key != self._cache_key:
            if self.kind == "colour":
                img = np.broadcast_to(self.source, (height, width, 3))
            else:
                img = fit_image(self.source, width, height, self.fit)
            if order == "RGB":
                img = img[:, :, ::-1]
            out = np.empty((height, width, channels), np.uint8)
            out[:, :, :3] = img
            if channels == 4:
                out[:, :, 3] = 255  # opaque: the composite covers what is behind it
            self._cache, self._cache_key = out, key
        return self._cache
