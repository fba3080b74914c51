"""Issue 32's crop check: a crop whose matte runs along its inner side where the whole
frame sees background is not trusted (pipeline.CROP_EDGE_MAX, roi.crop_edge_claim)."""

from __future__ import annotations

import numpy as np
import pytest

from matting import pipeline as P
from matting.pipeline import Pipeline
from matting.roi import crop_edge_claim
from onnx_models import save_brightness_model


def test_edge_claim_counts_only_inner_sides_the_whole_frame_calls_background():
    whole = np.zeros((36, 64), np.float32)
    whole[:12, 48:] = 0.9  # the whole frame: a head at the top right corner
    crop = np.zeros((24, 16), np.float32)  # over the right quarter, top two thirds
    crop[:8] = 0.9  # the same head
    box = (0.75, 0.0, 1.0, 2 / 3)
    assert crop_edge_claim(whole, crop, box, (36, 64), 0.5) == 0.0
    crop[8:] = 0.9  # and a body down to the crop's bottom, which the whole frame does not see
    assert crop_edge_claim(whole, crop, box, (36, 64), 0.5) == 1.0  # the bottom side, all of it
    # The left side (inside the frame too) is person down its whole height; where the
    # whole frame sees the head there, that part is not made up.
    crop[:, 8:] = 0.0
    crop[:, 0] = 0.9
    assert crop_edge_claim(whole, crop, box, (36, 64), 0.5) == pytest.approx(12 / 24)
    # Sides at the frame's edges (top, right) never count: the person may go on beyond.
    edge = np.zeros((24, 16), np.float32)
    edge[0] = edge[:, -1] = 0.9
    assert crop_edge_claim(whole * 0, edge, box, (36, 64), 0.5) == pytest.approx(1 / 16)  # only the bottom's corner
    # Soft whole-frame values at or above half the threshold are not "background".
    half = np.full((36, 64), 0.25, np.float32)
    assert crop_edge_claim(half, np.full((24, 16), 0.9, np.float32), box, (36, 64), 0.5) == 0.0
    # A crop over the whole frame has no inner side.
    assert crop_edge_claim(whole, np.ones((36, 64), np.float32), (0, 0, 1, 1), (36, 64), 0.5) == 0.0


class _Scripted:
    """The real (tiny, brightness) model's preprocessing, with the probability it
    returns drawn from a scripted scene: ``whole`` for a whole-frame input, ``crop``
    (frame-sized) cut to the crop the pipeline asked for."""

    def __init__(self, real, pipe, whole, crop):
        self._real, self.whole, self.crop = real, whole, crop
        self.boxes = []  # the box of each model run (None: the whole frame)
        self._box = None
        crop_of = pipe._crop

        def record(frame, small, box):
            h, w = frame.shape[:2]
            self._box = None if tuple(box) == (0, 0, w, h) else tuple(box)
            return crop_of(frame, small, box)
        pipe._crop = record

    def __getattr__(self, name):
        return getattr(self._real, name)

    def predict(self, image, order="BGR", opencv=False):
        self._box = None  # the periodic look: always the whole frame
        return self.run(self._real.preprocess(image, order, opencv))

    def run(self, tensor):
        import cv2
        self.boxes.append(self._box)
        mh, mw = self._real.input_hw
        if self._box is None:
            scene = self.whole
        else:
            x0, y0, x1, y1 = self._box
            scene = self.crop[y0:y1, x0:x1]
        return cv2.resize(scene, (mw, mh), interpolation=cv2.INTER_AREA)


def _head_at_the_edge(tmp_path, edge_max, agree_later=False):
    """A head at the frame's right edge; the crop's model draws a body below it down to
    the crop's bottom, which the whole frame does not see."""
    h, w = 360, 640
    whole = np.zeros((h, w), np.float32)
    whole[0:100, 560:] = 1.0
    made_up = whole.copy()
    made_up[100:, 500:] = 1.0  # shoulders and a body in the wall, as far down as any crop reaches
    saved = P.CROP_EDGE_MAX
    P.CROP_EDGE_MAX = edge_max
    try:
        p = Pipeline(model=str(save_brightness_model(tmp_path / "m.onnx")), redetect_interval=3,
                     temporal_strength=0.0, adaptive_rate="off")
        model = _Scripted(p.segmenter, p, whole, made_up)
        p.segmenter = model
        frame = np.full((h, w, 3), 40, np.uint8)
        alphas = []
        for i in range(7):
            if agree_later and i == 3:
                model.crop = whole  # from the second look on, the crop agrees with the whole frame
            alphas.append(p.process(frame)[1])
        return alphas, model.boxes
    finally:
        P.CROP_EDGE_MAX = saved


def test_a_crop_that_makes_up_a_body_is_not_trusted(tmp_path):
    alphas, boxes = _head_at_the_edge(tmp_path, 0.75)
    for a in alphas:
        assert a[50, 600] == 255  # the head
        assert a[250:, 570:630].max() == 0  # and no body in the wall
    # Detection (whole, crop: distrusted), then the whole frame on every frame; at the
    # look (frame 3, 6) the crop is tried again beside the look, and distrusted again.
    assert boxes[:2] == [None, boxes[1]] and boxes[1] is not None
    assert boxes[2:4] == [None, None]  # frames 1 and 2
    assert boxes[4] is None and boxes[5] is not None  # frame 3: the look, then the crop


def test_off_the_crop_is_trusted(tmp_path):
    alphas, _ = _head_at_the_edge(tmp_path, float("inf"))
    assert all(a[250:300, 570:630].min() == 255 for a in alphas[2:])  # the made-up body, once the crop reaches it


def test_a_crop_that_agrees_again_is_used_again(tmp_path):
    alphas, boxes = _head_at_the_edge(tmp_path, 0.75, agree_later=True)
    # From the look at frame 3 on: the crop, and the whole frame only for the next look.
    assert [b is None for b in boxes[5:]] == [False, False, False, True, False]
    assert alphas[-1][50, 600] == 255 and alphas[-1][250:, 570:630].max() == 0
