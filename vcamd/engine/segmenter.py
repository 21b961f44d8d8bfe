"""The person finder: a MediaPipe selfie-segmentation model, fed a frame already shrunk to the model's size.

Promises:
- ``Segmenter.segment(frame)`` returns the person-confidence mask as float32 in [0, 1] at the model's
  input resolution (never at frame size: upsampling is the matte's job), in a buffer the next call reuses.
  ``region`` then holds the part of the frame, ``(x0, y0, x1, y1)`` in frame pixels, that the mask covers;
  outside it there is no person.
- Model ``auto`` picks by the frame's shape: ``landscape`` (256x144) for frames wider than 4:3,
  ``general`` (256x256) for 4:3, square and portrait ones, so the model sees the person undistorted.
- With ``refine`` on, the model looks at a region around the person (with a margin, grown to the model's
  shape) instead of the whole frame, so the person covers more of its input. In VIDEO mode the region comes
  from the previous frame and only moves when the person nears its border or it is much too large; when
  nobody is found the next frame is seen whole; every RESCAN_FRAMES frames the whole frame is also looked
  at, so someone entering beside the crop is found within a second (a crop that is the whole frame is
  that look already: no second run). A caller that reuses the last mask
  for a frame says so with ``skip()`` (the frame counts towards the rescan), and ``rescan_due`` says when
  the next frame must be segmented. In IMAGE mode a first pass over the whole frame finds the person.
- The model runs in ``runtime`` (:mod:`vcamd.engine.runtimes`): ``litert`` by default, on the caller's
  thread; ``mediapipe`` (MediaPipe Tasks) in VIDEO running mode for streams, IMAGE mode for stills.
- The model is closed by ``close()`` or on leaving a ``with`` block.
"""

from __future__ import annotations

import logging
import math
from types import TracebackType

import cv2
import numpy as np

from vcamd.engine import models, runtimes
from vcamd.engine.types import Box, Region, inside
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

DEFAULT_INPUT = (256, 256)
AUTO = models.AUTO
#: Frames at least this much wider than tall get the landscape model under ``auto`` (4:3 does not).
LANDSCAPE_MIN_ASPECT = 1.4
#: Margin added on each side of the person's box, as a share of the box's size.
CROP_MARGIN = 0.2
#: In a stream with a crop, the whole frame is looked at every this many frames (for tracking only), so a
#: second person entering beside the crop is found.
RESCAN_FRAMES = 30
#: A crop region is kept while the person stays inside it and it is no more than this much too large.
CROP_SLACK = 1.5


class SegmenterError(VcamdError):
    """The model could not be loaded or run."""


def choose_model(width: int, height: int) -> str:
    """The built-in model that fits a ``width`` x ``height`` picture best (what ``auto`` uses)."""
    return "landscape" if width >= LANDSCAPE_MIN_ASPECT * height else "general"


def _grow(box: Region, margin: float, size: tuple[int, int]) -> Region:
    """``box`` with ``margin`` (a share of its size) added on each side, clipped to the frame ``size``."""
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return max(0.0, x0 - mx), max(0.0, y0 - my), min(float(size[0]), x1 + mx), min(float(size[1]), y1 + my)


def _pixels(box: Region, size: tuple[int, int]) -> Box:
    return (int(box[0]), int(box[1]), min(size[0], math.ceil(box[2])), min(size[1], math.ceil(box[3])))


def fit_region(box: Region, aspect: float, size: tuple[int, int]) -> Box:
    """``box`` plus its margin, grown towards ``aspect`` (w/h) as far as the frame ``size`` allows.

    The result is in whole pixels and inside the frame.
    """
    w, h = size
    x0, y0, x1, y1 = _grow(box, CROP_MARGIN, size)
    bw, bh = x1 - x0, y1 - y0
    if bw < bh * aspect:
        bw = min(float(w), bh * aspect)
    else:
        bh = min(float(h), bw / aspect)
    x0 = min(max(0.0, (x0 + x1 - bw) / 2), w - bw)
    y0 = min(max(0.0, (y0 + y1 - bh) / 2), h - bh)
    return _pixels((x0, y0, x0 + bw, y0 + bh), size)


def _union(a: Region, b: Region) -> Region:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _area(r: Box) -> int:
    return (r[2] - r[0]) * (r[3] - r[1])


