"""Validated settings of the matting pipeline.

One flat dataclass, shared by the library, the command line and the OBS properties
panel, so that every front end offers the same knobs with the same ranges. Bad values
raise :class:`~matting.errors.SettingsError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields

from .errors import SettingsError

DEVICES = ("auto", "dml", "cuda", "coreml", "cpu")
BUILTIN_MODELS = ("general", "landscape")
BACKGROUND_FITS = ("cover", "contain", "stretch")
ADAPTIVE_RATES = ("off", "balanced", "saver")  # matting.adaptive.MODES
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Settings:
    """All knobs of :class:`~matting.pipeline.Pipeline`.

    Fractions are of the frame (``min_area``) or of the tracked box (``roi_margin``), so
    the same values work at 720p and 4K.
    """

    # Stage 2: model
    model: str = "general"  #: "general", "landscape" or a path to an .onnx file
    device: str = "auto"  #: auto | dml | cuda | coreml | cpu
    threads: int = 0  #: ONNX Runtime intra-op threads, and from 2 a helper thread for the stages; 0 = min(2, cores)

    # Stage 1: ROI tracking
    roi: bool = True  #: run the model on the tracked person box only
    roi_margin: float = 0.25  #: margin added around the mask's box, fraction of box size
    smooth_alpha: float = 0.8  #: double exponential smoothing: level weight (1 = no smoothing)
    smooth_beta: float = 0.3  #: trend weight (1 with alpha 1 = no smoothing)
    redetect_interval: int = 30  #: whole-frame detection every N frames (0 = only when lost)
    adaptive_rate: str = "balanced"  #: off | balanced | saver: skip the model while nothing moves at the outline

    # Stage 3: post-processing
    threshold: float = 0.5  #: probability that counts as person (boxes, components)
    cc_filter: bool = True  #: remove stray blobs with connected components
    keep_largest: bool = False  #: keep only the largest person (else all above min_area)
    min_area: float = 0.01  #: smallest blob kept, fraction of the frame area
    temporal_strength: float = 0.9  #: 0 = off; how much static pixels follow the past

    # Edge quality (matting.refine)
    edge_detail: float = 1.0  #: 0 = plain bilinear upsampling; higher = edge follows the image more
    halo_removal: bool = True  #: estimate the foreground colour in the soft edge (no old-room fringe)
    light_wrap: float = 0.0  #: 0 = off; how much of the blurred new background spills onto the edge

    # Known background (matting.plate): a static camera's room as a clean plate
    known_background: bool = False  #: learn the room from pixels seen as background (static camera)
    background_plate: str = ""  #: image of the empty room (same view), "" = none

    # Stage 4: compositing
    background: str = "#00b140"  #: image/video path, "#RRGGBB", "transparent" or "blur"
    background_fit: str = "cover"  #: cover | contain | stretch (images and videos)
    blur_strength: float = 0.5  #: with background "blur": 0 = light, 1 = very strong

    def __post_init__(self) -> None:
        _check_choice("device", self.device, DEVICES)
        if not isinstance(self.model, str) or not self.model.strip():
            raise SettingsError("model: give 'general', 'landscape' or a path to an .onnx file")
        _check_int("threads", self.threads, 0, 64)
        _check_float("roi_margin", self.roi_margin, 0.0, 1.0)
        _check_float("smooth_alpha", self.smooth_alpha, 0.01, 1.0)
        _check_float("smooth_beta", self.smooth_beta, 0.0, 1.0)
        _check_int("redetect_interval", self.redetect_interval, 0, 100000)
        _check_choice("adaptive_rate", self.adaptive_rate, ADAPTIVE_RATES)
        _check_float("threshold", self.threshold, 0.01, 0.99)
        _check_float("min_area", self.min_area, 0.0, 1.0)
        _check_float("temporal_strength", self.temporal_strength, 0.0, 0.95)
        _check_float("edge_detail", self.edge_detail, 0.0, 1.0)
        _check_float("light_wrap", self.light_wrap, 0.0, 1.0)
        _check_float("blur_strength", self.blur_strength, 0.0, 1.0)
        if not isinstance(self.background_plate, str):
            raise SettingsError(f"background_plate: expected an image path or '', got {self.background_plate!r}")
        for name in ("roi", "cc_filter", "keep_largest", "halo_removal", "known_background"):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        if not isinstance(self.background, str) or not self.background.strip():
            raise SettingsError("background: give an image/video path, '#RRGGBB', 'transparent' or 'blur'")
        if self.background.startswith("#") and not _COLOUR_RE.match(self.background):
            raise SettingsError(f"background: colour must look like #RRGGBB, got {self.background!r}")
        _check_choice("background_fit", self.background_fit, BACKGROUND_FITS)

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (validated); unknown names raise SettingsError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")


def _check_float(name: str, value, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise SettingsError(f"{name}: expected a number from {lo} to {hi}, got {value!r}")


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SettingsError(f"{name}: expected a whole number from {lo} to {hi}, got {value!r}")
