"""Evaluation data: image sets, sequence sets and clips without ground truth.

Layout (the one of ``../shared/data``)::

    SET/images/NAME.jpg|png    SET/alpha/NAME.png    [SET/ignore/NAME.png]  [SET/fgr/NAME.*]
    VIDEOSET/SEQ/images/…      (a folder of such folders = the sequences of a video set)
    FOLDER/*.mp4               (clips without ground truth: flicker and speed only)

``alpha`` is uint8, 0 = background, 255 = person (soft values allowed); ``ignore`` 255 =
pixel not scored; ``fgr`` the true foreground colour (greenscreen sets).

:func:`discover` walks the given paths. A folder with ``images/`` is a *leaf*. A leaf is
a **sequence** when its folder has a ``meta.json`` or when it sits in a folder whose
subfolders are all leaves with frames of one size (``davis/parkour``,
``greenscreen/*``); otherwise it is an **image set** of independent images
(``portraits_vikram``). ``kind=`` forces one reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import InputError
from ..io import VIDEO_SUFFIXES, list_images, read_image

KINDS = ("auto", "images", "sequences")


@dataclass
class Frame:
    """One frame to score: BGR image, ground truth (uint8, or None), valid mask (or None
    = every pixel scored) and true foreground colour (or None)."""

    name: str
    image: np.ndarray
    alpha: np.ndarray | None = None
    valid: np.ndarray | None = None
    fgr: np.ndarray | None = None


@dataclass
class DataSet:
    """A set to evaluate. ``kind``: ``images`` (independent), ``sequence`` (frames in
    order, with ground truth) or ``video`` (a clip file, no ground truth)."""

    name: str
    kind: str
    path: Path
    names: list[str] = field(default_factory=list)  # frame names (images/sequence)
    _images: dict[str, Path] = field(default_factory=dict, repr=False)

    @property
    def has_truth(self) -> bool:
        return self.kind != "video"

    @property
    def temporal(self) -> bool:
        return self.kind != "images"

    @property
    def group(self) -> str:
        """The video set a sequence or clip belongs to (``davis``), else its own name."""
        return self.name.rsplit("/", 1)[0] if "/" in self.name else self.name

    def __len__(self) -> int:
        if self.kind == "video":
            cap = cv2.VideoCapture(str(self.path))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()
            return max(0, n)
        return len(self.names)

    def frames(self, limit: int | None = None) -> Iterator[Frame]:
        """The frames in order (the first ``limit`` if given)."""
        if self.kind == "video":
            yield from self._video_frames(limit)
            return
        for name in self.names[:limit]:
            image = read_image(self._images[name])
            alpha = _read_gray(self.path / "alpha" / f"{name}.png", image.shape[:2], "alpha")
            valid = None
            ignore_path = self.path / "ignore" / f"{name}.png"
            if ignore_path.is_file():
                valid = _read_gray(ignore_path, image.shape[:2], "ignore mask") < 128
            fgr = None
            fgr_dir = self.path / "fgr"
            if fgr_dir.is_dir():
                found = _find_image(fgr_dir, name)
                fgr = read_image(found) if found else None
            yield Frame(name, image, alpha, valid, fgr)

    def _video_frames(self, limit: int | None) -> Iterator[Frame]:
        cap = cv2.VideoCapture(str(self.path))
        try:
            i = 0
            while limit is None or i < limit:
                ok, image = cap.read()
                if not ok:
                    break
                yield Frame(f"{i:05d}", image)
                i += 1
        finally:
            cap.release()


#: The generator of the greenscreen sets drew the background photo onto a canvas 1.12×
#: the size that just covers the frame, then cut the frame out at ``bg_canvas_offset``
#: and blurred it by ``bg_blur_sigma`` (the generator itself is not in the data; the
#: factor was fitted: with it the plate matches a-static's background pixels to 1.1
#: grey levels, the JPEG's noise).
CANVAS_SCALE = 1.12


def true_plate(ds: DataSet, backgrounds: Path | None = None) -> np.ndarray | None:
    """The clean plate of a sequence (uint8 BGR, frame size), or None: ``plate.png`` in
    the sequence folder if there is one (generated sequences), else rebuilt from
    ``meta.json``'s background photo (the greenscreen sets). For a moving camera it is
    the view at the canvas offset, which the frames leave."""
    found = _find_image(ds.path, "plate")
    if found:
        return read_image(found, InputError, "plate")
    meta_path = ds.path / "meta.json"
    if not meta_path.is_file():
        return None
    import json

    meta = json.loads(meta_path.read_text())
    bg = meta.get("background", {})
    if "file" not in bg or "size" not in meta or "bg_canvas_offset" not in meta:
        return None
    folder = backgrounds or ds.path.parents[1] / "backgrounds"
    photo = read_image(folder / Path(bg["file"]).name, InputError, "background photo")
    w, h = meta["size"]
    scale = max(w / photo.shape[1], h / photo.shape[0]) * CANVAS_SCALE
    ox, oy = meta["bg_canvas_offset"]
    m = np.float32([[scale, 0, -ox], [0, scale, -oy]])
    plate = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR)
    sigma = meta.get("bg_blur_sigma") or 0
    return cv2.GaussianBlur(plate, (0, 0), sigma) if sigma > 0 else plate


def _read_gray(path: Path, shape: tuple[int, int], what: str) -> np.ndarray:
    img = read_image(path, InputError, what, cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:  # a colour or grey+alpha PNG: take the grey level
        img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2GRAY)
    if img.dtype == np.uint16:
        img = (img.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if img.shape != shape:
        raise InputError(f"{what} {path} is {img.shape[1]}x{img.shape[0]}, "
                         f"its image is {shape[1]}x{shape[0]}")
    return img


def _find_image(folder: Path, stem: str) -> Path | None:
    for suffix in (".png", ".jpg", ".jpeg"):
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def is_leaf(folder: Path) -> bool:
    """A folder in the layout of a set: it has ``images/`` (and ground truth in ``alpha/``)."""
    return (folder / "images").is_dir()


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _one_size(leaf: Path) -> bool:
    """Whether the first and last frame of a leaf have the same size (cheap: two reads)."""
    files = list_images(leaf / "images")
    if not files:
        return False
    sizes = {read_image(f).shape[:2] for f in (files[0], files[-1])}
    return len(sizes) == 1


def _is_video_set(folder: Path) -> bool:
    """A folder whose subfolders are all leaves of one frame size each: sequences."""
    subs = _subfolders(folder)
    return bool(subs) and all(is_leaf(s) for s in subs) and all(_one_size(s) for s in subs)


def load_leaf(folder: Path, name: str, kind: str) -> DataSet:
    """A set from a folder with ``images/`` and ``alpha/``; every image needs its alpha."""
    images = {p.stem: p for p in list_images(folder / "images")}
    if not images:
        raise InputError(f"no images in {folder / 'images'}")
    alpha_dir = folder / "alpha"
    if not alpha_dir.is_dir():
        raise InputError(f"{folder} has images/ but no alpha/ (ground truth)")
    missing = [n for n in images if not (alpha_dir / f"{n}.png").is_file()]
    if missing:
        raise InputError(f"{len(missing)} image(s) in {folder / 'images'} have no alpha/NAME.png, "
                         f"e.g. {missing[0]}")
    return DataSet(name, kind, folder, sorted(images), images)


def discover(paths: list[str | Path], kind: str = "auto") -> list[DataSet]:
    """The sets under the given paths (folders or clip files), in a stable order.

    Folders without ``images/`` are walked; loose images (e.g. ``backgrounds/``) are not
    a set and are skipped. ``kind``: ``auto`` (see the module doc), ``images`` or
    ``sequences`` for every leaf found.
    """
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    sets: list[DataSet] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InputError(f"data set not found: {path}")
        if path.is_file():
            if path.suffix.lower() not in VIDEO_SUFFIXES:
                raise InputError(f"not a clip ({', '.join(sorted(VIDEO_SUFFIXES))}) or a folder: {path}")
            sets.append(DataSet(f"{path.parent.name}/{path.stem}", "video", path))
            continue
        if is_leaf(path):
            in_video_set = path.parent != path and _is_video_set(path.parent)
            _walk(path, f"{path.parent.name}/{path.name}" if in_video_set else path.name, kind, in_video_set, sets)
        elif _is_video_set(path) or _clips(path):
            _walk(path, path.name, kind, False, sets)
        else:  # a plain container such as ../shared/data: names relative to it
            for sub in _subfolders(path):
                _walk(sub, sub.name, kind, False, sets)
    if not sets:
        raise InputError(f"no data sets (folders with images/ and alpha/, or clips) under: "
                         f"{', '.join(str(p) for p in paths)}")
    return sets


def _walk(folder: Path, name: str, kind: str, in_video_set: bool, sets: list[DataSet]) -> None:
    if is_leaf(folder):
        sequence = kind == "sequences" or (kind == "auto" and (in_video_set or (folder / "meta.json").is_file()))
        sets.append(load_leaf(folder, name, "sequence" if sequence else "images"))
        return
    video_set = _is_video_set(folder)
    for sub in _subfolders(folder):
        _walk(sub, f"{name}/{sub.name}", kind, video_set, sets)
    for clip in _clips(folder):
        sets.append(DataSet(f"{name}/{clip.stem}", "video", clip))


def _clips(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def default_root() -> Path:
    """``$OBS_BG_SHARED/data``, else ``../shared/data`` next to the repository."""
    shared = os.environ.get("OBS_BG_SHARED")
    return Path(shared) / "data" if shared else Path(__file__).resolve().parents[3] / "shared" / "data"

