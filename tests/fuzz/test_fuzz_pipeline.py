"""Fuzz Pipeline.process and Pipeline.configure: any frame (shape, dtype, strides,
views, empty, huge, sizes changing mid-sequence), any order/out argument, any setting
change. A valid frame gives a well-formed result; anything else an InputError or
SettingsError, never another exception."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matting.errors import InputError, MattingError, SettingsError
from matting.pipeline import Pipeline
from matting.settings import Settings
from strategies import ANY_VALUE, FUZZ, frames, is_valid_frame

BACKGROUNDS = ["#00ff00", "transparent", "blur"]


@pytest.fixture(scope="module")
def pipelines():
    """One pipeline per background kind (the model loads once); reset per example."""
    return {bg: Pipeline(Settings(model="landscape", background=bg)) for bg in BACKGROUNDS}


def _check_result(frame, result, alpha, transparent):
    h, w = frame.shape[:2]
    channels = 4 if transparent else frame.shape[2]
    assert result.dtype == np.uint8 and result.shape == (h, w, channels)
    assert alpha.dtype == np.uint8 and alpha.shape == (h, w)


@FUZZ
@given(seq=st.lists(frames(), min_size=1, max_size=4), bg=st.sampled_from(BACKGROUNDS),
       order=st.sampled_from(["BGR", "RGB", "BGR", "RGB", "bgr", "", None, 3]))
def test_process_any_frame_sequence(pipelines, seq, bg, order):
    p = pipelines[bg]
    p.reset()
    for frame in seq:
        valid = is_valid_frame(frame) and order in ("BGR", "RGB")
        before = frame.copy() if isinstance(frame, np.ndarray) else None
        if not valid:
            with pytest.raises(InputError):
                p.process(frame, order=order)
            continue
        result, alpha = p.process(frame, order=order)
        _check_result(frame, result, alpha, bg == "transparent")
        assert np.array_equal(frame, before), "process() changed its input"


@FUZZ
@given(frame=frames(valid_only=True), bg=st.sampled_from(BACKGROUNDS),
       out_kind=st.sampled_from(["frame", "fresh", "wrong_shape", "wrong_dtype", "readonly", "strided", "list"]))
def test_process_out_argument(pipelines, frame, bg, out_kind):
    """``out=``: in place, a fresh buffer, or something unusable (InputError)."""
    p = pipelines[bg]
    h, w, c = frame.shape
    channels = 4 if bg == "transparent" else c
    frame = frame.copy() if not frame.flags.writeable else frame
    if out_kind == "frame":
        out = frame
    elif out_kind == "fresh":
        out = np.zeros((h, w, channels), np.uint8)
    elif out_kind == "wrong_shape":
        out = np.zeros((h + 1, w, channels), np.uint8)
    elif out_kind == "wrong_dtype":
        out = np.zeros((h, w, channels), np.float32)
    elif out_kind == "readonly":
        out = np.zeros((h, w, channels), np.uint8)
        out.flags.writeable = False
    elif out_kind == "strided":
        out = np.zeros((h, 2 * w, channels), np.uint8)[:, ::2]
    else:
        out = [[0]]
    usable = out_kind in ("fresh", "strided") or (out_kind == "frame" and channels == c)
    p.reset()
    if not usable:
        with pytest.raises(InputError):
            p.process(frame, out=out)
        return
    p.reset()
    expected, expected_alpha = p.process(frame.copy())
    p.reset()
    result, alpha = p.process(frame, out=out)
    assert result is out
    assert np.array_equal(alpha, expected_alpha)
    assert np.array_equal(result, expected)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(Settings.names() + ["nonsense"]), ANY_VALUE, max_size=3),
       frame=frames(valid_only=True))
def test_configure_any_change_keeps_working(pipelines, changes, frame):
    """A bad change is a SettingsError (or another MattingError for a bad model or
    background file) and leaves the pipeline as it was and working."""
    p = pipelines["#00ff00"]
    changes.pop("model", None)  # model loading has its own target (test_fuzz_files)
    changes.pop("device", None) if changes.get("device") not in (None, "auto", "cpu") else None
    before = p.settings
    try:
        p.configure(**changes)
    except MattingError as exc:
        assert isinstance(exc, (SettingsError, MattingError))
        assert p.settings == before
    try:
        result, alpha = p.process(frame)
        _check_result(frame, result, alpha, p.background.transparent)
    finally:
        p.configure(before)
