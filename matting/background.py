"""The new background: image, looping video, blur of the real background, solid colour,
or transparent.

A background is parsed once from its setting string. Still ones (image, colour) are
prepared once per frame size and channel order (scaled, converted, made opaque), never
per frame; a video gives its next frame and a blur is made from the current frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import BackgroundError
from .io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from .resize import shrink


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

    def __init__(self, spec: str, fit: str = "cover", blur_strength: float = 0.5):
        self.spec, self.fit, self.blur_strength = spec, fit, blur_strength
        self._cache_key = None
        self._cache = None
        self._stamp = None  # the file's (mtime, size) when loaded: see `outdated`
        if spec == "transparent":
            self.kind, self.source = "transparent", None
        elif spec == "blur":
            self.kind, self.source = "blur", None
        elif spec.startswith("#"):
            r, g, b = parse_colour(spec)
            self.kind, self.source = "colour", np.array([[[b, g, r]]], np.uint8)
        else:
            path = Path(spec).expanduser()
            self._stamp = _file_stamp(path)
            suffix = path.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                self.kind, self.source = "video", _open_video(path)
            elif suffix in IMAGE_SUFFIXES or not path.is_file():
                self.kind, self.source = "image", read_image(path, BackgroundError, "background image")
            else:
                raise BackgroundError(f"background must be an image or a video ({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))}), "
                                      f"'blur', a #RRGGBB colour or 'transparent': {path}")

    @property
    def outdated(self) -> bool:
        """True if the image/video file was replaced or deleted since it was loaded
        (a caller applying settings again should then load it again)."""
        return self._stamp is not None and _file_stamp(Path(self.spec).expanduser()) != self._stamp

    @property
    def dynamic(self) -> bool:
        """True if the pixels change every frame (video, blur)."""
        return self.kind in ("video", "blur")

    def close(self) -> None:
        if self.kind == "video":
            self.source.release()

    @property
    def transparent(self) -> bool:
        return self.kind == "transparent"

    @property
    def uniform(self) -> bool:
        """True if every row of :meth:`frame` is the same (a solid colour): the
        composite then reads one row instead of the whole frame."""
        return self.kind == "colour"

    def frame(self, height: int, width: int, channels: int, order: str = "BGR",
              image: np.ndarray | None = None) -> np.ndarray | None:
        """Background pixels for a frame of this size and channel order (None if
        transparent). Call it every frame: still backgrounds are prepared once and cached;
        ``image`` (the current frame) is needed for "blur"."""
        if self.kind == "transparent":
            return None
        key = (height, width, channels, order)
        if self.kind == "blur":
            return self._blurred(image, channels, key)
        if key != self._cache_key or self.kind == "video":
            if self.kind == "colour":
                img = np.broadcast_to(self.source, (height, width, 3))
            elif self.kind == "video":
                img = fit_image(self._next_video_frame(), width, height, self.fit)
            else:
                img = fit_image(self.source, width, height, self.fit)
            if order == "RGB":
                img = img[:, :, ::-1]
            out = self._cache if self._cache_key == key else np.empty((height, width, channels), np.uint8)
            out[:, :, :3] = img
            if channels == 4:
                out[:, :, 3] = 255  # opaque: the composite covers what is behind it
            self._cache, self._cache_key = out, key
        return self._cache

    def _next_video_frame(self) -> np.ndarray:
        ok, frame = self.source.read()
        if not ok:  # end of the clip: loop
            self.source.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.source.read()
            if not ok:
                raise BackgroundError(f"background video stopped giving frames: {self.spec}")
        return frame

    def blur_small(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The "blur" background at ``size`` (width, height: 1/8 of the frame), 3 channels
        in the image's order, from ``image`` (the frame, or the frame already shrunk: an
        area average of an area average is the same). A blur that wide looks the same
        computed small, at 1/64 of the cost; the caller upsamples it (bilinear)."""
        # All channels, then drop a 4th: a strided 3-of-4 view is copied slowly by OpenCV.
        small = shrink(image, size)
        small = np.ascontiguousarray(small[:, :, :3])
        sigma = 0.5 + 6.0 * self.blur_strength
        return cv2.GaussianBlur(small, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)

    def _blurred(self, image: np.ndarray | None, channels: int, key) -> np.ndarray:
        """The current frame, strongly blurred (:meth:`blur_small`, upsampled)."""
        if image is None:
            raise BackgroundError("a 'blur' background needs the current frame")
        h, w = image.shape[:2]
        small = self.blur_small(image, blur_size(h, w))
        if self._cache_key != key:
            self._cache, self._cache_key = np.empty((h, w, channels), np.uint8), key
            if channels == 4:
                self._cache[:, :, 3] = 255
        self._cache[:, :, :3] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        return self._cache


def blur_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) at which the "blur" background and light wrap's blurred background
    are computed for a frame: 1/8 of it."""
    return max(1, width // 8), max(1, height // 8)


def _file_stamp(path: Path):
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return st.st_mtime_ns, st.st_size


def _open_video(path: Path):
    if not path.is_file():
        raise BackgroundError(f"background video not found: {path}")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened() or not cap.read()[0]:
        cap.release()
        raise BackgroundError(f"cannot read background video: {path}")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap
