"""The model contract: how a custom ONNX model's inputs and outputs are read.

Used by :class:`matting.model.Segmenter`; the rules are documented for users in
``models/MODEL_CARD.md`` ("Custom models"). In short:

* **Image input**: float32 or float16, 4-D, 3 colour channels on axis 1 (NCHW) or axis 3
  (NHWC), batch 1 or dynamic. A fixed height/width is used as declared; a dynamic side
  is chosen by :func:`model_size`.
* **Matte output** (``pha`` if there is one, else the first output): one map of the input's
  height × width with 1 channel (person) or 2 channels (background, person), channel axis
  first or last (``[1,C,H,W]``, ``[1,H,W,C]``, ``[1,H,W]``, ``[H,W]`` …). Read by
  :class:`MatteDecoder` as probabilities or logits (declared, or detected from the values).
* **Recurrent models** (RVM-style): state inputs ``r1i``, ``r2i`` … each with an output
  ``r1o``, ``r2o`` …, the image input ``src``, an optional ``downsample_ratio``; the state
  is carried from frame to frame by the Segmenter.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError

log = logging.getLogger("matting")

#: A dynamic side of a model input: the short side is this many pixels …
DYNAMIC_SIDE = 256
#: … and every dynamic side a multiple of this (what strided CNNs need) …
SIZE_MULTIPLE = 32
#: … and the long side at most this many pixels (a very wide frame is squeezed).
MAX_DYNAMIC_SIDE = 1024
#: Values this far outside [0, 1] can only be logits (a probability map's float rounding
#: stays well inside it).
RANGE_TOLERANCE = 1e-3
#: Metadata key in the .onnx file that declares the output kind, and the kinds.
KIND_KEY = "output"
KINDS = ("auto", "probability", "logits")
RATIO_INPUT = "downsample_ratio"
_STATE_INPUT = re.compile(r"^r(\d+)i$")
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


@dataclass
class StateTensor:
    """One recurrent state: fed through ``input``, read back from ``output``."""

    input: str
    output: str
    initial_shape: tuple[int, ...]
    dtype: type


@dataclass
class ModelIO:
    """What :func:`read_io` found in a model's inputs and outputs."""

    image: str  #: name of the image input
    nchw: bool  #: layout of the image input
    fixed_hw: tuple[int | None, int | None]  #: declared height, width (None = dynamic)
    dtype: type  #: np.float32 or np.float16
    matte: str  #: name of the output read as the matte
    kind: str  #: declared output kind: auto | probability | logits
    states: list[StateTensor] = field(default_factory=list)
    ratio: str | None = None  #: name of the downsample_ratio input, if any

    @property
    def recurrent(self) -> bool:
        return bool(self.states)


def _dim(d) -> int | None:
    """A declared dimension: a positive int, or None when it is dynamic (a name, -1, None)."""
    return int(d) if isinstance(d, int) and d > 0 else None


def read_io(name: str, inputs, outputs, metadata: dict[str, str] | None = None) -> ModelIO:
    """Read a model's ONNX Runtime ``NodeArg`` lists into a :class:`ModelIO`.

    Raises :class:`ModelError` naming what does not fit the contract.
    """
    if not inputs:
        raise ModelError(f"model {name}: has no input")
    if not outputs:
        raise ModelError(f"model {name}: has no output")
    out_names = [o.name for o in outputs]
    state_in = [i for i in inputs if _STATE_INPUT.match(i.name)]
    if state_in:
        image, states, ratio = _read_recurrent(name, inputs, state_in, out_names)
    else:
        if len(inputs) != 1:
            raise ModelError(f"model {name}: expected one image input (or a recurrent model with src, "
                             f"r1i…, downsample_ratio), found inputs {', '.join(i.name for i in inputs)}")
        image, states, ratio = inputs[0], [], None
    nchw, fixed_hw, dtype = _read_image(name, image)
    skip = {s.output for s in states} | {"fgr"} if states else set()
    candidates = [n for n in out_names if n not in skip]
    if not candidates:
        raise ModelError(f"model {name}: has no matte output (outputs {', '.join(out_names)})")
    matte = "pha" if "pha" in candidates else candidates[0]
    return ModelIO(image.name, nchw, fixed_hw, dtype, matte, _declared_kind(name, matte, metadata or {}),
                   states, ratio)


