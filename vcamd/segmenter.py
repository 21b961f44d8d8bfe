"""The person finder: MediaPipe Tasks ImageSegmenter, fed a frame already shrunk to the model's size.

Promises:
- ``Segmenter.segment(frame)`` returns the person-confidence mask as float32 in [0, 1] at the model's
  input resolution (never at frame size: upsampling is the matte's job).
- VIDEO running mode for streams (timestamps are made strictly increasing), IMAGE mode for stills.
- The MediaPipe task is closed by ``close()`` or on leaving a ``with`` block.
"""

from __future__ import annotations

import logging
from types import TracebackType

import cv2
import numpy as np

from vcamd import models
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

DEFAULT_INPUT = (256, 256)


class SegmenterError(VcamdError):
    """The model could not be loaded or run."""


class Segmenter:
    """A MediaPipe ImageSegmenter asked for confidence masks only."""

    def __init__(self, model: str = "landscape", *, video: bool = True) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.model = model
        self.path = models.resolve(model)
        self.input_size: tuple[int, int] = models.input_size(model) or DEFAULT_INPUT
        self.video = video
        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        opts = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(self.path)),
            running_mode=mode,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        try:
            self._task = vision.ImageSegmenter.create_from_options(opts)
        except (RuntimeError, ValueError) as e:
            raise SegmenterError(f"model {self.path}: MediaPipe could not load it ({e})") from None
        self._last_ts = -1
        self._small = np.empty((self.input_size[1], self.input_size[0], 3), np.uint8)
        self._rgb = np.empty_like(self._small)

    def segment(self, frame: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        """Person confidence of BGR ``frame`` as float32 (h, w) at the model's input size."""
        import mediapipe as mp

        cv2.resize(frame, self.input_size, dst=self._small, interpolation=cv2.INTER_LINEAR)
        cv2.cvtColor(self._small, cv2.COLOR_BGR2RGB, dst=self._rgb)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=self._rgb)
        if self.video:
            ts = self._last_ts + 1 if timestamp_ms is None else int(timestamp_ms)
            ts = max(ts, self._last_ts + 1)
            self._last_ts = ts
            result = self._task.segment_for_video(image, ts)
        else:
            result = self._task.segment(image)
        mask = result.confidence_masks[-1].numpy_view()
        return np.asarray(mask, dtype=np.float32).reshape(mask.shape[0], mask.shape[1])

    def close(self) -> None:
        """Release the MediaPipe task (safe to call twice)."""
        task, self._task = getattr(self, "_task", None), None
        if task is not None:
            task.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
