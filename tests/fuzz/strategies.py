"""Hypothesis strategies for hostile inputs: frames of any shape/dtype/layout, setting
values of any type, and damaged files."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: The budget of every fuzz target (``@FUZZ``); see conftest.py and run.py.
FUZZ = settings(
    max_examples=int(os.environ.get("OBS_BG_FUZZ_EXAMPLES", "40")),
    deadline=None,  # the machine is shared: a slow example is not a finding
    suppress_health_check=list(HealthCheck),
    print_blob=True,  # a failure prints @reproduce_failure(...) for the regression test
)

ODD_DTYPES = [np.uint16, np.int8, np.float32, np.float64, np.bool_, np.int64, np.complex64]


@st.composite
def frame_shapes(draw, valid_only: bool = False):
    """(h, w, c): mostly small valid frames, sometimes empty, 1-pixel, very thin or
    just past the size limit."""
    side = st.one_of(st.integers(1, 96), st.sampled_from([1, 2, 3, 15, 16, 17, 255, 256, 257, 1000]))
    if not valid_only:
        side = st.one_of(side, st.sampled_from([0, 8192, 8193]))
    h, w = draw(side), draw(side)
    if h * w > 3_000_000 and draw(st.booleans()):  # keep big frames rare and thin
        h = min(h, 3)
    c = draw(st.sampled_from([3, 4]) if valid_only else st.sampled_from([3, 4, 3, 4, 1, 2, 5]))
    return h, w, c


@st.composite
def frames(draw, valid_only: bool = False):
    """A numpy frame, possibly a non-contiguous/negative-stride/Fortran/read-only view,
    of another dtype, or of another rank (unless ``valid_only``)."""
    h, w, c = draw(frame_shapes(valid_only))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    layout = draw(st.sampled_from(["c", "c", "fortran", "step", "flip", "transpose", "readonly", "channel_view"]))
    if layout == "step":
        base = rng.integers(0, 256, (2 * h, 3 * w, c + 1), dtype=np.uint8)
        f = base[::2, ::3, :c]
    elif layout == "flip":
        f = rng.integers(0, 256, (h, w, c), dtype=np.uint8)[::-1, ::-1]
    elif layout == "transpose":
        f = rng.integers(0, 256, (w, h, c), dtype=np.uint8).transpose(1, 0, 2)
    elif layout == "fortran":
        f = np.asfortranarray(rng.integers(0, 256, (h, w, c), dtype=np.uint8))
    elif layout == "channel_view":
        f = rng.integers(0, 256, (h, w, 5), dtype=np.uint8)[:, :, 1:1 + c]
    else:
        f = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        if layout == "readonly":
            f.flags.writeable = False
    if draw(st.booleans()):  # a person-like bright block, so the model finds someone
        y0, x0 = h // 4, w // 3
        if f.flags.writeable:
            f[y0:h, x0:x0 + max(1, w // 3)] = 230
    if not valid_only:
        kind = draw(st.sampled_from(["ok"] * 6 + ["dtype", "rank2", "rank4", "list", "none", "scalar"]))
        if kind == "dtype":
            f = f.astype(draw(st.sampled_from(ODD_DTYPES)))
        elif kind == "rank2":
            f = f[:, :, 0]
        elif kind == "rank4":
            f = f[None]
        elif kind == "list":
            f = f.tolist() if f.size < 5000 else [[1, 2, 3]]
        elif kind == "none":
            f = None
        elif kind == "scalar":
            f = np.uint8(7)
    return f


def is_valid_frame(f) -> bool:
    return (isinstance(f, np.ndarray) and f.dtype == np.uint8 and f.ndim == 3 and f.shape[2] in (3, 4)
            and 1 <= f.shape[0] <= 8192 and 1 <= f.shape[1] <= 8192)


# Values of every type a front end could hand over for a setting.
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2, 2), st.text(max_size=40), st.sampled_from(["", " ", "#", "#00ff00", "#GGGGGG", "#00ff00 ",
                                                             "transparent", "blur", "general", "landscape",
                                                             "auto", "cpu", "cuda", "cover", "nan", "1e309",
                                                             "a\x00b", "~/nope.png", "ü ñ 空.jpg"]),
    st.lists(st.integers(), max_size=3), st.builds(np.float32, st.floats(-1, 2, width=32)),
    st.builds(np.int64, st.integers(-5, 100)),
)


def damage(data: bytes, draw) -> bytes:
    """Truncate, flip bytes, insert junk, or replace entirely."""
    how = draw(st.sampled_from(["truncate", "flip", "insert", "junk", "empty", "head"]))
    if how == "truncate":
        return data[:draw(st.integers(0, max(0, len(data) - 1)))]
    if how == "head":
        return data[:draw(st.integers(1, 64))]
    if how == "flip":
        b = bytearray(data)
        for _ in range(draw(st.integers(1, 20))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] = draw(st.integers(0, 255))
        return bytes(b)
    if how == "insert":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.binary(min_size=1, max_size=64)) + data[i:]
    if how == "junk":
        return draw(st.binary(max_size=512))
    return b""
