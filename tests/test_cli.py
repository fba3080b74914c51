"""The command line: run on images, folders and videos; every bad input is one clear
line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from matting.cli import main
from onnx_models import bright_person_frame, save_brightness_model


@pytest.fixture()
def tiny_model(tmp_path):
    return str(save_brightness_model(tmp_path / "tiny.onnx"))


def _frames_folder(folder, n=4):
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"f{i:02d}.png"), bright_person_frame(box=(200 + 10 * i, 60, 360 + 10 * i, 340)))
    return folder


def test_run_folder_as_sequence_with_alpha_out(tmp_path, tiny_model, capsys):
    src = _frames_folder(tmp_path / "in")
    rc = main(["run", str(src), "-o", str(tmp_path / "out"), "--alpha-out", str(tmp_path / "alpha"),
               "--model", tiny_model, "--background", "#00ff00"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "alpha").iterdir()) == [f"f{i:02d}.png" for i in range(4)]
    alpha = cv2.imread(str(tmp_path / "alpha" / "f03.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.ndim == 2 and alpha[200, 300] == 255 and alpha[10, 10] == 0
    out = cv2.imread(str(tmp_path / "out" / "f03.png"))
    assert tuple(out[10, 10]) == (0, 255, 0)
    assert "4 frame(s)" in capsys.readouterr().out


def test_run_with_a_background_plate(tmp_path, tiny_model, capsys):
    """--background-plate: the empty room (the frame without its bright person)."""
    src = _frames_folder(tmp_path / "in")
    room = bright_person_frame(box=(0, 0, 0, 0))
    cv2.imwrite(str(tmp_path / "room.png"), room)
    rc = main(["run", str(src), "-o", str(tmp_path / "out"), "--alpha-out", str(tmp_path / "alpha"),
               "--model", tiny_model, "--background-plate", str(tmp_path / "room.png")])
    assert rc == 0
    alpha = cv2.imread(str(tmp_path / "alpha" / "f03.png"), cv2.IMREAD_UNCHANGED)
    assert alpha[200, 300] == 255 and alpha[10, 10] == 0


def test_run_video_and_transparent_image(tmp_path, tiny_model):
    video = tmp_path / "in.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 360))
    for _ in range(5):
        w.write(bright_person_frame())
    w.release()
    assert main(["run", str(video), "-o", str(tmp_path / "out.mp4"), "--alpha-out", str(tmp_path / "a"),
                 "--model", tiny_model]) == 0
    assert (tmp_path / "out.mp4").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir())[:2] == ["00000.png", "00001.png"]
    img = tmp_path / "one.png"
    cv2.imwrite(str(img), bright_person_frame())
    assert main(["run", str(img), "-o", str(tmp_path / "t.png"), "--background", "transparent",
                 "--model", tiny_model, "--independent"]) == 0
    rgba = cv2.imread(str(tmp_path / "t.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4 and rgba[200, 300, 3] == 255 and rgba[10, 10, 3] == 0


@pytest.mark.parametrize("case", ["missing_input", "unreadable_image", "corrupt_background",
                                  "missing_background", "model_does_not_load", "wrong_model_shape",
                                  "bad_setting", "transparent_video", "missing_plate"])
def test_bad_input_is_one_clear_line(tmp_path, tiny_model, case):
    img = tmp_path / "ok.png"
    cv2.imwrite(str(img), bright_person_frame())
    args = ["run", str(img), "-o", str(tmp_path / "o.png"), "--model", tiny_model]
    if case == "missing_input":
        args[1] = str(tmp_path / "nope.png")
    elif case == "unreadable_image":
        (tmp_path / "bad.jpg").write_bytes(b"this is not a jpeg")
        args[1] = str(tmp_path / "bad.jpg")
    elif case == "corrupt_background":
        (tmp_path / "bg.png").write_bytes(b"\x89PNG broken")
        args += ["--background", str(tmp_path / "bg.png")]
    elif case == "missing_background":
        args += ["--background", str(tmp_path / "none.jpg")]
    elif case == "model_does_not_load":
        (tmp_path / "m.onnx").write_bytes(b"garbage")
        args[args.index(tiny_model)] = str(tmp_path / "m.onnx")
    elif case == "wrong_model_shape":
        args[args.index(tiny_model)] = str(save_brightness_model(tmp_path / "w.onnx", out_shape=[1, 2, 32, 48]))
    elif case == "bad_setting":
        args += ["--temporal-strength", "5"]
    elif case == "missing_plate":
        args += ["--background-plate", str(tmp_path / "no_room.png")]
    elif case == "transparent_video":
        args = ["run", str(img), "-o", str(tmp_path / "o.mp4"), "--background", "transparent", "--model", tiny_model]
    proc = subprocess.run([sys.executable, "-m", "matting", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
