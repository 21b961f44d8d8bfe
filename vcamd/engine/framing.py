"""Auto-framing: a smooth virtual crop-and-zoom that keeps the person's head and shoulders centred at a steady
size. It reads only the matte the engine already makes (no model of its own).

Promises:
- ``Framer.place(small, size, t)`` gives the part of the camera frame (of ``size``, at stream time ``t``)
  to show, enlarged to the frame's size, or None while that is the whole frame. ``small`` is the same frame's
  matte at reduced resolution (:attr:`MatteResult.small`).
- The aim: the head (the matte's top and the columns of its first rows) centred left-right, its top
  HEADROOM of the crop's height below the crop's top, its width HEAD_SHARE of the crop's height. The crop
  keeps the frame's shape, is at most ``zoom`` times smaller than the frame, and is always inside it.
- Steady: the crop holds still while the aim stays within DEAD_ZONE of where it is headed; once the aim leaves
  it, the crop heads for the new aim, eased in and out (two cascaded exponential steps of RATE x ``speed``
  per 1/30 s), so after a step it is there within a second at ``speed`` 1.
- Never cuts the head off at the top: the matte's highest row with any person is kept GUARD of the crop's
  height below the crop's top edge where the frame allows, whatever the easing (left and right, the head is
  what the crop is centred on).
- Nobody in the picture for LOST_SECONDS: the crop heads back to the whole frame. ``reset()``: the next frame
  with a person is framed at once.
- The framer only chooses the crop (:meth:`Framer.place`) and cuts the matte to it
  (:meth:`Framer.crop_matte`); the engine draws the framed picture from the crop
  (:mod:`vcamd.engine.pipeline`), so the camera's pixels are enlarged only where the person shows. Its own
  cost: a few row and column reductions on ``small`` and one warp of it (about 0.1 ms a frame).
"""

from __future__ import annotations

import statistics

import cv2
import numpy as np

from vcamd.config import FramingSettings
from vcamd.engine.types import MatteResult

#: The head's width as a share of the crop's height (head and shoulders, as a camera operator frames them).
HEAD_SHARE = 0.30
#: Room above the head, as a share of the crop's height.
HEADROOM = 0.10
#: Room kept above the matte's top at least, as a share of the crop's height.
GUARD = 0.02
#: The crop stays put while the aim moves less than this: (share of the frame's width, of its height, of the
#: crop's height for the size).
DEAD_ZONE = (0.04, 0.05, 0.20)
#: The easing's step per 1/30 s at ``speed`` 1.
RATE = 0.2
#: With nobody in the picture this long, the crop heads back to the whole frame.
LOST_SECONDS = 1.0
#: A row of the matte counts as the head's top from this many person pixels on (stray specks do not).
MIN_HEAD_PIXELS = 3
#: Alpha from which a pixel of the matte counts as person.
PERSON = 128

#: A crop: centre x, centre y, height, in frame pixels (the width follows from the frame's shape).
Crop = tuple[float, float, float]


