"""Model confidence mask -> full-resolution alpha.

Promises:
- ``Matte.compute(conf, frame)`` returns a :class:`MatteResult`: ``small`` (uint8 at model resolution) and
  ``full`` (uint8 at the frame's size, 255 = person). Both are buffers reused by the next call.
- The alpha is soft: confidence is mapped through a ramp of width ``softness`` centred on ``threshold``
  (``softness = 0`` is a hard cut).
- In streaming mode, ``smoothing`` damps frame-to-frame flicker; ``reset()`` forgets the history.
- All work before the final upsample happens at model resolution, where it is nearly free.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vcamd.config import SegmentationSettings


@dataclass
class MatteResult:
    """The alpha of one frame at two resolutions (uint8, 255 = person)."""

    small: np.ndarray
    full: np.ndarray


class Matte:
    """Turns per-frame confidence masks into a stable, soft, frame-sized alpha."""

    def __init__(self, settings: SegmentationSettings, *, video: bool = True) -> None:
        self.settings = settings
        self.video = video
        self._state: np.ndarray | None = None
        self._full: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the temporal history (a new scene, or a new camera)."""
        self._state = None

    def adopt_history(self, other: Matte) -> None:
        """Continue from ``other``'s temporal state (settings changed mid-stream, same camera)."""
        self._state = other._state

    def _smooth(self, conf: np.ndarray) -> np.ndarray:
        k = self.settings.smoothing if self.video else 0.0
        if k <= 0.0 or self._state is None or self._state.shape != conf.shape:
            self._state = conf.copy()
        else:
            cv2.addWeighted(self._state, k, conf, 1.0 - k, 0.0, dst=self._state)
        return self._state

    def _ramp(self, conf: np.ndarray) -> np.ndarray:
        s = self.settings
        soft = max(s.softness, 1e-3)
        lo = s.threshold - soft / 2.0
        out = (conf - lo) * (255.0 / soft)
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)

    def compute(self, conf: np.ndarray, frame: np.ndarray) -> MatteResult:
        """Alpha for ``frame`` from ``conf`` (float32 in [0, 1] at model resolution)."""
        smoothed = self._smooth(conf)
        small = self._ramp(smoothed)
        h, w = frame.shape[:2]
        if self._full is None or self._full.shape != (h, w):
            self._full = np.empty((h, w), np.uint8)
        cv2.resize(small, (w, h), dst=self._full, interpolation=cv2.INTER_LINEAR)
        return MatteResult(small, self._full)

