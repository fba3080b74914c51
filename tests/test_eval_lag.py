"""`python -m matting eval --lag K`: the matte of frame t−K scored over frame t."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from matting.cli import main
from matting.lab import metrics as M
from matting.lab.evaluate import evaluate_set


def _moving_square(n=6, step=6):
    frames = []
    for i in range(n):
        alpha = np.zeros((48, 64), np.uint8)
        alpha[10:40, 5 + step * i:25 + step * i] = 255
        frames.append(SimpleNamespace(name=f"{i:03d}", image=np.dstack([alpha] * 3), alpha=alpha, valid=None,
                                      fgr=None))
    return frames


class _Oracle:
    """Returns the true matte of the frame it is given (found by its picture)."""

    ms = 0.0

    def reset(self):
        pass

    def __call__(self, image):
        return image[:, :, 0].copy()


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_lag_scores_the_matte_of_an_earlier_frame(lag):
    frames = _moving_square()
    ds = SimpleNamespace(name="sq", temporal=True, has_truth=True, frames=lambda limit: iter(frames))
    rows, _ = evaluate_set(ds, {"full": _Oracle()}, worst_k=0, lag=lag)
    got = [r["iou"] for r in rows["full"]]
    want = [M.iou(frames[t - lag].alpha, frames[t].alpha) for t in range(lag, len(frames))]
    assert got == pytest.approx(want)
    assert len(got) == len(frames) - lag
    assert (lag == 0) == all(v == 1.0 for v in got)


def test_lag_cli_sequences_only(tmp_path, capsys):
    seq = tmp_path / "clips" / "s"
    for sub in ("images", "alpha"):
        (seq / sub).mkdir(parents=True)
    for f in _moving_square(4):
        cv2.imwrite(str(seq / "images" / f"{f.name}.png"), f.image)
        cv2.imwrite(str(seq / "alpha" / f"{f.name}.png"), f.alpha)
    out = tmp_path / "o"
    assert main(["eval", str(tmp_path / "clips"), "--configs", "baseline", "--lag", "1", "--out", str(out), "-q",
                 "--worst", "0"]) == 0
    assert "matte lag 1 frame(s)" in capsys.readouterr().out
    report = json.loads((out / "eval.json").read_text())
    assert report["sets"][0]["lag"] == 1 and report["sets"][0]["frames"] == 3
    images = tmp_path / "pics"
    for sub in ("images", "alpha"):
        (images / sub).mkdir(parents=True)
    cv2.imwrite(str(images / "images" / "a.png"), _moving_square(1)[0].image)
    cv2.imwrite(str(images / "alpha" / "a.png"), _moving_square(1)[0].alpha)
    assert main(["eval", str(images), "--lag", "1", "--out", str(out), "-q"]) == 2
    assert "sequences" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "clips"), "--lag", "-1", "--out", str(out), "-q"]) == 2
