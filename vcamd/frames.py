"""Frames in memory: reused buffers, and the resizes the engine and the daemon share.

Promises:
- :class:`BufferPool` hands a buffer out again only once nothing else holds it.
- :func:`cover_fit` fills a size without stretching (scale to cover, centre-crop); :func:`upscale` enlarges
  with ``cv2.resize``'s INTER_LINEAR pixel centres, within one level of it. Both warp only where OpenCV warps
  fast (:data:`FAST_WARP`) and resize elsewhere, so an older OpenCV costs a resize, not a slow warp.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

#: OpenCV 5.1 and later warp with SIMD. Before it, the engine's 720p enlargement costs 1.8-3.0 ms as a warp
#: against 0.36 ms as a resize (0.14 ms as a warp on 5.1): see docs/performance.md.
FAST_WARP_SINCE = (5, 1)
FAST_WARP: bool = tuple(int(p) for p in cv2.__version__.split(".")[:2]) >= FAST_WARP_SINCE

class BufferPool:
    """Up to ``size`` uint8 buffers of one shape, each handed out again only once nobody else holds it (no
    name, no view, no other thread). One thread calls :meth:`buffer`; others only drop their references,
    so a buffer seen as free stays free until it is handed out again."""

    #: sys.getrefcount of a free pooled buffer in :meth:`buffer`'s loop: the list, the loop name, the call.
    _FREE_REFS = 3

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffers: list[np.ndarray] = []

    def buffer(self, shape: tuple[int, ...] | None) -> np.ndarray | None:
        """A buffer of ``shape`` nothing else holds (a new one while the pool is not full), or None (let
        the caller allocate) when ``shape`` is unknown or every pooled buffer is held. Buffers of another
        shape are dropped."""
        if shape is None:
            return None
        self._buffers = [b for b in self._buffers if b.shape == shape]
        for buf in self._buffers:
            if sys.getrefcount(buf) <= self._FREE_REFS:
                return buf
        if len(self._buffers) < self.size:
            self._buffers.append(np.empty(shape, np.uint8))
            return self._buffers[-1]
        return None


def cover_scale(img: np.ndarray, size: tuple[int, int]) -> float:
    """The factor :func:`cover_fit` scales ``img`` by to cover ``size`` (w, h): below 1 it shrinks."""
    ih, iw = img.shape[:2]
    return max(size[0] / iw, size[1] / ih)


def cover_fit(img: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None) -> np.ndarray:
    """Scale ``img`` to cover ``size`` (w, h) keeping its aspect ratio, then centre-crop: never stretched.
    Into ``dst`` when given (uint8, ``size`` by ``img``'s channels). A picture of that size is copied; one
    that grows is sampled straight into the crop (within one level of ``cv2.resize`` with INTER_LINEAR and
    a crop, as :func:`upscale`; that resize and crop where OpenCV warps slowly); one that shrinks is
    averaged (INTER_AREA)."""
    w, h = size
    ih, iw = img.shape[:2]
    if (iw, ih) == (w, h):
        if dst is None:
            return img.copy()
        np.copyto(dst, img)
        return dst
    scale = cover_scale(img, size)
    nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
    x, y = (nw - w) // 2, (nh - h) // 2
    if scale < 1 and (nw, nh) == (w, h):  # the same shape, smaller: no crop, straight into dst
        return cv2.resize(img, size, dst=dst, interpolation=cv2.INTER_AREA)
    if scale < 1 or not FAST_WARP:
        how = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = cv2.resize(img, (nw, nh), interpolation=how)[y : y + h, x : x + w]
        if dst is None:
            return np.ascontiguousarray(crop)
        np.copyto(dst, crop)
        return dst
    sx, sy = iw / nw, ih / nh  # source pixels per pixel of the enlarged picture
    m = np.array([[sx, 0.0, (x + 0.5) * sx - 0.5], [0.0, sy, (y + 0.5) * sy - 0.5]], np.float32)
    return cv2.warpAffine(img, m, size, dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def upscale(img: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None,
            rect: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """``img`` resized bilinearly to ``size`` (w, h) with the pixel centres of ``cv2.resize(INTER_LINEAR)``
    and within one level of its result, into ``dst`` when given.

    Done as an affine warp where OpenCV warps fast (:data:`FAST_WARP`), which costs a third to a half of
    ``cv2.resize`` for the large enlargements of the engine (a 125-pixel-wide blur up to 720p or 1080p); by
    ``cv2.resize`` elsewhere. Like INTER_LINEAR it samples, never averages: for shrinking use ``cv2.resize``
    with INTER_AREA. ``img`` may be a view into a larger picture (a crop): only its pixels are read.

    ``rect`` (x0, y0, x1, y1 of the enlarged picture; needs ``dst``) asks for those pixels only: they alone
    are written, into ``dst[y0:y1, x0:x1]``, the same as the whole picture's there, at the cost of their share
    of it (with :data:`FAST_WARP`; without it the whole picture is made each time). Returns ``dst``.
    """
    if rect is None:
        if not FAST_WARP:
            return cv2.resize(img, size, dst=dst, interpolation=cv2.INTER_LINEAR)
        return cv2.warpAffine(img, _enlarging(img, size), size, dst=dst, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    assert dst is not None, "upscale(rect=) writes into dst"
    x0, y0, x1, y1 = rect
    if not FAST_WARP:
        dst[y0:y1, x0:x1] = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
        return dst
    shifted = _enlarging(img, size).astype(np.float64)  # moved exactly (in float32 it was not)
    shifted[:, 2] -= (x0, y0)
    cv2.warpAffine(img, shifted, (x1 - x0, y1 - y0), dst=dst[y0:y1, x0:x1], flags=cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    return dst


def _enlarging(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The float32 affine matrix enlarging ``img`` to ``size`` (w, h) with INTER_LINEAR's pixel centres."""
    h, w = img.shape[:2]
    sx, sy = size[0] / w, size[1] / h
    return np.array([[sx, 0.0, (sx - 1.0) / 2.0], [0.0, sy, (sy - 1.0) / 2.0]], np.float32)
