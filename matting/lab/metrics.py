"""Matting metrics with the definitions of the video-matting literature.

Every function takes mattes as float arrays in [0, 1] (use :func:`unit` for uint8
0..255) of one shape ``HxW`` and an optional boolean ``valid`` mask: pixels where it is
False (the ``ignore/`` band of a data set) are not scored. The scale factors are those
of RVM's evaluation code (Lin et al., "Robust High-Resolution Video Matting with
Temporal Guidance", 2021, ``evaluation/evaluate_lr.py``), so numbers read like the
papers':

=========  =================================================================  =========
metric     definition                                                         reported
=========  =================================================================  =========
IoU        |P ∩ T| / |P ∪ T| with P = pred ≥ 0.5, T = true ≥ 0.5              as is
MAD        mean |pred − true|                                                 × 1e3
MSE        mean (pred − true)²                                                × 1e3
SAD        Σ |pred − true|                                                    / 1e3
Grad       Σ (|∇G_σ pred| − |∇G_σ true|)², σ = 1.4 (Rhemann et al. 2009)      / 1e3
Conn       Σ |φ(pred) − φ(true)|, step 0.1, δ = 0.15 (Rhemann et al. 2009)    / 1e3
dtSSD      sqrt(Σ ((pₜ − pₜ₋₁) − (tₜ − tₜ₋₁))² / N) (Erofeev et al. 2015)     × 1e2
flicker    mean |pₜ − pₜ₋₁| over pixels that did not change                   × 1e3
=========  =================================================================  =========

"Did not change" is ``trueₜ == trueₜ₋₁`` where there is ground truth
(:func:`gt_static`) and, for clips without ground truth, pixels whose picture stayed
the same (:func:`frame_static`).

Per-frame metrics are the entries of :data:`FRAME_METRICS` (``name → f(pred, true,
valid)``); :class:`SequenceScorer` adds the temporal ones. A metric that needs more
inputs (e.g. a composite colour error against ``fgr/``) is one more function here and
one more line in :meth:`SequenceScorer.add`.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

IOU_THRESHOLD = 0.5
GRAD_SIGMA = 1.4
CONN_STEP = 0.1
CONN_DELTA = 0.15  # differences to the "round-down" level below this count as zero
# clips without ground truth: a pixel is static when the grey level (after a σ = 1 blur
# that removes most compression noise) changed by at most STATIC_LEVELS, and nothing
# within STATIC_RADIUS px changed by more.
STATIC_LEVELS = 3.0
STATIC_RADIUS = 2


def unit(a: np.ndarray) -> np.ndarray:
    """uint8 0..255 → float32 0..1 (float input is returned as float32, unchanged)."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1 / 255)
    return a.astype(np.float32, copy=False)


def _check(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None) -> None:
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(f"pred {pred.shape} and true {true.shape} must be the same HxW shape")
    if valid is not None and valid.shape != true.shape:
        raise ValueError(f"valid {valid.shape} does not match {true.shape}")