def head(small: np.ndarray) -> tuple[float, float, float, float] | None:
    """(centre x, top, width, highest person row) of the head in ``small``'s pixels, or None for nobody.

    The head's rows are found from a first guess of its width a little below its top; its width and centre
    are the medians over the rows from 0.4 to 1 head width below the top (above the shoulders)."""
    # cv2 for the whole-picture passes, numpy on the head's band, medians of a few dozen in Python: 0.03 ms
    person = cv2.threshold(small, PERSON - 1, 1, cv2.THRESH_BINARY)[1]
    counts = cv2.reduce(person, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    any_rows = np.flatnonzero(counts)
    rows = np.flatnonzero(counts >= MIN_HEAD_PIXELS)
    if rows.size == 0:
        return None
    top = int(rows[0])
    sh, sw = small.shape
    band = person[top : top + max(4, sh // 3)]
    has = counts[top : top + len(band)] > 0
    left = np.argmax(band, axis=1)
    right = sw - 1 - np.argmax(cv2.flip(band, 1), axis=1)
    width = np.where(has, right - left + 1, 0)
    first = int(width[min(len(width) - 1, max(1, sh // 20))])
    lo, hi = int(0.4 * first), max(int(0.4 * first) + 1, first)
    sel = slice(lo, min(hi, len(width)))
    if not has[sel].any():
        sel = slice(0, len(width))
    keep = has[sel]
    w = float(statistics.median(width[sel][keep].tolist()))
    cx = float(statistics.median(((left[sel][keep] + right[sel][keep]) / 2.0).tolist())) + 0.5
    return cx, float(top), w, float(any_rows[0])


class Framer:
    """Chooses and applies the crop, frame after frame (see the module's promises)."""

    def __init__(self, settings: FramingSettings) -> None:
        self.settings = settings
        self._small: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the crop: the next frame with a person is framed at once."""
        self.crop: Crop | None = None  # where the crop is
        self._mid: Crop | None = None  # the easing's first stage
        self._goal: Crop | None = None  # where it is headed
        self._t: float | None = None
        self._seen = 0.0
        self.box: tuple[int, int, int, int] = (0, 0, 0, 0)  # the crop of the last frame, in whole pixels

    def aim(self, small: np.ndarray, size: tuple[int, int]) -> tuple[Crop, float] | None:
        """The crop that frames the head in ``small`` for a frame of ``size`` (w, h), and the highest frame
        row the crop must hold; None for nobody."""
        found = head(small)
        if found is None:
            return None
        w, h = size
        sx, sy = w / small.shape[1], h / small.shape[0]
        cx, top, width, highest = found
        ch = min(float(h), max(h / self.settings.zoom, width * sx / HEAD_SHARE))
        cy = top * sy - HEADROOM * ch + ch / 2
        return _inside((cx * sx, cy, ch), size), max(0.0, (highest - 0.5) * sy)

    def follow(self, small: np.ndarray, size: tuple[int, int], t: float) -> Crop:
        """Move the crop for the frame at stream time ``t`` whose matte is ``small``; returns it."""
        w, h = size
        whole: Crop = (w / 2, h / 2, float(h))
        dt = 1 / 30 if self._t is None else min(0.2, max(0.0, t - self._t))
        self._t = t
        found = self.aim(small, size)
        if found is None:
            self._seen += dt
            target = whole if self._seen >= LOST_SECONDS else self._goal or whole
            highest = None
        else:
            self._seen = 0.0
            target, highest = found
        if self.crop is None or self._mid is None or self._goal is None:
            self.crop = self._mid = self._goal = target
            return self._hold(target, highest, size)
        g = self._goal
        if (abs(target[0] - g[0]) > DEAD_ZONE[0] * w or abs(target[1] - g[1]) > DEAD_ZONE[1] * h
                or abs(target[2] - g[2]) > DEAD_ZONE[2] * g[2]):
            self._goal = g = target
        r = 1.0 - (1.0 - min(1.0, RATE * self.settings.speed)) ** (dt * 30)
        self._mid = m = tuple(a + (b - a) * r for a, b in zip(self._mid, g, strict=True))
        self.crop = tuple(a + (b - a) * r for a, b in zip(self.crop, m, strict=True))
        return self._hold(self.crop, highest, size)

    def _hold(self, crop: Crop, highest: float | None, size: tuple[int, int]) -> Crop:
        """``crop`` moved up (as little as needed) so that frame row ``highest`` is inside it, then kept."""
        cx, cy, ch = crop
        if highest is not None and cy - ch / 2 > highest - GUARD * ch:
            cy = highest - GUARD * ch + ch / 2
        self.crop = _inside((cx, cy, ch), size)
        return self.crop

    def place(self, small: np.ndarray, size: tuple[int, int], t: float) -> tuple[int, int, int, int] | None:
        """Follow the person in ``small`` (the matte of the frame at stream time ``t``, of ``size`` (w, h))
        and return the crop, (x0, y0, x1, y1) in whole frame pixels, also kept as :attr:`box`; None while the
        crop is the whole frame (module promises)."""
        w, h = size
        cx, cy, ch = self.follow(small, size, t)
        cw = ch * w / h
        x0, y0 = round(cx - cw / 2), round(cy - ch / 2)
        self.box = (x0, y0, min(w, x0 + round(cw)), min(h, y0 + round(ch)))
        return None if self.box == (0, 0, w, h) else self.box

    def crop_matte(self, matte: MatteResult, size: tuple[int, int]) -> MatteResult:
        """``matte`` (of a frame of ``size``, (w, h)) cut to :attr:`box` and enlarged back to its sizes: the
        matte of the framed picture. Its ``small`` is made now (a warp of the small picture, about 0.02 ms);
        its ``full`` only if read, enlarged from that ``small``; its ``picture`` is the crop's part of
        ``matte``'s (a view)."""
        small = matte.small
        sh, sw = small.shape[:2]
        fx, fy = sw / size[0], sh / size[1]
        x0, y0, x1, y1 = self.box
        sx, sy = (x1 - x0) / size[0], (y1 - y0) / size[1]  # crop pixels per framed pixel, either size
        m = np.array([[sx, 0.0, x0 * fx + 0.5 * sx - 0.5], [0.0, sy, y0 * fy + 0.5 * sy - 0.5]], np.float32)
        if self._small is None or self._small.shape != small.shape:
            self._small = np.empty_like(small)
        how = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        framed = cv2.warpAffine(small, m, (sw, sh), dst=self._small, flags=how,
                                borderMode=cv2.BORDER_REPLICATE)
        picture = matte.picture  # its part in the crop, to whole pixels (half a pixel is nothing to a blur)
        if picture is not None:
            picture = picture[round(y0 * fy) : round(y1 * fy), round(x0 * fx) : round(x1 * fx)]
        # cv2.resize, as the matte's own full alpha and the compositor's edge blocks are enlarged
        return MatteResult(framed, enlarge=lambda: cv2.resize(framed, size, interpolation=cv2.INTER_LINEAR),
                           picture=picture)


def _inside(crop: Crop, size: tuple[int, int]) -> Crop:
    """``crop`` shifted (not resized) to lie inside a frame of ``size``; at most the frame's height."""
    w, h = size
    cx, cy, ch = crop
    ch = min(float(h), ch)
    hw, hh = ch * w / h / 2, ch / 2
    return min(max(cx, hw), w - hw), min(max(cy, hh), h - hh), ch

