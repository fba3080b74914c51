"""Fast area shrinking for the grid, the refinement's working size and the backgrounds.

OpenCV's ``INTER_AREA`` is the right filter for shrinking (it averages every source
pixel, as MediaPipe's own pre-processing does), but it is fast only for an exact factor
of 2; any other factor takes a generic path that is 5–15× slower than bilinear
(measured here at 1080p: 960×540 → 256×256 in 3.3 ms against 0.2 ms bilinear, 1920×1080
→ 256×256 in 9.4 ms). :func:`shrink` halves exactly while the image is at least twice the
target (0.26 ms for 960×540 → 480×270), then finishes the remaining factor (< 2)
bilinearly. Every source pixel is averaged in with factors of 2 and more (one-pixel
stripes come out grey, where a plain bilinear resize picks stripes out); between 1 and 2
it is bilinear, as a 1-to-2 INTER_AREA nearly is. The model's own input keeps INTER_AREA
(matting.model says why).
"""

from __future__ import annotations

import cv2
import numpy as np


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (width, height): area averaging by exact halvings of
    each side that is at least twice its target, then bilinear. An odd side loses its last
    row/column before a halving; the last step then maps the output onto the whole source
    (as if that pixel were there), so the geometry is the same as a direct resize.
    Enlarging is bilinear."""
    w, h = size
    height, width = image.shape[:2]
    fx = fy = 1  # how many source pixels one pixel of ``image`` now spans
    while True:
        ih, iw = image.shape[:2]
        kx, ky = 2 if iw >= 2 * w else 1, 2 if ih >= 2 * h else 1
        if kx == ky == 1:
            break
        # Bilinear at an exact factor of 2 averages each pair of pixels, i.e. it is the
        # area filter; OpenCV's INTER_AREA fast path covers only 2 × 2 (0.10 ms against
        # 0.11; for 2 × 1 INTER_AREA takes 1.3 ms, bilinear 0.42; 700×330, measured).
        image = cv2.resize(image[: ih // ky * ky, : iw // kx * kx], (iw // kx, ih // ky),
                           interpolation=cv2.INTER_AREA if kx == ky == 2 else cv2.INTER_LINEAR)
        fx, fy = fx * kx, fy * ky
    ih, iw = image.shape[:2]
    if iw * fx == width and ih * fy == height:  # nothing trimmed: a plain resize is exact
        return image if (iw, ih) == (w, h) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    # Output pixel x sits at source (x + 0.5)·width/w − 0.5, i.e. at (x + 0.5)·sx − 0.5 here
    # (0.3 ms more than a resize, only for odd sides).
    sx, sy = width / (w * fx), height / (h * fy)
    m = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
