"""Matte quality metrics, independent of vcamd: IoU, boundary F, alpha error, flicker, edge lag.

All take uint8 mattes (255 = person) of the same size. The definitions reproduce the baseline numbers in
``../shared/data/README.md``:

- IoU of the mattes cut at 128.
- Boundary F: boundaries are the 3x3 morphological gradient of each cut matte; a boundary pixel counts as
  matched if the other boundary lies within a disc of radius round(0.8 % of the image diagonal);
  F = 2PR / (P + R), averaged per image.
- Alpha error: mean |alpha - matte| with alpha in 0..1, per 1000.
- Flicker: mean |alpha_t - alpha_(t-1)|, alpha in 0..1, per 1000.
"""

from __future__ import annotations

import cv2
import numpy as np

BOUNDARY_TOLERANCE = 0.008  # share of the image diagonal


def iou(matte: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of ``matte`` and ``truth`` cut at 128 (1.0 when both are empty)."""
    p, g = matte >= 128, truth >= 128
    union = int(np.count_nonzero(p | g))
    return float(np.count_nonzero(p & g) / union) if union else 1.0


def _boundary(mask: np.ndarray) -> np.ndarray:
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0


def boundary_f(matte: np.ndarray, truth: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """Boundary F-score of ``matte`` against ``truth`` (see the module docstring)."""
    h, w = truth.shape[:2]
    r = round(tolerance * float(np.hypot(h, w)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    bp, bg = _boundary(matte >= 128), _boundary(truth >= 128)
    if not bp.any() or not bg.any():
        return float(bp.any() == bg.any())
    precision = float(cv2.dilate(bg.astype(np.uint8), disc)[bp].mean())
    recall = float(cv2.dilate(bp.astype(np.uint8), disc)[bg].mean())
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def alpha_error(matte: np.ndarray, truth: np.ndarray) -> float:
    """Mean |matte - truth| per 1000 of the full range."""
    return float(cv2.absdiff(matte, truth).mean()) / 255.0 * 1000.0


def flicker(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean frame-to-frame change of a matte, per 1000 of the full range."""
    return alpha_error(current, previous)


def shifted(matte: np.ndarray, dx: float) -> np.ndarray:
    """``matte`` moved right by ``dx`` pixels (sub-pixel, bilinear; edges repeated)."""
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0]], np.float32)
    return cv2.warpAffine(matte, m, (matte.shape[1], matte.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


LAGS = np.arange(-1.0, 4.01, 0.05)  # the lags edge_lag tries, in frames


def edge_lag(stream: np.ndarray, current: np.ndarray, step: float, lags: np.ndarray = LAGS) -> float:
    """How many frames ``stream`` trails ``current`` while the picture moves ``step`` px/frame to the right.

    Both are mattes of the same frame: ``current`` without temporal smoothing, ``stream`` with it. The
    answer is the lag L (among ``lags``) for which ``current`` moved back by L frames of motion matches
    ``stream`` best: 0 = no lag, 1 = the edge is where it was one frame ago.
    """
    errors = [cv2.absdiff(stream, shifted(current, -step * lag)).mean() for lag in lags]
    return float(lags[int(np.argmin(errors))])
