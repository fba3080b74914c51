"""Regression tests for what the fuzz targets (tests/fuzz) found: each bad input is one
clear MattingError (CLI: one ``error:`` line, exit 2), never a traceback."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from matting.background import Background
from matting.errors import BackgroundError, InputError
from matting.io import VideoSink, read_image
from matting.pipeline import Pipeline
from onnx_models import bright_person_frame, save_brightness_model


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width×height, with almost no pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))


def bmp_header_only(width: int, height: int) -> bytes:
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0))


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    model = save_brightness_model(tmp_path_factory.mktemp("m") / "tiny.onnx")
    return Pipeline(model=str(model), background="#00ff00")


@pytest.mark.parametrize("kind", ["readonly", "not_an_array", "two_dimensional", "wrong_channels"])
def test_unusable_out_buffer_is_an_input_error(tiny_pipeline, kind):
    """Found by fuzzing: a read-only ``out`` raised numpy's ValueError from inside the
    composite; a 2-D one an IndexError."""
    frame = bright_person_frame(48, 64, (20, 8, 40, 48))
    out = {"readonly": np.zeros((48, 64, 3), np.uint8), "not_an_array": [[0]],
           "two_dimensional": np.zeros((48, 64), np.uint8), "wrong_channels": np.zeros((48, 64, 4), np.uint8)}[kind]
    if kind == "readonly":
        out.flags.writeable = False
    with pytest.raises(InputError, match="out must be a writable uint8 48x64x3 array"):
        tiny_pipeline.process(frame, out=out)


@pytest.mark.parametrize("data", [png_header_only(100_000, 100_000), bmp_header_only(100_000, 100_000)],
                         ids=["png", "bmp"])
def test_image_declaring_a_huge_size_is_refused(tmp_path, data):
    """Found by fuzzing: OpenCV raises cv2.error (CV_IO_MAX_IMAGE_PIXELS) for these."""
    path = tmp_path / "bomb.img"
    path.write_bytes(data)
    with pytest.raises(InputError, match="too large"):
        read_image(path)
    with pytest.raises(BackgroundError):
        Background(str(path.rename(tmp_path / "bomb.png")))


def test_video_sink_refuses_frames_of_another_size(tmp_path):
    """OpenCV's VideoWriter silently drops frames whose size differs from the first."""
    sink = VideoSink(tmp_path / "o.mp4", 10)
    try:
        sink.write(np.zeros((48, 64, 3), np.uint8))
        with pytest.raises(InputError, match="different sizes"):
            sink.write(np.zeros((50, 64, 3), np.uint8))
    finally:
        sink.close()


@pytest.mark.parametrize("case", ["unknown_output_suffix", "alpha_out_is_a_file", "output_inside_a_file",
                                  "truncated_png", "huge_png_header", "folder_of_mixed_sizes_to_video"])
def test_cli_bad_output_or_file_is_one_clear_line(tmp_path, case):
    """`python -m matting run photo.png -o out.xyz` ended in an OpenCV traceback; writing
    under a file in an OSError traceback; a truncated PNG printed libpng's own line too."""
    model = str(save_brightness_model(tmp_path / "tiny.onnx"))
    img = tmp_path / "photo.png"
    cv2.imwrite(str(img), bright_person_frame())
    (tmp_path / "a file").write_bytes(b"x")
    args = ["run", str(img), "-o", str(tmp_path / "out.png"), "--model", model]
    if case == "unknown_output_suffix":
        args[3] = str(tmp_path / "out.xyz")
    elif case == "alpha_out_is_a_file":
        args += ["--alpha-out", str(tmp_path / "a file")]
    elif case == "output_inside_a_file":
        args[3] = str(tmp_path / "a file" / "out.png")
    elif case == "truncated_png":
        args[1] = str(tmp_path / "cut.png")
        (tmp_path / "cut.png").write_bytes(png_header_only(64, 48))
    elif case == "huge_png_header":
        args[1] = str(tmp_path / "huge.png")
        (tmp_path / "huge.png").write_bytes(png_header_only(100_000, 100_000))
    elif case == "folder_of_mixed_sizes_to_video":
        folder = tmp_path / "frames"
        folder.mkdir()
        cv2.imwrite(str(folder / "0.png"), bright_person_frame(360, 640))
        cv2.imwrite(str(folder / "1.png"), bright_person_frame(400, 640))
        args[1], args[3] = str(folder), str(tmp_path / "out.mp4")
    proc = subprocess.run([sys.executable, "-m", "matting", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if "%|" not in ln]  # the progress bar
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    if case == "unknown_output_suffix":
        assert "out.xyz" in lines[0] and ".png" in lines[0]


def test_background_file_replaced_on_disk_is_loaded_again(tmp_path, tiny_pipeline):
    """Found in the hostile OBS session: after the background file was deleted (an error)
    and replaced, returning to the earlier settings kept showing the old picture, because
    the loaded background was cached by its settings only."""
    path = tmp_path / "bg.png"
    cv2.imwrite(str(path), np.full((48, 64, 3), (0, 0, 255), np.uint8))
    tiny_pipeline.configure(background=str(path))
    frame = np.full((48, 64, 3), 20, np.uint8)  # dark: all background for the brightness model
    assert tuple(tiny_pipeline.process(frame)[0][5, 5]) == (0, 0, 255)
    path.unlink()
    assert tiny_pipeline.background.outdated
    with pytest.raises(BackgroundError):
        tiny_pipeline.configure(background_fit="stretch")
    cv2.imwrite(str(path), np.full((48, 64, 3), (0, 255, 0), np.uint8))
    tiny_pipeline.configure(background_fit="cover")  # the settings in use, but a new file
    assert tuple(tiny_pipeline.process(frame)[0][5, 5]) == (0, 255, 0)
    tiny_pipeline.configure(background="#00ff00")


def _reduce_mean_model(path, in_shape, nan=False):
    """Probability = mean brightness; with ``nan`` every output is 0/0."""
    from onnx import TensorProto, helper, save

    nodes = [helper.make_node("ReduceMean", ["image"], ["prob" if not nan else "m"], axes=[1], keepdims=1)]
    if nan:
        nodes += [helper.make_node("Sub", ["m", "m"], ["z"]), helper.make_node("Div", ["z", "z"], ["prob"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("prob", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(path))
    return str(path)


def test_model_with_batch_other_than_one_is_a_model_error(tmp_path):
    """Found by fuzzing: ORT's InvalidArgument escaped from the warm-up run."""
    from matting.errors import ModelError
    from matting.model import Segmenter

    with pytest.raises(ModelError, match="batch size 1"):
        Segmenter(_reduce_mean_model(tmp_path / "b3.onnx", [3, 3, 32, 32]), "cpu")


def test_model_giving_nan_gives_background_not_nan(tmp_path):
    """Found by fuzzing: NaN passed through np.clip into the matte."""
    from matting.model import Segmenter

    seg = Segmenter(_reduce_mean_model(tmp_path / "nan.onnx", [1, 3, 32, 32], nan=True), "cpu")
    prob = seg.predict(np.full((40, 50, 3), 200, np.uint8))
    assert np.isfinite(prob).all() and prob.max() == 0
    p = Pipeline(model=str(tmp_path / "nan.onnx"), background="#00ff00")
    comp, alpha = p.process(np.full((40, 50, 3), 200, np.uint8))
    assert alpha.max() == 0 and tuple(comp[5, 5]) == (0, 255, 0)
