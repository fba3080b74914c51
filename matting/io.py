"""Reading and writing frames for the command line: videos, images, folders of images."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def read_image(path: Path, error: type[Exception] = InputError, what: str = "image",
               flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Image file (uint8 BGR by default; ``flags`` as for cv2.imdecode); ``error`` with a
    clear message if missing or unreadable."""
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    # fromfile + imdecode rather than imread: works with non-ASCII paths on Windows.
    try:
        data = np.fromfile(str(path), np.uint8)
        img = cv2.imdecode(data, flags) if data.size else None
    except cv2.error as exc:  # e.g. a header declaring more than CV_IO_MAX_IMAGE_PIXELS
        reason = "too large" if "MAX_IMAGE_PIXELS" in str(exc) else "corrupt"
        raise error(f"cannot decode {what} ({reason}): {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what}: {path} ({exc.strerror or exc})") from None
    if img is None:
        raise error(f"cannot decode {what}: {path}")
    return img


def check_image_name(path: Path) -> None:
    """InputError unless ``path`` ends in an image suffix we write (before any work)."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot write an image named {path.name!r}: use one of {', '.join(sorted(IMAGE_SUFFIXES))}")


def write_image(path: Path, img: np.ndarray) -> None:
    """Write an image file (format from the suffix, .png if none); InputError if the
    format or the place is unusable (OpenCV raises for unknown suffixes)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(path.suffix or ".png", img)
        if not ok:
            raise InputError(f"cannot encode an image as {path.suffix!r}: {path}")
        data.tofile(str(path))
    except cv2.error:
        raise InputError(f"cannot encode an image as {path.suffix!r}: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def list_images(folder: Path) -> list[Path]:
    """Image files in a folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


class FrameSource:
    """Frames of a video, an image, or a sorted folder of images, with a name each."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        p = self.path
        self.fps = 30.0
        if p.is_dir():
            self.kind, self.files = "folder", list_images(p)
            if not self.files:
                raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder: {p}")
            self.count = len(self.files)
        elif not p.exists():
            raise InputError(f"input not found: {p}")
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            self.kind, self.files, self.count = "image", [p], 1
        else:
            cap = cv2.VideoCapture(str(p))
            ok = cap.isOpened() and cap.read()[0]
            if not ok:
                cap.release()
                raise InputError(f"cannot read {p} as an image or a video")
            self.fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            self.count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            cap.release()
            self.kind, self.files = "video", []

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        if self.kind != "video":
            for f in self.files:
                yield f.stem, read_image(f)
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield f"{i:05d}", frame
                i += 1
        finally:
            cap.release()


class VideoSink:
    """Writes frames to a video file (mp4v), opened on the first frame."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps, self.writer, self.size = path, fps, None, None

    def write(self, frame: np.ndarray) -> None:
        if self.writer is not None and frame.shape[:2] != self.size:
            # OpenCV would drop such frames silently.
            raise InputError(f"frames of different sizes cannot go into one video ({self.size[1]}x{self.size[0]}, "
                             f"then {frame.shape[1]}x{frame.shape[0]}): give -o a folder")
        if self.writer is None:
            self.size = frame.shape[:2]
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise InputError(f"cannot write a video to {self.path} (try a .mp4 or .avi name)")
        self.writer.write(frame[:, :, :3] if frame.shape[2] == 4 else frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