def _select(a: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    return a if valid is None else a[valid]


# ---- per-frame metrics ------------------------------------------------------------------
def iou(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None,
        threshold: float = IOU_THRESHOLD) -> float:
    """Intersection over union of the masks ``pred ≥ threshold`` and ``true ≥ threshold``;
    1.0 when both are empty (nothing to find, nothing found)."""
    _check(pred, true, valid)
    p, t = _select(pred >= threshold, valid), _select(true >= threshold, valid)
    union = np.count_nonzero(p | t)
    return 1.0 if union == 0 else np.count_nonzero(p & t) / union


def mad(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean absolute difference × 1e3."""
    _check(pred, true, valid)
    d = _select(np.abs(pred - true), valid)
    return math.nan if d.size == 0 else float(d.mean(dtype=np.float64)) * 1e3


def mse(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean squared difference × 1e3."""
    _check(pred, true, valid)
    d = _select(pred - true, valid)
    return math.nan if d.size == 0 else float(np.square(d, dtype=np.float64).mean()) * 1e3


def sad(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Sum of absolute differences / 1e3 (grows with the image size, unlike MAD)."""
    _check(pred, true, valid)
    return float(_select(np.abs(pred - true), valid).sum(dtype=np.float64)) / 1e3


def gauss_derivative_filters(sigma: float = GRAD_SIGMA, epsilon: float = 1e-2):
    """The first-order Gaussian derivative kernels of Rhemann et al.'s gradient error, as
    in RVM's ``MetricGRAD.gauss_filter``: ``G(y)·G'(x)`` on a square support where the
    Gaussian has fallen to ``epsilon``, scaled to unit L2 norm. Returns (fx, fy = fxᵀ)."""
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    r = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-r ** 2 / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))
    dg = -r * g / sigma ** 2
    fx = np.outer(g, dg)  # rows: Gaussian in y; columns: derivative in x
    fx /= np.sqrt((fx ** 2).sum())
    return fx, fx.T.copy()


_FX, _FY = gauss_derivative_filters()
_GRAD_HALF = _FX.shape[0] // 2


def gradient_magnitude(a: np.ndarray) -> np.ndarray:
    """|∇(G_σ * a)| with the kernels above (float32 and borders replicated, as in RVM)."""
    a = a.astype(np.float32, copy=False)
    gx = cv2.filter2D(a, -1, _FX, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(a, -1, _FY, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def _nonzero_box(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """Slices of the bounding box of ``mask`` grown by ``margin`` (clipped), None if empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (slice(max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)),
            slice(max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)))


def grad(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Gradient error / 1e3: Σ (|∇G_σ pred| − |∇G_σ true|)² with σ = 1.4.

    As RVM's ``MetricGRAD`` on mattes in [0, 1], except that RVM first min–max stretches
    each map to [0, 1]; that is the identity for mattes that span 0..1 and would
    otherwise magnify a faint prediction, so it is left out. Only the bounding box of the
    non-zero pixels (grown by the kernel radius) is filtered: outside it both gradients
    are exactly zero.
    """
    _check(pred, true, valid)
    box = _nonzero_box((pred > 0) | (true > 0), _GRAD_HALF + 1)
    if box is None:
        return 0.0
    d = np.square(gradient_magnitude(pred[box]) - gradient_magnitude(true[box]))
    return float(_select(d, None if valid is None else valid[box]).sum(dtype=np.float64)) / 1e3


def conn(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None,
         step: float = CONN_STEP) -> float:
    """Connectivity error / 1e3 (Rhemann et al. 2009, as RVM's ``MetricCONN``).

    For thresholds t = step, 2·step, …, 1 the largest 4-connected component Ω of
    ``(pred ≥ t) & (true ≥ t)`` is found; each pixel's round-down level l is the last
    threshold before it left Ω (1 if it never did). φ(a) = 1 − (a − l)·[a − l ≥ 0.15],
    and the error is Σ |φ(pred) − φ(true)|. Pixels where both mattes are below the first
    threshold have l = 0 and φ = 1 for both, so only their bounding box is computed.
    """
    _check(pred, true, valid)
    box = _nonzero_box((pred >= step) | (true >= step), 0)
    if box is None:
        return 0.0
    p, t = pred[box].astype(np.float32), true[box].astype(np.float32)
    thresholds = np.arange(0, 1 + step, step)
    level = np.full(t.shape, -1.0, np.float32)
    for i in range(1, len(thresholds)):
        both = (t >= thresholds[i]) & (p >= thresholds[i])
        # labels only, areas by bincount: ~3x faster than connectedComponentsWithStats
        n, labels = cv2.connectedComponents(both.view(np.uint8), connectivity=4)
        if n <= 2:  # no component, or one: Ω is the intersection itself
            omega = both
        else:
            omega = labels == 1 + int(np.argmax(np.bincount(labels.ravel(), minlength=n)[1:]))
        level[(level == -1) & ~omega] = thresholds[i - 1]
    level[level == -1] = 1
    dt, dp = t - level, p - level
    phi_t = 1 - dt * (dt >= CONN_DELTA)
    phi_p = 1 - dp * (dp >= CONN_DELTA)
    return float(_select(np.abs(phi_t - phi_p), None if valid is None else valid[box]).sum(dtype=np.float64)) / 1e3


#: Per-frame metrics, name → f(pred, true, valid); the order is the report's.
FRAME_METRICS: dict[str, Callable[..., float]] = {
    "iou": iou, "mad": mad, "mse": mse, "sad": sad, "grad": grad, "conn": conn,
}


# ---- composite colour near the edge ----------------------------------------------------------
EDGE_BAND_PX = 3  # "within a few pixels of the edge"


def boundary_band(true: np.ndarray, radius: int = EDGE_BAND_PX) -> np.ndarray:
    """Pixels where the true alpha is fractional (0 < α < 1) or within ``radius`` pixels
    of the person's edge (``true`` in [0, 1])."""
    import cv2

    soft = (true > 0) & (true < 1)
    solid = (true >= 0.5).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    edge = cv2.dilate(solid, k) != cv2.erode(solid, k)
    return soft | edge


def boundary_colour_error(out: np.ndarray, true: np.ndarray, fgr: np.ndarray, background: np.ndarray,
                          valid: np.ndarray | None = None) -> float:
    """Composite colour error in the boundary band, in grey levels (0–255): the mean over
    the band's pixels and channels of ``|out − (α·F + (1−α)·B)|``, with the true alpha α
    (in [0, 1]), the true foreground colour F and the new background B. It sees both a
    wrong matte and the old background's colour left in the edge (a halo)."""
    if not (out.shape[:2] == true.shape == fgr.shape[:2] == background.shape[:2]):
        raise ValueError("out, true, fgr and background must have the same height and width")
    band = boundary_band(true)
    if valid is not None:
        band &= valid
    if not band.any():
        return math.nan
    a = true[band][:, None]
    want = a * fgr[band][:, :3] + (1 - a) * background[band][:, :3]
    return float(np.abs(out[band][:, :3].astype(np.float64) - want).mean())


# ---- temporal metrics -------------------------------------------------------------------
def dtssd(pred_t: np.ndarray, pred_tm1: np.ndarray, true_t: np.ndarray, true_tm1: np.ndarray,
          valid: np.ndarray | None = None) -> float:
    """Temporal coherence error × 1e2: sqrt(mean (Δpred − Δtrue)²) between two frames
    (RVM's ``MetricDTSSD``; the mean is over the scored pixels)."""
    _check(pred_t, true_t, valid)
    d = _select((pred_t - pred_tm1) - (true_t - true_tm1), valid)
    return math.nan if d.size == 0 else math.sqrt(float(np.square(d, dtype=np.float64).mean())) * 1e2


def flicker(pred_t: np.ndarray, pred_tm1: np.ndarray, static: np.ndarray) -> float:
    """Mean |predₜ − predₜ₋₁| × 1e3 over the ``static`` pixels (where the answer should
    not have changed); NaN when no pixel is static."""
    d = np.abs(pred_t - pred_tm1)[static]
    return math.nan if d.size == 0 else float(d.mean(dtype=np.float64)) * 1e3


def gt_static(true_t: np.ndarray, true_tm1: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Pixels whose ground truth did not change between two frames (and are scored)."""
    s = true_t == true_tm1
    return s if valid is None else s & valid


def frame_static(frame_t: np.ndarray, frame_tm1: np.ndarray, levels: float = STATIC_LEVELS,
                 radius: int = STATIC_RADIUS) -> np.ndarray:
    """Pixels whose picture did not change between two uint8 BGR frames: the grey level,
    blurred with σ = 1 against compression noise, moved by at most ``levels``, and so
    did every pixel within ``radius`` (so the rim of a moving object is not "static")."""
    def grey(f):
        g = cv2.cvtColor(f[:, :, :3], cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f
        return cv2.GaussianBlur(g.astype(np.float32), (0, 0), 1.0)

    moved = (np.abs(grey(frame_t) - grey(frame_tm1)) > levels).astype(np.uint8)
    if radius > 0:
        moved = cv2.dilate(moved, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1)))
    return moved == 0


def foreground_fraction(true: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Share of the (scored) pixels that are person (true ≥ 0.5)."""
    t = _select(true >= IOU_THRESHOLD, valid)
    return 0.0 if t.size == 0 else np.count_nonzero(t) / t.size


# ---- a sequence ---------------------------------------------------------------------------
class SequenceScorer:
    """Scores the frames of one sequence (or independent images) as they come.

    ``add(pred, true, valid, frame)`` returns the frame's metrics as a dict. With
    ``temporal=True`` consecutive frames are compared: dtSSD and flicker where the ground
    truth did not change, or, with ``true=None`` (a clip without ground truth), flicker
    where the picture did not change (``static``, or :func:`frame_static` of ``frame``
    and the previous one). NaN marks a metric that does not apply to a frame (the first
    frame has no temporal metrics).
    """

    def __init__(self, temporal: bool, metrics: dict[str, Callable[..., float]] | None = None):
        self.temporal = temporal
        self.metrics = FRAME_METRICS if metrics is None else metrics
        self.rows: list[dict[str, float]] = []
        self._prev = None

    def add(self, pred: np.ndarray, true: np.ndarray | None = None, valid: np.ndarray | None = None,
            frame: np.ndarray | None = None, static: np.ndarray | None = None) -> dict[str, float]:
        pred = unit(pred)
        true = None if true is None else unit(true)
        row: dict[str, float] = {}
        if true is not None:
            row["fg"] = foreground_fraction(true, valid)
            for name, fn in self.metrics.items():
                row[name] = fn(pred, true, valid)
        if self.temporal:
            row["flicker"] = math.nan
            if true is not None:
                row["dtssd"] = math.nan
            if self._prev is not None:
                ppred, ptrue, pvalid, pframe = self._prev
                if true is not None:
                    both = valid if pvalid is None else (pvalid if valid is None else valid & pvalid)
                    row["dtssd"] = dtssd(pred, ppred, true, ptrue, both)
                    static = gt_static(true, ptrue, both)
                else:
                    if static is None:
                        if frame is None or pframe is None:
                            raise ValueError("flicker without ground truth needs the frames or the static mask")
                        static = frame_static(frame, pframe)
                    row["static"] = float(static.mean())
                row["flicker"] = flicker(pred, ppred, static)
            self._prev = (pred, true, valid, None if true is not None else frame)
        self.rows.append(row)
        return row

    def reset(self) -> None:
        """Forget the previous frame (the next one starts a new sequence)."""
        self._prev = None


def summarize(rows: list[dict[str, float]], names: list[str] | None = None) -> dict[str, float]:
    """Mean of each metric over the frames where it applies (NaN skipped)."""
    names = names or sorted({k for r in rows for k in r})
    out = {}
    for k in names:
        vals = [r[k] for r in rows if k in r and not math.isnan(r[k])]
        out[k] = float(np.mean(vals)) if vals else math.nan
    return out
