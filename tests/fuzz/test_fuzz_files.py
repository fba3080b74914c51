"""Fuzz everything that reads a file: the model loader (damaged ONNX files, odd graphs),
the background loader (damaged images and videos), the frame readers and the command
line (``python -m matting run``), with odd paths (unicode, spaces, directories where
files are expected). Every bad file is a MattingError with a message (CLI: exit 2 and
one ``error:`` line), never another exception, a hang or a crash."""

from __future__ import annotations

import contextlib
import io
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matting.background import Background
from matting.cli import main
from matting.errors import BackgroundError, InputError, MattingError, ModelError
from matting.io import FrameSource
from matting.model import Segmenter
from onnx_models import bright_person_frame, save_brightness_model
from strategies import FUZZ, damage

NAMES = ["plain", "with space", "ünïcödé 空", "dots.in.name", "-dash", "#hash"]
_counter = itertools.count()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Valid files to damage: an ONNX model, images of each format, short videos."""
    d = tmp_path_factory.mktemp("seeds")
    out = {"onnx": save_brightness_model(d / "m.onnx").read_bytes()}
    img = bright_person_frame(48, 64, (20, 8, 40, 48))
    for ext in (".png", ".jpg", ".bmp", ".webp", ".tif"):
        out[ext] = cv2.imencode(ext, img)[1].tobytes()
    for ext, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG")):
        w = cv2.VideoWriter(str(d / f"v{ext}"), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 48))
        for i in range(6):
            w.write(np.roll(img, 3 * i, axis=1))
        w.release()
        out[ext] = (d / f"v{ext}").read_bytes()
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz files")


def _place(workdir: Path, data: bytes, name: str, ext: str, kind: str) -> Path:
    """Write ``data`` under an odd name; or make a directory / nothing there instead."""
    path = workdir / f"{next(_counter)} {name}{ext}"
    if kind == "dir":
        path.mkdir()
    elif kind == "file":
        path.write_bytes(data)
    return path  # kind "missing": nothing there


@st.composite
def damaged_file(draw, seeds_keys):
    key = draw(st.sampled_from(seeds_keys))
    ext = draw(st.one_of(st.just(key if key.startswith(".") else ".onnx"),
                         st.sampled_from([".png", ".mp4", ".onnx", ".txt", "", ".PNG", ".Mp4"])))
    kind = draw(st.sampled_from(["file"] * 8 + ["dir", "missing"]))
    intact = draw(st.integers(0, 4)) == 0
    return key, ext, kind, intact, draw(st.sampled_from(NAMES)), draw(st.data())


def _bytes(seeds, key, intact, data):
    raw = seeds[key]
    return raw if intact else damage(raw, data.draw)


@FUZZ
@given(case=damaged_file([".png", ".jpg", ".bmp", ".webp", ".tif", ".mp4", ".avi", "onnx"]),
       size=st.sampled_from([(1, 1), (48, 64), (37, 91), (200, 40)]),
       fit=st.sampled_from(["cover", "contain", "stretch"]))
def test_background_any_file(seeds, workdir, case, size, fit):
    key, ext, kind, intact, name, data = case
    path = _place(workdir, _bytes(seeds, key, intact, data), name, ext, kind)
    try:
        bg = Background(str(path), fit)
    except BackgroundError as exc:
        assert str(exc)
        return
    try:
        for channels, order in ((3, "BGR"), (4, "RGB"), (3, "BGR")):
            try:
                img = bg.frame(*size, channels, order)
            except BackgroundError:
                continue  # a video that stops giving frames
            assert img.shape == (*size, channels) and img.dtype == np.uint8
    finally:
        bg.close()


@FUZZ
@given(case=damaged_file(["onnx", ".png"]))
def test_model_any_file(seeds, workdir, case):
    key, ext, kind, intact, name, data = case
    path = _place(workdir, _bytes(seeds, key, intact, data), name, ext, kind)
    try:
        seg = Segmenter(str(path), "cpu", 1)
    except ModelError as exc:
        assert str(exc)
        return
    prob = seg.predict(bright_person_frame(48, 64, (20, 8, 40, 48)), "BGR")
    assert prob.dtype == np.float32 and prob.shape == seg.input_hw
    assert np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1


@FUZZ
@given(case=damaged_file([".png", ".jpg", ".webp", ".mp4", ".avi"]))
def test_frame_source_any_file(seeds, workdir, case):
    key, ext, kind, intact, name, data = case
    path = _place(workdir, _bytes(seeds, key, intact, data), name, ext, kind)
    try:
        src = FrameSource(path)
        for _, frame in itertools.islice(src, 10):
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    except InputError as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def cli_inputs(tmp_path_factory, seeds):
    d = tmp_path_factory.mktemp("cli in")
    model = save_brightness_model(d / "tiny model.onnx")
    (d / "photo.png").write_bytes(seeds[".png"])
    (d / "clip.mp4").write_bytes(seeds[".mp4"])
    folder = d / "frames"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(seeds[".png"])
    (d / "a file").write_bytes(b"x")
    return {"model": str(model), "image": str(d / "photo.png"), "video": str(d / "clip.mp4"),
            "folder": str(folder), "file": str(d / "a file")}


OUTPUT_NAMES = ["out.png", "out.xyz", "out", "out.mp4", "out.avi", "out.JPG", "out.webp", "out.mkv", "out.",
                "ü ñ/out.png", "out.png/", "out.tif", "out.exr", "out.jp2", "out.pgm", "out.gif"]


@FUZZ
@given(inp=st.sampled_from(["image", "video", "folder"]), out=st.sampled_from(OUTPUT_NAMES + ["<file>/x.png"]),
       alpha_out=st.sampled_from([None, "alpha dir", "<file>"]),
       background=st.sampled_from(["#00ff00", "transparent", "blur", "#zz", "<file>", "<image>"]),
       extra=st.sampled_from([[], ["--independent"], ["--threshold", "2"], ["--no-roi"], ["--threads", "-1"]]))
def test_cli_run_any_output(cli_inputs, workdir, inp, out, alpha_out, background, extra):
    """`python -m matting run`: every combination either writes its output (exit 0) or
    prints one `error:` line and exits 2 (here in-process: any other exception fails)."""
    d = workdir / f"cli {next(_counter)}"
    d.mkdir()
    sub = lambda v: cli_inputs["file"] if v == "<file>" else (cli_inputs["image"] if v == "<image>" else v)  # noqa: E731
    out_path = out.replace("<file>", cli_inputs["file"]) if out.startswith("<file>") else str(d / out)
    args = ["run", cli_inputs[inp], "-o", out_path, "--model", cli_inputs["model"], "--background", sub(background),
            *extra]
    if alpha_out:
        args += ["--alpha-out", sub(alpha_out) if alpha_out == "<file>" else str(d / alpha_out)]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(args)
    # The progress bar (tqdm, on stderr for sequences) may precede the error line.
    lines = [ln for ln in err.getvalue().strip().splitlines() if "%|" not in ln]
    if rc == 0:
        assert not any(line.startswith("error:") for line in lines)
    else:
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err.getvalue()
