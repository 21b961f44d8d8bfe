"""Alpha blend of a foreground over a background, on uint8, into preallocated buffers.

Promise: ``Compositor.blend(fg, bg, alpha)`` returns ``fg * a + bg * (1 - a)`` (a = alpha / 255) rounded to
uint8, in a buffer reused by the next call, without float copies of whole frames.
"""

from __future__ import annotations

import cv2
import numpy as np


class Compositor:
    """Blends into buffers sized on first use and reused while the frame size stays the same."""

    def __init__(self) -> None:
        self._shape: tuple[int, ...] = ()

    def _ensure(self, shape: tuple[int, ...]) -> None:
        if shape != self._shape:
            self._shape = shape
            self._a3 = np.empty(shape, np.uint8)
            self._inv3 = np.empty(shape, np.uint8)
            self._fg = np.empty(shape, np.uint8)
            self._out = np.empty(shape, np.uint8)

    def blend(self, fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """``fg`` over ``bg`` with ``alpha`` (uint8, 255 = fg); all three the same height and width."""
        self._ensure(fg.shape)
        cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR, dst=self._a3)
        cv2.bitwise_not(self._a3, dst=self._inv3)
        cv2.multiply(fg, self._a3, dst=self._fg, scale=1.0 / 255.0)
        cv2.multiply(bg, self._inv3, dst=self._out, scale=1.0 / 255.0)
        cv2.add(self._fg, self._out, dst=self._out)
        return self._out

    def with_alpha(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """``frame`` as BGRA with ``alpha`` as its alpha channel (for transparent stills)."""
        out = np.empty((*frame.shape[:2], 4), np.uint8)
        out[:, :, :3] = frame
        out[:, :, 3] = alpha
        return out