class Segmenter:
    """A selfie-segmentation model asked for the person's confidence."""

    def __init__(
        self, model: str = AUTO, *, video: bool = True, refine: bool = False, runtime: str = "litert"
    ) -> None:
        self.model = model
        self.video = video
        self.refine = refine
        self.runtime = runtime
        names = ("landscape", "general") if model == AUTO else (model,)
        self._paths = {n: models.resolve(n) for n in names}
        self._task: runtimes.Runtime | None = None
        self._task_name = ""
        self.input_size: tuple[int, int] = DEFAULT_INPUT
        self._small = self._rgb = np.empty((0, 0, 3), np.uint8)
        self._load(names[0])
        self.region: Box = (0, 0, 0, 0)
        self._next: Box | None = None
        self._frame_size = (0, 0)
        self._since_rescan = 0
        self._box: Region | None = None
        self._last_ts = -1

    @property
    def path(self) -> str:
        """The model file in use."""
        return str(self._paths[self._task_name])

    def _load(self, name: str) -> None:
        path = self._paths[name]
        try:
            task = runtimes.open_runtime(self.runtime, path, video=self.video,
                                         input_size=models.input_size(name) or DEFAULT_INPUT)
        except runtimes.RuntimeLoadError as e:
            raise SegmenterError(str(e)) from None
        self.close()
        self._task, self._task_name = task, name
        self.input_size = task.input_size
        w, h = self.input_size
        self._small = np.empty((h, w, 3), np.uint8)
        self._rgb = np.empty_like(self._small)

    def _run(self, frame: np.ndarray, region: Box, timestamp_ms: int | None) -> np.ndarray:
        x0, y0, x1, y1 = region
        cv2.resize(frame[y0:y1, x0:x1], self.input_size, dst=self._small, interpolation=cv2.INTER_LINEAR)
        cv2.cvtColor(self._small, cv2.COLOR_BGR2RGB, dst=self._rgb)
        assert self._task is not None
        conf = self._task.run(self._rgb, timestamp_ms)
        self.region = region
        return conf

    def _person_box(self, conf: np.ndarray) -> Region | None:
        """The box in frame pixels around the person of ``conf`` (covering ``self.region``), or None."""
        person = conf >= 0.5
        cols = np.flatnonzero(person.any(axis=0))
        if cols.size == 0:
            return None
        rows = np.flatnonzero(person.any(axis=1))
        x0, y0, x1, y1 = self.region
        sx, sy = (x1 - x0) / conf.shape[1], (y1 - y0) / conf.shape[0]
        return (x0 + cols[0] * sx, y0 + rows[0] * sy, x0 + (cols[-1] + 1) * sx, y0 + (rows[-1] + 1) * sy)

    def _track(self, conf: np.ndarray, also: Region | None = None) -> None:
        """Choose the next frame's crop: keep the current one while the person (and ``also``), with half the
        margin, stays inside it and it is at most CROP_SLACK times too large; otherwise take a fresh fit."""
        box = self._person_box(conf)
        if also is not None:
            box = also if box is None else _union(box, also)
        self._box = box
        if box is None:
            self._next = None
            return
        mw, mh = self.input_size
        wanted = fit_region(box, mw / mh, self._frame_size)
        cur = self._next
        needed = _pixels(_grow(box, CROP_MARGIN / 2, self._frame_size), self._frame_size)
        if cur is None or not inside(needed, cur) or _area(cur) > CROP_SLACK * _area(wanted):
            self._next = wanted

    def segment(self, frame: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        """Person confidence of BGR ``frame`` as float32 (h, w) at the model's input size (a buffer the
        next call reuses)."""
        h, w = frame.shape[:2]
        full: Box = (0, 0, w, h)
        if (w, h) != self._frame_size:
            self._frame_size, self._next = (w, h), None
            if self.model == AUTO and choose_model(w, h) != self._task_name:
                self._load(choose_model(w, h))
        if not self.refine:
            return self._run(frame, full, timestamp_ms)
        if self.video:
            rescan = self.rescan_due
            region = self._next or full
            # A run on the whole frame is a look at all of it: the next rescan counts from there.
            self._since_rescan = 0 if rescan or region == full else self._since_rescan + 1
            if rescan:
                # Only grows the box: the whole frame may show the model less of the person than the crop.
                self._track(self._run(frame, full, timestamp_ms), also=self._box)
                region = self._next or full
            conf = self._run(frame, region, timestamp_ms)
            self._track(conf)
            return conf
        conf = self._run(frame, full, timestamp_ms)
        box = self._person_box(conf)
        if box is None:
            return conf
        mw, mh = self.input_size
        wanted = fit_region(box, mw / mh, (w, h))
        return conf if wanted == full else self._run(frame, wanted, timestamp_ms)

    @property
    def rescan_due(self) -> bool:
        """The next frame is a rescan of the whole frame (module promises): it must be segmented. Never
        while the crop is the whole frame: the model then sees all of it anyway (a second run on the same
        picture cost 1/30 of the model's time when the person fills the frame)."""
        return (self._next is not None and self._next != (0, 0, *self._frame_size)
                and self._since_rescan + 1 >= RESCAN_FRAMES)

    def skip(self) -> None:
        """The caller reused the last mask for a frame (it counts towards the next rescan)."""
        self._since_rescan += 1

    def reset(self) -> None:
        """Forget where the person was (a new scene, or a new camera)."""
        self._next = None

    def close(self) -> None:
        """Release the model (safe to call twice)."""
        task, self._task = getattr(self, "_task", None), None
        if task is not None:
            task.close()

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