def _read_image(name: str, arg):
    shape = list(arg.shape) if arg.shape is not None else []
    if len(shape) != 4:
        raise ModelError(f"model {name}: image input {arg.name!r} must be 4-D (NCHW or NHWC), got {shape}")
    if _dim(shape[0]) not in (None, 1):
        raise ModelError(f"model {name}: image input {arg.name!r} must have batch size 1, got {shape}")
    if shape[1] == 3:
        nchw, hw = True, shape[2:4]
    elif shape[3] == 3:
        nchw, hw = False, shape[1:3]
    else:
        raise ModelError(f"model {name}: image input {arg.name!r} must have 3 colour channels on axis 1 "
                         f"(NCHW) or 3 (NHWC), got {shape}")
    if arg.type not in _DTYPES:
        raise ModelError(f"model {name}: image input {arg.name!r} must be float32 or float16, got {arg.type}")
    return nchw, (_dim(hw[0]), _dim(hw[1])), _DTYPES[arg.type]


def _read_recurrent(name: str, inputs, state_in, out_names):
    states = []
    for arg in sorted(state_in, key=lambda a: int(_STATE_INPUT.match(a.name).group(1))):
        out = arg.name[:-1] + "o"
        if out not in out_names:
            raise ModelError(f"model {name}: state input {arg.name!r} has no matching output {out!r}")
        if arg.type not in _DTYPES:
            raise ModelError(f"model {name}: state input {arg.name!r} must be float32 or float16, got {arg.type}")
        # RVM's documented start: zeros of shape [1,1,1,1], broadcast by the model.
        shape = tuple(_dim(d) or 1 for d in (arg.shape or []))
        states.append(StateTensor(arg.name, out, shape, _DTYPES[arg.type]))
    rest = [i for i in inputs if i not in state_in]
    ratio = next((i for i in rest if i.name == RATIO_INPUT), None)
    if ratio is not None and ratio.type != "tensor(float)":
        raise ModelError(f"model {name}: input {RATIO_INPUT!r} must be float32, got {ratio.type}")
    rest = [i for i in rest if i is not ratio]
    image = next((i for i in rest if i.name == "src"), None)
    if image is None:
        images = [i for i in rest if i.shape is not None and len(i.shape) == 4]
        if len(images) != 1:
            raise ModelError(f"model {name}: recurrent model has no image input 'src' "
                             f"(inputs {', '.join(i.name for i in inputs)})")
        image = images[0]
    extra = [i.name for i in rest if i is not image]
    if extra:
        raise ModelError(f"model {name}: unsupported input(s) {', '.join(extra)} (a recurrent model may have "
                         f"src, r1i…rNi and {RATIO_INPUT})")
    return image, states, ratio.name if ratio is not None else None


def _declared_kind(name: str, output: str, metadata: dict[str, str]) -> str:
    """The output kind the file declares: metadata ``output`` = probability|logits, or an
    output name containing "logit"; else "auto" (detected from the values)."""
    value = metadata.get(KIND_KEY)
    if value is not None:
        if value not in KINDS[1:]:
            raise ModelError(f"model {name}: metadata {KIND_KEY!r} must be 'probability' or 'logits', "
                             f"got {value!r}")
        return value
    return "logits" if "logit" in output.lower() else "auto"


def _round_side(x: float) -> int:
    return max(SIZE_MULTIPLE, int(round(x / SIZE_MULTIPLE)) * SIZE_MULTIPLE)


def model_size(fixed_hw, image_hw=None) -> tuple[int, int]:
    """Model input (height, width). Declared sides are kept. Without ``image_hw`` a dynamic
    side is :data:`DYNAMIC_SIDE` (the ROI crops of a one-shot model are stretched to it, as
    for the shipped models). With ``image_hw`` (a recurrent model, which sees the whole
    frame) the dynamic sides keep the image's aspect: short side :data:`DYNAMIC_SIDE`
    (or scaled from a declared side), rounded to :data:`SIZE_MULTIPLE`, long side capped at
    :data:`MAX_DYNAMIC_SIDE`."""
    fh, fw = fixed_hw
    if fh is not None and fw is not None:
        return fh, fw
    if image_hw is None:
        return fh or DYNAMIC_SIDE, fw or DYNAMIC_SIDE
    ih, iw = max(1, image_hw[0]), max(1, image_hw[1])
    if fh is not None:
        return fh, min(MAX_DYNAMIC_SIDE, _round_side(fh * iw / ih))
    if fw is not None:
        return min(MAX_DYNAMIC_SIDE, _round_side(fw * ih / iw)), fw
    scale = DYNAMIC_SIDE / min(ih, iw)
    return min(MAX_DYNAMIC_SIDE, _round_side(ih * scale)), min(MAX_DYNAMIC_SIDE, _round_side(iw * scale))


