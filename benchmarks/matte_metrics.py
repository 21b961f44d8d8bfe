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


def edge_columns(matte: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each of ``rows``: the first and last column where ``matte`` >= 128 (NaN where there is none)."""
    out = np.full((len(rows), 2), np.nan)
    for i, y in enumerate(rows):
        xs = np.flatnonzero(matte[y] >= 128)
        if xs.size:
            out[i] = (xs[0], xs[-1])
    return out


def edge_lag(stream: np.ndarray, current: np.ndarray, step: float, rows: np.ndarray) -> float:
    """How many frames the side edges of ``stream`` trail those of ``current`` in a pan of ``step`` px/frame.

    ``step`` > 0 means the picture moves right. Both mattes are of the same frame: ``current`` computed from
    it alone, ``stream`` by a streaming matte that also saw the frames before. 0 = no lag, 1 = one frame.
    """
    diff = edge_columns(current, rows) - edge_columns(stream, rows)
    return float(np.nanmean(diff)) / step
