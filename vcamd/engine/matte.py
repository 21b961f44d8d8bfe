"""Model confidence mask -> full-resolution alpha.

Promises:
- ``Matte.compute(conf, frame, region)`` returns a :class:`MatteResult`: ``small`` (uint8 at a reduced
  resolution with the frame's shape) and ``full`` (uint8 at the frame's size, 255 = person, ``small``
  enlarged bilinearly, made when first read: the compositor reads it only where ``small`` cannot stand
  for it). Both are buffers reused by the next call. When the frame is a whole multiple of
  ``small`` (webcam sizes), only the box around the person is enlarged (``full`` is 0 outside it).
  ``region`` is the part of the frame ``conf`` covers (the segmenter's crop; default: the whole frame);
  outside it the alpha is 0. With ``refine``, its ``picture`` is the frame on the work grid (``small``'s
  size), the guide the edges were snapped to.
- The alpha is soft: confidence is mapped through a ramp of width ``softness`` centred on ``threshold``
  (``softness = 0`` is a hard cut).
- With ``refine`` (the default), the confidence is moved onto a work grid of the frame (long side at most
  320 pixels), where a guided filter against the camera picture snaps its edges to the picture's edges
  (on the box around the person: the alpha is the same as the whole grid's, see GUIDE_FLOOR);
  in streaming mode, temporal smoothing of strength ``smoothing`` then holds only the still parts of the
  picture, while wherever the picture changes the alpha follows the current frame at once (no lag).
- Without ``refine``: the plain path, ramp and exponential smoothing at model resolution, then bilinear
  upsampling (the cheap reference the refinements are measured against).
- ``reset()`` forgets the history. The refinements cost about 1.3 ms of CPU per 720p frame (matte and
  segmenter together; ``benchmarks/quality.py`` measures it).
"""

from __future__ import annotations

import cv2
import numpy as np

from vcamd.config import SegmentationSettings
from vcamd.engine.types import EMPTY, Box, MatteResult, Region, inside

__all__ = ["EMPTY", "Matte", "MatteResult", "ramp", "to_grid", "work_size"]

#: The refinement work grid: the frame shrunk until its long side is at most this.
WORK_LONG_SIDE = 320
#: Guided filter: window radius in work pixels, and regularisation (in (0..1 intensity)^2).
GUIDE_RADIUS = 4
GUIDE_EPS = 1e-2
#: The guided filter runs only on the box around the confidence above this (and 2r + 1 pixels around it,
#: all it reaches), when the ramp starts above GUIDE_FLOOR_MARGIN times it. Elsewhere the whole-grid filter
#: would give at most 3.5 times the floor (its slope is bounded by the regularisation), so the alpha is 0
#: there either way; the box is about two thirds of a webcam's grid.
GUIDE_FLOOR = 0.02
GUIDE_FLOOR_MARGIN = 5.0
#: Motion gate: mean |grey change| over 5x5 work pixels below LO counts as still, above HI as moving.
MOTION_LO = 6.0
MOTION_HI = 18.0
#: Without refine the whole matte is smoothed, which lags moving edges: at most this much.
PLAIN_MAX_SMOOTHING = 0.5



def work_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of the refinement grid for a ``width`` x ``height`` frame (never larger than the frame)."""
    s = min(1.0, WORK_LONG_SIDE / max(width, height))
    return max(1, round(width * s)), max(1, round(height * s))


def to_grid(conf: np.ndarray, region: Region | None, frame_size: tuple[int, int],
            grid: tuple[int, int]) -> np.ndarray:
    """``conf`` (covering ``region`` of a frame of ``frame_size``) resampled onto ``grid`` over the frame.

    Pixel centres line up as in ``cv2.resize``; grid pixels outside the region get 0.
    """
    w, h = frame_size
    gw, gh = grid
    if region is None or region == (0.0, 0.0, float(w), float(h)):
        return cv2.resize(conf, grid, interpolation=cv2.INTER_LINEAR)
    x0, y0, x1, y1 = region
    sx, sy = conf.shape[1] / (x1 - x0), conf.shape[0] / (y1 - y0)  # model pixels per frame pixel
    gx, gy = gw / w, gh / h  # grid pixels per frame pixel
    inv = np.array([[sx / gx, 0, (0.5 / gx - x0) * sx - 0.5], [0, sy / gy, (0.5 / gy - y0) * sy - 0.5]],
                   np.float32)
    out = cv2.warpAffine(conf, inv, grid, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    c0, r0 = max(0, round(x0 * gx)), max(0, round(y0 * gy))
    c1, r1 = min(gw, round(x1 * gx)), min(gh, round(y1 * gy))
    out[:r0] = 0
    out[r1:] = 0
    out[:, :c0] = 0
    out[:, c1:] = 0
    return out


def ramp(conf: np.ndarray, threshold: float, softness: float, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 alpha of float confidence: 0 below ``threshold - softness/2``, 255 above the other side.

    One saturating pass (rounded to the nearest level), into ``out`` when given.
    """
    if softness <= 0.0:
        return np.where(conf >= threshold, np.uint8(255), np.uint8(0))
    scale = 255.0 / softness
    return cv2.addWeighted(conf, scale, conf, 0.0, -(threshold - softness / 2.0) * scale, dst=out,
                           dtype=cv2.CV_8U)