def output_layout(shape, h: int, w: int) -> tuple[int, bool] | None:
    """(channels, channel axis before H/W) of a matte output for an h×w input, or None.

    Accepted: ranks 2–4 holding h, w as consecutive axes; the axis just before or just
    after them may be a channel axis of size 2 (background, person); all others are 1.
    """
    shape = tuple(int(d) for d in shape)
    if not 2 <= len(shape) <= 4:
        return None
    for i in range(len(shape) - 1):
        if shape[i:i + 2] != (h, w):
            continue
        before, after = shape[:i], shape[i + 2:]
        if any(d != 1 for d in before[:-1] + after[1:]):
            continue
        c_first, c_last = (before[-1] if before else 1), (after[0] if after else 1)
        if c_first * c_last in (1, 2) and min(c_first, c_last) == 1:
            return c_first * c_last, c_first == 2
    return None


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, float32, without overflow warnings for large |x|."""
    with np.errstate(over="ignore"):
        e = np.exp(-x.astype(np.float32, copy=False))
    e += 1
    return np.reciprocal(e, out=e)


class MatteDecoder:
    """Model output → float32 person probability (h × w) in [0, 1].

    One channel: a probability, or a logit (sigmoid applied). Two channels (background,
    person): probabilities summing to 1 (the person channel is used), or logits (softmax
    applied: ``sigmoid(person − background)``). Undeclared (``kind="auto"``) outputs count
    as probabilities until a frame shows otherwise — a value more than
    :data:`RANGE_TOLERANCE` outside [0, 1], or (two channels) channels that do not sum to
    1 — and are logits from then on: a probability model can never show that, so the
    decision only ever goes one way and is kept for the session.
    """

    def __init__(self, model: str, output: str, kind: str = "auto"):
        self.model, self.output, self.kind = model, output, kind
        self._layouts: dict[tuple, tuple[int, bool]] = {}

    def layout(self, shape, h: int, w: int) -> tuple[int, bool]:
        key = (tuple(shape), h, w)
        found = self._layouts.get(key)
        if found is None:
            found = output_layout(shape, h, w)
            if found is None:
                raise ModelError(f"model {self.model}: output {self.output!r} must be one {h}x{w} map with "
                                 f"1 channel (person) or 2 (background, person), channels first or last; "
                                 f"got shape {list(shape)}")
            self._layouts[key] = found
        return found

    def __call__(self, out: np.ndarray, h: int, w: int) -> np.ndarray:
        channels, first = self.layout(out.shape, h, w)
        if channels == 1:
            prob = self._one(out.reshape(h, w).astype(np.float32, copy=False))
        else:
            pair = out.reshape(2, h, w) if first else out.reshape(h, w, 2)
            bg, fg = (pair[0], pair[1]) if first else (pair[:, :, 0], pair[:, :, 1])
            prob = self._two(bg.astype(np.float32), fg.astype(np.float32))
        # NaN from a broken model would spread through every later stage: count it as background.
        # (Checked first: on a finite 256×256 output nan_to_num takes 42 µs, the check 6.)
        return prob if np.isfinite(prob).all() else np.nan_to_num(prob, copy=False, nan=0.0)

    def _one(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "logits":
            return sigmoid(x)
        if self.kind == "auto":
            lo, hi = float(x.min()), float(x.max())
            if lo >= 0.0 and hi <= 1.0:
                return x  # the usual case: nothing to clip
            if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
                self._switch(f"values from {lo:.3g} to {hi:.3g}")
                return sigmoid(x)
        return np.clip(x, 0.0, 1.0, out=x)

    def _two(self, bg: np.ndarray, fg: np.ndarray) -> np.ndarray:
        if self.kind == "auto":
            lo, hi = float(min(bg.min(), fg.min())), float(max(bg.max(), fg.max()))
            total = float(np.abs(bg + fg - 1).max())
            if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE or total > 10 * RANGE_TOLERANCE:
                self._switch(f"values from {lo:.3g} to {hi:.3g}, channel sums off 1 by up to {total:.3g}")
        if self.kind == "logits":
            return sigmoid(fg - bg)
        return np.clip(fg, 0.0, 1.0, out=fg)

    def _switch(self, why: str) -> None:
        log.info("model %s: output %r read as logits from now on (%s)", self.model, self.output, why)
        self.kind = "logits"
