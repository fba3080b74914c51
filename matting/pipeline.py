"""The four stages per frame, with their state: ROI → model → post-processing → fusion.

    p = Pipeline(Settings(background="#00ff00"))
    composite, alpha = p.process(frame_bgr)        # uint8 HxWx3/4 in, same shape out
    p.configure(temporal_strength=0.3)              # validated, keeps state where it can
    p.timings  # ms of the last frame per stage

Post-processing works on a *grid*: the frame downscaled by the integer factor that brings
its long side nearest to 640 px (720p, 1080p and 4K → 640×360; DAVIS's 854×480 stays as
it is). The model's output for the ROI is pasted into it, so temporal fusion and motion
are in frame coordinates even while the ROI moves, and their cost does not grow with the
resolution.
Only the final upsampling and the composite touch full-resolution pixels.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from .adaptive import AdaptiveRate, settle_frames
from .background import Background
from .composite import composite
from .errors import InputError
from .model import Segmenter
from .plate import KnownBackground
from .resize import shrink
from .scratch import Scratch, clear_outside
from . import refine
from .refine import (apply_guided_color, background_texture, edge_trust, fall_back, flat_cells, foreground_means,
                     guided_coefficients_color)
from .postprocess import filter_components, spread_motion, temporal_fuse_diff
from .roi import RoiTracker, crop_edge_claim, expand_box, fit_box, mask_bbox
from .settings import Settings

# The grid's long side is kept near this size, because every constant below counts grid
# pixels and was chosen on grids of 640 (1280×720 sequences) to 854 px (DAVIS): 1080p's
# old 960×540 grid lay outside that range and cost 2.25× the work (and readback in OBS).
GRID_LONG_SIDE = 640
MAX_SIDE = 8192  # larger frames are refused (memory), the caller passes them through
# Every constant below was chosen by cross-validation (`python -m matting tune`; how, and
# what each measured on held-out folds: docs/EVALUATION.md).
# Grey-level differences (on the grid, after area averaging) read as sensor noise below
# MOTION_LOW and as certain motion above MOTION_HIGH.
MOTION_LOW, MOTION_HIGH = 4.0, 16.0
MOTION_SPREAD = 2  # grid pixels around a change that count as moving
EDGE_RADIUS = 4  # grid pixels: window of the guided filter and of the colour means
# The model's probability is wider and softer than a true matte: refinement maps
# [EDGE_LOW, EDGE_HIGH] to [0, 1].
EDGE_LOW, EDGE_HIGH = 0.28, 0.72
# Refinement moves alpha at most EDGE_TRUST away from the model's remapped value: it
# works in the uncertain band and cannot cut away what the model was sure of (hair in
# front of a busy wall), nor add what the model rejected.
EDGE_TRUST = 0.15
# Hysteresis (temporal stage): a grid pixel that crosses the threshold keeps its last
# value unless it, or the model's value, is more than HYSTERESIS past it, so a region
# that wavers around the threshold (a branch touching the head) does not flip in and out
# every frame (matting.postprocess.temporal_fuse).
HYSTERESIS = 0.25
FLUSH = 0.5 / 255  # grid alpha below this is 0 (it rounds to 0 in the matte)
WRAP_SIGMA = 2.0  # light wrap's blur of the new background, in pixels of its 1/8 size
# The model's crop is at least the frame's short side / MIN_CROP per side: context for a
# small whole body (issue 32; searched by tune, docs/EVALUATION.md; unchanged).
MIN_CROP = 8
# A crop is not trusted when its matte runs along more than CROP_EDGE_MAX of one of its
# inner sides where the whole frame's matte of the same frame sees background
# (roi.crop_edge_claim), on a frame that has both (detection, and the periodic
# whole-frame look): the whole frame's matte is used instead, and the model sees the
# whole frame until a later look agrees with the crop again (issue 32: zoomed on a head
# at the frame's edge the model drew a body into a wall of the hair's colour). inf: off.
# 0.75 sits in the gap between the crops that were right (≤ 0.55 on the 58 people
# sequences) and the wrong one (0.97-0.98); it changed no other sequence, no development
# set, and no person fold's held-out J for the worse (docs/EVALUATION.md, issue 32).
CROP_EDGE_MAX = 0.75
REFINE_SIDE = 240  # longest side of the matte's box on which refinement is computed
ORDERS = ("BGR", "RGB")
STAGES = ("roi", "preprocess", "inference", "postprocess", "refine", "composite", "total")


def check_frame(frame, order: str = "BGR") -> np.ndarray:
    """Validate a frame (uint8 HxWx3 or HxWx4); InputError with a clear message if not."""
    if order not in ORDERS:
        raise InputError(f"order must be 'BGR' or 'RGB', got {order!r}")
    if not isinstance(frame, np.ndarray):
        raise InputError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise InputError(f"frame must be uint8 HxWx3 or HxWx4, got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    if h < 1 or w < 1 or h > MAX_SIDE or w > MAX_SIDE:
        raise InputError(f"frame size {w}x{h} is outside 1..{MAX_SIDE} pixels per side")
    return frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)


def grid_size(height: int, width: int) -> tuple[int, int, int]:
    """(grid height, grid width, factor) for a frame: the integer factor that brings the
    long side nearest to ``GRID_LONG_SIDE``, ties up (959 px stays, 960 halves)."""
    f = max(1, int(max(height, width) / GRID_LONG_SIDE + 0.5))
    return max(1, round(height / f)), max(1, round(width / f)), f


def baseline_alpha(frame: np.ndarray, segmenter: Segmenter, order: str = "BGR") -> np.ndarray:
    """What typical plugins do: the whole frame stretched to the model, the probability
    upsampled bilinearly, no post-processing. uint8 HxW.

    The reference stays as the issues measured it: OpenCV's INTER_AREA shrinks the frame
    (the pipeline's own crops go through :func:`matting.resize.area_resize`, the same
    filter, faster), so a faster kernel in the pipeline does not move the goalposts."""
    h, w = frame.shape[:2]
    prob = segmenter.predict(frame, order, opencv=True)
    return _to_u8(cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR))


def _exact_multiple(k: int) -> int:
    """The multiple a side must be of for :func:`matting.resize.shrink` to reduce it by
    ``k`` exactly: it halves while the side is at least twice the target (``h`` times,
    ``2^h ≤ k``), and trims nothing only if the side is divisible by ``2^h`` and by ``k``."""
    return math.lcm(k, 1 << (k.bit_length() - 1))


def _align(lo: int, hi: int, m: int, limit: int) -> tuple[int, int]:
    """``[lo, hi)`` grown to ends on multiples of ``m`` (so a box that moves by a pixel
    keeps the same blocks, and the same refinement), inside ``[0, limit)``: at the upper
    edge the start moves down instead; unchanged if ``limit`` is too short."""
    a, b = lo - lo % m, hi + (-hi % m)
    if b > limit:
        b = limit
        a = b - (b - a + m - 1) // m * m
    return (a, b) if a >= 0 else (lo, hi)


def trust_band(grid_alpha: np.ndarray, low: float, high: float) -> np.ndarray:
    """The model's grid matte remapped like the refinement ([low, high] → [0, 255],
    unclipped): :func:`matting.refine.apply_guided_color` keeps its output within
    ``band ± 255·EDGE_TRUST`` of it (sampled bilinearly)."""
    return np.ascontiguousarray((grid_alpha - np.float32(low)) * np.float32(255.0 / (high - low)), np.float32)


_NO_BAND = np.zeros((0, 0), np.float32)


def _to_u8(a: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(a, alpha=255.0)  # saturating round, in one fast pass


class Pipeline:
    """Background replacement for a stream of frames; keeps the state between them."""

    def __init__(self, settings: Settings | None = None, **changes):
        settings = (settings or Settings()).replace(**changes) if changes else (settings or Settings())
        self.settings = settings
        self.segmenter = Segmenter(settings.model, settings.device, settings.threads)
        self.background = Background(settings.background, settings.background_fit, settings.blur_strength)
        self.tracker = RoiTracker(settings.smooth_alpha, settings.smooth_beta, settings.roi_margin)
        self.known_bg = KnownBackground(settings.known_background)
        if settings.background_plate:
            self.known_bg.load(settings.background_plate)
        self.adaptive = AdaptiveRate(settings.adaptive_rate, settle_frames(settings.temporal_strength))
        self.timings: dict[str, float] = {}
        self._scratch = Scratch()
        self._helper_pool = None  # see _helper()
        self._shape = None
        self.frame_index = 0
        self.model_runs = 0  # frames on which the model ran (the rest carried the matte)

    # -- settings and state ------------------------------------------------------------
    @property
    def provider(self) -> str:
        return self.segmenter.provider

    def configure(self, settings: Settings | None = None, **changes) -> None:
        """Apply new settings. The model is reloaded only if model/device/threads changed,
        the background only if it changed; on an error the old ones stay in use."""
        new = (settings or self.settings).replace(**changes) if changes else (settings or self.settings)
        old = self.settings
        if (new.model, new.device, new.threads) != (old.model, old.device, old.threads):
            self.segmenter = Segmenter(new.model, new.device, new.threads)
            self._shape = None  # model size may differ: start tracking afresh
            if self.segmenter.threads < 2 and self._helper_pool is not None:
                self._helper_pool.shutdown(wait=False)  # idle between frames: nothing to wait for
                self._helper_pool = None
        if (new.background, new.background_fit) != (old.background, old.background_fit) or self.background.outdated:
            background = Background(new.background, new.background_fit, new.blur_strength)
            self.background.close()
            self.background = background
        self.background.blur_strength = new.blur_strength
        self.tracker.alpha, self.tracker.beta = new.smooth_alpha, new.smooth_beta
        self.tracker.margin = new.roi_margin
        if not new.roi:
            self.tracker.reset()
        if new.background_plate != old.background_plate:
            self.known_bg.load(new.background_plate) if new.background_plate else self.known_bg.clear()
        self.known_bg.learn = new.known_background
        self.adaptive.mode = new.adaptive_rate
        self.adaptive.settle = settle_frames(new.temporal_strength)
        if new != old:
            self.adaptive.reset()  # a change may change the matte: run the model next frame
        self.settings = new

    # -- known background (matting.plate) -------------------------------------------------
    def set_background_plate(self, image: np.ndarray | None) -> None:
        """Use ``image`` (uint8 HxWx3/4 in the frames' channel order: a picture of the
        empty room from this camera) as the known background; None forgets it."""
        self.known_bg.set_plate(image) if image is not None else self.known_bg.clear()

    def capture_background(self, frames, order: str | None = None) -> None:
        """Known background from frames of the empty room (their per-pixel median);
        ``order`` "BGR"/"RGB" of the frames, None = that of the frames processed next."""
        self.known_bg.capture(frames, order)

    @property
    def known_background_status(self) -> str:
        """"known background: active (x % of the edge) / learning / off (camera moved) /
        stale — capture again", for the front ends."""
        return self.known_bg.status

    def reset(self) -> None:
        """Forget tracking and temporal state (the next frame starts fresh); a learnt
        background plate is forgotten too, a captured one kept."""
        self._shape = None
        self.known_bg.reset()
        self.adaptive.reset()

    @property
    def _roi_on(self) -> bool:
        # A recurrent model's state is only meaningful for one stable input geometry:
        # it always sees the whole frame (no ROI crops).
        return self.settings.roi and not self.segmenter.recurrent

    def _start(self, h: int, w: int) -> None:
        gh, gw, _ = grid_size(h, w)
        self._shape = (h, w)
        self._grid = (gh, gw)
        self._sx, self._sy = w / gw, h / gh
        self._alpha_grid = np.zeros((gh, gw), np.float32)
        self._current = np.zeros((gh, gw), np.float32)
        # Grid boxes (x0, y0, x1, y1), end-exclusive, outside which _alpha_grid and
        # _current are 0 (None: nowhere). Post-processing works inside their union only,
        # so its cost follows the person, not the frame.
        self._live = None
        self._pasted = None
        self._prev_gray = None
        self._carry = None  # (alpha, box, foreground) of the last model run
        self.edge_colours = ((0, 0, 0, 0), None)  # the last frame's matte box and halo colour means
        self._last_redetect = 0
        self._whole_mode = False  # a crop was distrusted (CROP_EDGE_MAX): the whole frame until a look agrees
        self.tracker.reset()
        self.segmenter.reset_state()
        self.adaptive.reset()
        self.frame_index = 0

    # -- the four stages ---------------------------------------------------------------
    def process(self, frame: np.ndarray, order: str = "BGR", out: np.ndarray | None = None,
                fuse: bool = True):
        """One frame → ``(composite, alpha)``.

        ``frame`` is uint8 HxWx3 or HxWx4, its first three channels in ``order``. The
        composite has the frame's shape (4 channels if the background is transparent);
        pass ``out=frame`` to composite in place. ``alpha`` is the uint8 HxW matte.
        With ``fuse=False`` stage 4 is skipped and the composite is None: for a caller
        that blends elsewhere (the OBS filter's GPU path) and needs only the matte.
        """
        t0 = time.perf_counter()
        frame = check_frame(frame, order)
        h, w = frame.shape[:2]
        if self._shape != (h, w):
            self._start(h, w)
        s = self.settings

        channels = 4 if self.background.transparent else frame.shape[2]
        if out is not None and (not isinstance(out, np.ndarray) or out.shape != (h, w, channels)
                                or out.dtype != np.uint8 or not out.flags.writeable):
            got = (f"{'read-only ' if not out.flags.writeable else ''}{out.dtype} {out.shape}"
                   if isinstance(out, np.ndarray) else type(out).__name__)
            raise InputError(f"out must be a writable uint8 {h}x{w}x{channels} array, got {got}")

        # The frame at grid size: motion, refinement, and (for large crops) the model's
        # input come from it, so the full-resolution frame is read only once here.
        # All channels, then drop the 4th: OpenCV copies a strided 3-of-4-channel view
        # slowly first (1080p BGRA, as from OBS: 15.8 ms against 0.9 ms, measured).
        small = shrink(frame, self._grid[::-1])
        if small.shape[2] == 4:
            small = cv2.cvtColor(small, cv2.COLOR_BGRA2BGR)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        t_small = time.perf_counter() - t0
        if self._carry is not None and self.adaptive.may_skip(gray):
            # Nothing moved at the outline since the model last ran: its matte holds.
            return self._carried(frame, gray, out, order, channels, t0, t_small, fuse)
        detecting = self._roi_on and self.tracker.forecast is None
        box, look = self._roi_box(frame, small, order)
        t1 = time.perf_counter()
        prob, t_pre, t_inf = self._infer(frame, small, box, order)
        if detecting:
            # Detect, then refine: the person found on the whole frame is run again on
            # their own crop at once, so the first frame (a still image, someone walking
            # in) gets the ROI's detail without waiting a frame.
            self._whole_mode = False
            crop = self._crop_from(prob, box)
            if crop is not None:
                crop_prob, t_pre2, t_inf2 = self._infer(frame, small, crop, order)
                t_pre, t_inf = t_pre + t_pre2, t_inf + t_inf2
                if self._crop_trusted(prob, crop_prob, crop):
                    box, prob = crop, crop_prob
        elif look is not None and not self._crop_trusted(look, prob, box):
            box, prob = (0, 0, w, h), look
        t3 = time.perf_counter()
        self._paste(prob, box)
        self._fuse(gray)
        self._prev_gray = gray
        self._track()
        if detecting and self.tracker.forecast is not None:
            self.adaptive.restart()  # someone found on the whole frame: their matte settles first
        t4 = time.perf_counter()

        alpha, abox, foreground = self._refine(frame, small)
        alpha, abox, foreground = self.known_bg.process(frame, small, self._alpha_grid, alpha, abox, foreground,
                                                              order)
        self.edge_colours = (abox, foreground)  # for a caller that composites elsewhere (fuse=False)
        self.model_runs += 1
        if self.adaptive.policy is not None:
            alpha.flags.writeable = False  # carried to later frames: nobody may change it
            self._carry = (alpha, abox, foreground)
            self.adaptive.ran(gray, self._alpha_grid, self._grid_box(box))
        t5 = time.perf_counter()

        result = self._composite(frame, alpha, out, order, channels, abox, foreground) if fuse else None
        t6 = time.perf_counter()

        self.frame_index += 1
        t_pre += t_small
        t_post = t4 - t3 + (t3 - t1 - t_pre + t_small - t_inf)  # the component filter runs inside _infer
        self.timings = {k: 1e3 * v for k, v in zip(STAGES, (t1 - t0 - t_small, t_pre, t_inf, t_post, t5 - t4, t6 - t5, t6 - t0))}
        return result, alpha

    def _composite(self, frame, alpha, out, order, channels, abox, foreground):
        """Stage 4: the frame over the new background with the matte."""
        h, w = self._shape
        bg = self.background.frame(h, w, channels, order, frame)
        result = composite(frame, alpha, bg, out, abox, foreground, self.background.uniform, self._helper())
        if self.settings.light_wrap > 0 and bg is not None:
            self._light_wrap(result, bg, abox)
        return result

    def _carried(self, frame, gray, out, order, channels, t0, t_small, fuse):
        """A frame without the model (adaptive rate): the last run's matte and edge
        colours, composited with this frame's pixels."""
        alpha, abox, foreground = self._carry
        self.edge_colours = (abox, foreground)
        self._prev_gray = gray
        t4 = time.perf_counter()
        result = self._composite(frame, alpha, out, order, channels, abox, foreground) if fuse else None
        t6 = time.perf_counter()
        self.frame_index += 1
        self.timings = {k: 1e3 * v for k, v in zip(STAGES, (t4 - t0 - t_small, t_small, 0.0, 0.0, 0.0, t6 - t4, t6 - t0))}
        return result, alpha

    def _grid_box(self, box):
        """A frame-pixel box in grid pixels (outward-rounded, clamped)."""
        gh, gw = self._grid
        x0, y0, x1, y1 = box
        return (max(0, int(x0 / self._sx)), max(0, int(y0 / self._sy)),
                min(gw, math.ceil(x1 / self._sx)), min(gh, math.ceil(y1 / self._sy)))

    def _infer(self, frame: np.ndarray, small: np.ndarray, box, order: str):
        """Stages 2 and 3a on one crop: (filtered probability, preprocess s, inference s)."""
        s = self.settings
        ta = time.perf_counter()
        tensor = self.segmenter.preprocess(self._crop(frame, small, box), order)
        tb = time.perf_counter()
        prob = self.segmenter.run(tensor)
        tc = time.perf_counter()
        if s.cc_filter:
            prior = self._prior(box, prob.shape) if s.keep_largest else None
            prob = filter_components(prob, s.threshold, self._min_area_px(box), s.keep_largest, prior)
        return prob, tb - ta, tc - tb

    def _fuse(self, gray: np.ndarray) -> None:
        """Stage 3b: motion-guided temporal fusion of the pasted probability into the grid
        matte, inside the union of where the matte was and where the crop was pasted
        (both are 0 elsewhere, and so is the result); then the matte's new extent."""
        s = self.settings
        gh, gw = self._grid
        boxes = [b for b in (self._live, self._pasted) if b is not None]
        if not boxes:
            self._live = None
            return
        # One grid pixel more than motion's spread: a change just outside still counts.
        pad = MOTION_SPREAD + 1
        x0, y0 = max(0, min(b[0] for b in boxes) - pad), max(0, min(b[1] for b in boxes) - pad)
        x1, y1 = min(gw, max(b[2] for b in boxes) + pad), min(gh, max(b[3] for b in boxes) + pad)
        # The kernels work on whole rows: a band of rows of the C-contiguous grid is
        # C-contiguous, which lets numba vectorise them (temporal_fuse on the column-cut
        # window: 0.34 ms at 1080p, on the rows 0.11, measured). Outside the window both
        # mattes are 0 and more than motion's spread away from anything that is not, so the
        # result is the same.
        rows = slice(y0, y1)
        alpha, current = self._alpha_grid[rows], self._current[rows]
        if s.temporal_strength > 0 and self._prev_gray is not None:
            # Grey-level differences, widened as uint8, mapped to motion inside the fusion:
            # the same as temporal_fuse(…, spread_motion(motion_mask(…))) (tests/test_kernels.py).
            diff = spread_motion(cv2.absdiff(gray[rows], self._prev_gray[rows]), MOTION_SPREAD)
            temporal_fuse_diff(current, alpha, diff, MOTION_LOW, MOTION_HIGH, s.temporal_strength, alpha,
                               s.threshold, HYSTERESIS, FLUSH)
        else:
            np.copyto(alpha, np.where(current >= FLUSH, current, np.float32(0)))
        bx0, by0, bx1, by1 = mask_bbox(alpha[:, x0:x1], FLUSH)
        self._live = None if bx0 < 0 else (x0 + bx0, y0 + by0, x0 + bx1, y0 + by1)

    def _prior(self, box, shape):
        """Last frame's matte over ``box``, at the model's output size (None on the first frame)."""
        if self.frame_index == 0 or self._live is None:
            return None
        x0, y0, x1, y1 = box
        gx0, gy0 = int(x0 / self._sx), int(y0 / self._sy)
        gx1, gy1 = max(gx0 + 1, round(x1 / self._sx)), max(gy0 + 1, round(y1 / self._sy))
        return cv2.resize(self._alpha_grid[gy0:gy1, gx0:gx1], shape[::-1], interpolation=cv2.INTER_LINEAR)

    def _crop(self, frame: np.ndarray, small: np.ndarray, box) -> np.ndarray:
        """The model's input crop: from the grid image where it still has at least the
        model's resolution (much less to shrink), else from the full frame."""
        x0, y0, x1, y1 = box
        mh, mw = self.segmenter.input_hw
        gx0, gy0 = int(x0 / self._sx), int(y0 / self._sy)
        gx1, gy1 = max(gx0 + 1, round(x1 / self._sx)), max(gy0 + 1, round(y1 / self._sy))
        if gx1 - gx0 >= mw and gy1 - gy0 >= mh:
            return small[gy0:gy1, gx0:gx1]
        return frame[y0:y1, x0:x1]

    def _crop_from(self, prob: np.ndarray, box):
        """The ROI a whole-frame probability map points to, or None (nobody, or no gain)."""
        h, w = self._shape
        bx0, by0, bx1, by1 = mask_bbox(prob, self.settings.threshold)
        if bx0 < 0:
            return None
        mh, mw = prob.shape
        found = expand_box((bx0 * w / mw, by0 * h / mh, bx1 * w / mw, by1 * h / mh), self.settings.roi_margin)
        crop = self._fit(found)
        return None if crop == box else crop

    def _fit(self, box):
        h, w = self._shape
        mh, mw = self.segmenter.input_hw
        return fit_box(box, w, h, max(32, min(h, w) // MIN_CROP), mw / mh)

    def _roi_box(self, frame: np.ndarray, small: np.ndarray, order: str):
        """Stage 1: the crop to run the model on (the whole frame when not tracking, or
        while a crop is distrusted), and the whole-frame look's probability if one was
        taken this frame (else None)."""
        h, w = self._shape
        s = self.settings
        if not self._roi_on or self.tracker.forecast is None:
            return (0, 0, w, h), None
        look = None
        # Counted from the last look, not by frame number: a look due on a frame that
        # carried the matte (adaptive rate) happens on the next run.
        if s.redetect_interval and self.frame_index - self._last_redetect >= s.redetect_interval:
            self._last_redetect = self.frame_index
            look = self._redetect(small, order)
        if self._whole_mode and look is None:
            return (0, 0, w, h), None
        box = self._fit(self.tracker.forecast)
        return box, (look if box != (0, 0, w, h) else None)

    def _crop_trusted(self, whole: np.ndarray, crop: np.ndarray, box) -> bool:
        """Whether the crop's probability agrees with the whole frame's of the same frame
        (``CROP_EDGE_MAX``); remembers the answer (the whole frame until a look agrees)."""
        if not math.isfinite(CROP_EDGE_MAX):
            return True
        h, w = self._shape
        claim = crop_edge_claim(whole, crop, (box[0] / w, box[1] / h, box[2] / w, box[3] / h), self._grid,
                                self.settings.threshold)
        self._whole_mode = claim > CROP_EDGE_MAX
        return not self._whole_mode

    def _redetect(self, small: np.ndarray, order: str):
        """Whole-frame look for someone outside the tracked box (a person walking in);
        returns its probability, or None if it found nobody."""
        h, w = self._shape
        s = self.settings
        prob = self.segmenter.predict(small, order)
        prob = filter_components(prob, s.threshold, self._min_area_px((0, 0, w, h)), s.keep_largest)
        bx0, by0, bx1, by1 = mask_bbox(prob, s.threshold)
        if bx0 < 0:
            return None
        mh, mw = prob.shape
        found = np.array([bx0 * w / mw, by0 * h / mh, bx1 * w / mw, by1 * h / mh])
        cur = self.tracker.last
        tol = 0.05 * max(w, h)  # the whole-frame detection is coarse: ignore small differences
        if (found[:2] < cur[:2] - tol).any() or (found[2:] > cur[2:] + tol).any():
            self.tracker.restart(np.concatenate([np.minimum(found[:2], cur[:2]), np.maximum(found[2:], cur[2:])]))
        return prob

    def _min_area_px(self, box) -> float:
        """``min_area`` (fraction of the frame) in model pixels for this crop."""
        h, w = self._shape
        mh, mw = self.segmenter.input_hw
        crop_area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
        return self.settings.min_area * h * w * (mh * mw) / crop_area

    def _paste(self, prob: np.ndarray, box) -> None:
        """Put the crop's probability into the grid, zero elsewhere."""
        gh, gw = self._grid
        x0, y0, x1, y1 = box
        gx0, gy0 = min(gw - 1, int(round(x0 / self._sx))), min(gh - 1, int(round(y0 / self._sy)))
        gx1, gy1 = max(gx0 + 1, min(gw, int(round(x1 / self._sx)))), max(gy0 + 1, min(gh, int(round(y1 / self._sy))))
        if self._pasted is not None:  # 0 where the last paste was, except what this one covers
            clear_outside(self._current, self._pasted, (gx0, gy0, gx1, gy1))
        view = self._current[gy0:gy1, gx0:gx1]
        # Resized straight into the grid (OpenCV writes into the strided view): no temporary.
        pasted = cv2.resize(prob, (gx1 - gx0, gy1 - gy0), dst=view, interpolation=cv2.INTER_LINEAR)
        if pasted is not view:
            view[...] = pasted
        self._pasted = (gx0, gy0, gx1, gy1)

    def _track(self) -> None:
        """The matte's box becomes the next frame's ROI; nobody there → detect again."""
        if not self._roi_on:
            return
        if self._live is None:
            self.tracker.reset()
            return
        lx0, ly0, lx1, ly1 = self._live
        bx0, by0, bx1, by1 = mask_bbox(self._alpha_grid[ly0:ly1, lx0:lx1], self.settings.threshold)
        if bx0 < 0:
            self.tracker.reset()
            return
        self.tracker.observe(((lx0 + bx0) * self._sx, (ly0 + by0) * self._sy,
                              (lx0 + bx1) * self._sx, (ly0 + by1) * self._sy))

    def light_wrap_gain(self) -> np.ndarray:
        """Light wrap's gain on the grid: ``k = light_wrap·α·(1 − blur(α))``, largest just
        inside the edge (float32, grid-sized)."""
        a = self._alpha_grid
        r = 2 * EDGE_RADIUS + 1
        return self.settings.light_wrap * a * (1 - cv2.blur(a, (r, r)))

    def _light_wrap(self, result: np.ndarray, bg: np.ndarray, box) -> None:
        """Spill a little of the blurred new background onto the person's edge, so they
        look lit by the new scene: ``out += k·(blur(B) − out)`` (:meth:`light_wrap_gain`)."""
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            return
        grid_box = (slice(int(y0 / self._sy), max(int(y0 / self._sy) + 1, int(math.ceil(y1 / self._sy)))),
                    slice(int(x0 / self._sx), max(int(x0 / self._sx) + 1, int(math.ceil(x1 / self._sx)))))
        k = self.light_wrap_gain()
        k = cv2.resize(k[grid_box], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)[:, :, None]
        region = result[y0:y1, x0:x1, :3]
        small_bg = shrink(bg[y0:y1, x0:x1, :3], (max(1, (x1 - x0) // 8), max(1, (y1 - y0) // 8)))
        wrap = cv2.resize(cv2.GaussianBlur(small_bg, (0, 0), WRAP_SIGMA), (x1 - x0, y1 - y0),
                          interpolation=cv2.INTER_LINEAR)
        region[...] = (region + k * (wrap.astype(np.float32) - region) + 0.5).astype(np.uint8)

    def _helper(self):
        """A second thread for the halves of a frame's work that do not wait for each other
        (blur fusion beside the guided filter, every other block of the composite's rows),
        or None with ``threads`` 1 (the OBS worker: there OBS's own threads keep the cores
        busy). On two cores ONNX Runtime's second thread gains the model nothing (docs/
        RESULTS.md), while these halves do (at 1080p, tools/ab_checkouts.py, two runs each:
        refine 2.71 → 2.11 and 2.80 → 2.21 ms, composite 1.15 → 0.88 and 1.02 → 0.66); the
        results are the same to the bit."""
        if self.segmenter.threads < 2:
            return None
        if self._helper_pool is None:
            self._helper_pool = ThreadPoolExecutor(1, thread_name_prefix="matting-helper")
        return self._helper_pool

    def _refine(self, frame: np.ndarray, small: np.ndarray):
        """Grid matte → full-resolution uint8 matte over its non-zero box (guided by the
        image when ``edge_detail`` > 0), and the local foreground/background colour means
        for halo removal. Returns (alpha, box, (fm, bm) or None)."""
        h, w = self._shape
        s = self.settings
        alpha = np.zeros((h, w), np.uint8)
        if self._live is None:
            return alpha, (0, 0, 0, 0), None
        gx0, gy0, gx1, gy1 = self._live
        # Context around the matte: the guided filter's window (and one pixel for bilinear).
        gh, gw = self._grid
        pad = EDGE_RADIUS + 1
        gx0, gy0, gx1, gy1 = max(0, gx0 - pad), max(0, gy0 - pad), min(gw, gx1 + pad), min(gh, gy1 + pad)
        # The filter's inputs are smooth at this scale: a large box is worked on at most
        # REFINE_SIDE px (the "fast" in fast guided filter), which bounds the cost at 4K.
        k = max(1, math.ceil(max(gy1 - gy0, gx1 - gx0) / REFINE_SIDE))
        if k > 1:
            # Sides that shrink by k exactly: an odd side made shrink trim a pixel and
            # resample the rest (warpAffine; refine at 1080p −0.09 ms on average without
            # it, tools/ab_checkouts.py); a pixel or two more of context costs nothing.
            # Ends on multiples of the block, so that the blocks do not shift with the box.
            m = _exact_multiple(k)
            gx0, gx1 = _align(gx0, gx1, m, gw)
            gy0, gy1 = _align(gy0, gy1, m, gh)
        x0, y0 = int(gx0 * self._sx), int(gy0 * self._sy)
        x1, y1 = min(w, int(math.ceil(gx1 * self._sx))), min(h, int(math.ceil(gy1 * self._sy)))
        grid_alpha = self._alpha_grid[gy0:gy1, gx0:gx1]
        small = grid_image = small[gy0:gy1, gx0:gx1]
        radius = EDGE_RADIUS
        if k > 1:
            size = (math.ceil((gx1 - gx0) / k), math.ceil((gy1 - gy0) / k))
            small = shrink(small, size)
            grid_alpha = shrink(grid_alpha, size)
            radius = max(2, round(EDGE_RADIUS / k))
        halo = s.halo_removal and not self.background.transparent
        helper = self._helper() if halo else None
        # The colour means need only the grid: on the helper while the guided filter runs.
        means = helper.submit(foreground_means, small, grid_alpha, radius, self._scratch, True) if helper else None
        nogil = means is not None  # both threads busy: kernels that release the GIL (matting.gil)
        try:
            if s.edge_detail > 0:
                eps = 10.0 ** (-1.0 - 3.0 * s.edge_detail)  # 0.9 → 2e-4 (on colours in [0, 1])
                fy, fx = grid_alpha.shape[0] / (y1 - y0), grid_alpha.shape[1] / (x1 - x0)
                a, b = guided_coefficients_color(small, grid_alpha, radius, eps, self._scratch, nogil)
                band = trust_band(grid_alpha, EDGE_LOW, EDGE_HIGH) if EDGE_TRUST < 1 else _NO_BAND
                # Where the room beside the edge is as busy as the edge (stripes), the
                # picture's edges are not trusted: the model's own matte there (issue 32).
                # Off by default (refine.TEXTURE_HIGH = inf: measured, docs/EVALUATION.md).
                if math.isfinite(refine.TEXTURE_HIGH):
                    trust = edge_trust(background_texture(grid_image, grid_alpha, grid_alpha.shape[::-1], radius))
                    if trust.min() < 1:
                        fall_back(a, b, band, grid_alpha, trust, EDGE_LOW, EDGE_HIGH)
                flat = (flat_cells.nogil if nogil else flat_cells)(a, b, EDGE_LOW, EDGE_HIGH, band,
                                                                   255.0 * EDGE_TRUST)
                (apply_guided_color.nogil if nogil else apply_guided_color)(
                    frame[y0:y1, x0:x1], a, b, fy, fx, EDGE_LOW, EDGE_HIGH, alpha[y0:y1, x0:x1], flat, band,
                    255.0 * EDGE_TRUST)
            else:
                alpha[y0:y1, x0:x1] = cv2.resize(_to_u8(grid_alpha), (x1 - x0, y1 - y0),
                                                 interpolation=cv2.INTER_LINEAR)
        finally:
            # Waited for even on an error: the next frame must not share its scratch arrays.
            foreground = means.result() if means is not None else None
        if halo and means is None:
            foreground = foreground_means(small, grid_alpha, radius, self._scratch)
        return alpha, (x0, y0, x1, y1), foreground