def gate_table(smoothing: float) -> np.ndarray:
    """Weight of the new frame for each blurred grey change 0..255 (float32): ``1 - smoothing`` where the
    picture is still (below MOTION_LO), rising to 1 where it moves (MOTION_HI and above)."""
    k = smoothing
    motion = np.arange(256, dtype=np.float32)
    return (np.clip((motion - MOTION_LO) * (k / (MOTION_HI - MOTION_LO)), 0.0, k) + (1.0 - k)).astype(
        np.float32)


class Matte:
    """Turns per-frame confidence masks into a stable, soft, frame-sized alpha."""

    def __init__(self, settings: SegmentationSettings, *, video: bool = True) -> None:
        self.settings = settings
        self.video = video
        self._state: np.ndarray | None = None
        self._guide: np.ndarray | None = None
        self._full: np.ndarray | None = None
        self._full_box: Box | None = None  # the part of ``_full`` that may not be 0; None: anywhere
        self._gray: np.ndarray | None = None
        self._motion: np.ndarray | None = None
        self._observed = False
        self._gate = gate_table(settings.smoothing)
        self._work: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        """Forget the temporal history (a new scene, or a new camera)."""
        self._state = None
        self._gray = self._motion = None
        self._observed = False

    def adopt_history(self, other: Matte) -> None:
        """Continue from ``other``'s temporal state (settings changed mid-stream, same camera)."""
        self._state, self._gray = other._state, other._gray

    def _plain(self, conf: np.ndarray) -> np.ndarray:
        k = min(self.settings.smoothing, PLAIN_MAX_SMOOTHING) if self.video else 0.0
        if k <= 0.0 or self._state is None or self._state.shape != conf.shape:
            self._state = conf.copy()
        else:
            cv2.addWeighted(self._state, k, conf, 1.0 - k, 0.0, dst=self._state)
        return ramp(self._state, self.settings.threshold, self.settings.softness)

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        """A work buffer kept between frames (made again when the shape changes)."""
        buf = self._work.get(name)
        if buf is None or buf.shape != shape:
            buf = self._work[name] = np.empty(shape, dtype)
        return buf

    def observe(self, frame: np.ndarray) -> float:
        """Look at ``frame`` before its confidence is known: the share (0..1) of the work grid where the
        picture changed since the previous frame (1.0 when there is nothing to compare with, or when the
        matte does not refine). ``compute`` on the same frame then reuses this look."""
        if not self.settings.refine:
            return 1.0
        h, w = frame.shape[:2]
        grid = work_size(w, h)
        if self._guide is None or self._guide.shape[:2] != (grid[1], grid[0]):
            self._guide = np.empty((grid[1], grid[0], 3), np.uint8)
        cv2.resize(frame, grid, dst=self._guide, interpolation=cv2.INTER_LINEAR)
        prev, self._gray = self._gray, cv2.cvtColor(self._guide, cv2.COLOR_BGR2GRAY)
        self._observed = True
        if prev is None or prev.shape != self._gray.shape:
            self._motion = None
            return 1.0
        motion = self._buffer("motion", self._gray.shape, np.uint8)
        cv2.absdiff(self._gray, prev, dst=motion)
        cv2.blur(motion, (5, 5), dst=motion)
        self._motion = motion
        # An int threshold (the same for uint8): against a float numpy compares in float64, 4x the cost.
        return float(np.count_nonzero(motion > int(MOTION_LO))) / motion.size

    def _refined(self, conf: np.ndarray, frame: np.ndarray, region: Region | None) -> np.ndarray:
        if not self._observed:
            self.observe(frame)
        self._observed = False
        assert self._guide is not None and self._gray is not None
        h, w = frame.shape[:2]
        grid = (self._guide.shape[1], self._guide.shape[0])
        target = self._guided(self._gray, to_grid(conf, region, (w, h), grid))
        k = self.settings.smoothing if self.video else 0.0
        state = self._state
        if k <= 0.0 or state is None or self._motion is None or state.shape != target.shape:
            self._state = state = target
        else:
            # Weight of the new frame per pixel: 1 - k where the picture is still, 1 where it moves.
            gate = self._buffer("gate", target.shape)
            cv2.LUT(self._motion, self._gate, dst=gate)  # what np.take gives, without casting the indices
            cv2.subtract(target, state, dst=target)
            cv2.multiply(target, gate, dst=target)
            cv2.add(state, target, dst=state)
        small = self._buffer("small", state.shape, np.uint8)
        return ramp(state, self.settings.threshold, self.settings.softness, out=small)

    def _guided(self, gray: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``target`` snapped to the edges of ``gray`` (the picture on the grid) by the guided filter, on the
        box that can change the alpha (see GUIDE_FLOOR), in place there; the whole grid when the ramp starts
        too low for that."""
        eps = GUIDE_EPS * 255.0**2
        if self.settings.threshold - self.settings.softness / 2 < GUIDE_FLOOR_MARGIN * GUIDE_FLOOR:
            return cv2.ximgproc.guidedFilter(gray, target, GUIDE_RADIUS, eps)
        x, y, bw, bh = cv2.boundingRect(cv2.inRange(target, GUIDE_FLOOR, np.inf))
        if bw == 0:
            return target  # nobody: all below the floor, and the filter would keep it there
        m = 2 * GUIDE_RADIUS + 1
        box = slice(max(0, y - m), y + bh + m), slice(max(0, x - m), x + bw + m)
        target[box] = cv2.ximgproc.guidedFilter(gray[box], target[box], GUIDE_RADIUS, eps)
        return target

    def compute(self, conf: np.ndarray, frame: np.ndarray, region: Region | None = None) -> MatteResult:
        """Alpha for ``frame`` from ``conf`` (float32 in [0, 1] at model resolution, covering ``region``)."""
        h, w = frame.shape[:2]
        picture = None
        if self.settings.refine:
            small, picture = self._refined(conf, frame, region), self._guide
        else:
            if region is not None and tuple(region) != (0, 0, w, h):
                conf = to_grid(conf, region, (w, h), (conf.shape[1], conf.shape[0]))
            small = self._plain(conf)
        return MatteResult(small, enlarge=lambda: self._enlarge(small, w, h), picture=picture)

    def _enlarge(self, small: np.ndarray, w: int, h: int) -> np.ndarray:
        """``small`` enlarged bilinearly to the frame's ``w`` x ``h`` (``_full_box``: the box outside which it
        is 0, None when it is not known).

        When the frame is a whole multiple of ``small`` (webcam sizes), only the box around the person plus
        one pixel of ``small`` is enlarged (the rest is 0): the resize sees the same zeros at the box's edge
        as over the whole picture and gives the same alpha, in about two thirds of the time on a webcam.
        """
        if self._full is None or self._full.shape != (h, w):
            self._full, self._full_box = np.empty((h, w), np.uint8), None
        full = self._full
        sh, sw = small.shape
        fx, fy = w // sw, h // sh
        if fx * sw != w or fy * sh != h:
            # cv2.resize, not frames.upscale: the warp's last-bit differences lowered boundary F by 0.02.
            cv2.resize(small, (w, h), dst=full, interpolation=cv2.INTER_LINEAR)
            self._full_box = None
            return full
        x, y, bw, bh = cv2.boundingRect(small)
        x0, y0 = max(0, x - 1), max(0, y - 1)
        x1, y1 = min(sw, x + bw + 1), min(sh, y + bh + 1)
        box = (x0 * fx, y0 * fy, x1 * fx, y1 * fy) if bw else (0, 0, 0, 0)
        last = self._full_box
        if last is None:
            full[:] = 0
        elif not inside(last, box):
            full[last[1]:last[3], last[0]:last[2]] = 0  # what the new box does not cover goes back to 0
        if bw:
            cv2.resize(small[y0:y1, x0:x1], (box[2] - box[0], box[3] - box[1]),
                       dst=full[box[1]:box[3], box[0]:box[2]], interpolation=cv2.INTER_LINEAR)
        self._full_box = box
        return full
