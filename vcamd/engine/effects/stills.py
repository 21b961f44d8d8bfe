"""Effects drawn from the frame itself or from one picture: blur, colour, mask, desaturate, image, none,
transparent."""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from vcamd.config import EffectSettings, parse_color
from vcamd.engine.effects.base import Effect, EffectError, LoaderFactory, Size, out_size, read_image
from vcamd.engine.types import MatteResult
from vcamd.frames import cover_fit, upscale

log = logging.getLogger(__name__)


class NoEffect(Effect):
    """The camera frame, untouched."""

    needs_matte = False

    def __init__(self) -> None:
        self._out: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        w, h = out_size(frame, size)
        if frame.shape[:2] == (h, w):
            return frame
        if self._out is None or self._out.shape[:2] != (h, w):
            self._out = np.empty((h, w, 3), np.uint8)
        return upscale(frame, (w, h), dst=self._out)


#: uint8 alpha (255 = person) -> float32 weight of the background (1 = background).
_BACKGROUND_WEIGHT = ((255 - np.arange(256)) / 255.0).astype(np.float32)


class BlurEffect(Effect):
    """The background blurred, with the person masked out first so no halo of them bleeds into it.

    ``strength`` 1..100 sets the blur's sigma as a share of the frame width (100: 4 %). The blur runs on a
    frame shrunk until the sigma is about 3 pixels (at most 320 wide), then is upscaled, so its cost
    hardly depends on strength or frame size.
    """

    MAX_WORK_WIDTH = 320
    WORK_SIGMA = 3.0
    scratch_background = True

    @classmethod
    def from_settings(cls, settings: EffectSettings, loader: LoaderFactory) -> Effect:
        return cls(settings.blur_strength)

    def __init__(self, strength: int) -> None:
        self.strength = strength
        self._out: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        w, h = out_size(frame, size)
        sigma_full = max(0.5, self.strength / 100.0 * 0.04 * w)
        sw = int(min(max(w * self.WORK_SIGMA / sigma_full, 16), w, self.MAX_WORK_WIDTH))  # not np.clip: 30 us
        sh = max(1, round(h * sw / w))
        sigma = sigma_full * sw / w
        # From the matte's shrunk picture when there is one at least this large: it is made anyway, shrinking
        # the frame again cost 0.06 ms more, and sampling it aliased more (the weights: INTER_AREA cost 0.05
        # ms more than INTER_LINEAR, to no visible end). See docs/performance.md, round 14.
        picture = matte.picture
        source = picture if picture is not None and picture.shape[1] >= sw else frame  # frame: or its crop
        small = cv2.resize(source, (sw, sh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        # Background weight at work size: 1 on the background, 0 on the person.
        weight = cv2.resize(matte.small, (sw, sh), interpolation=cv2.INTER_LINEAR)
        weight = cv2.LUT(weight, _BACKGROUND_WEIGHT)
        # Reaching 3 sigma, as OpenCV's own kernel for 8-bit pictures: its 4 sigma for float ones cost a third
        # more and changed no output pixel by more than one level (0.03 on average on the webcam clip).
        k = 2 * math.ceil(3.0 * sigma) + 1
        num = cv2.GaussianBlur(cv2.multiply(small, cv2.merge([weight] * 3)), (k, k), sigma)
        den = cv2.GaussianBlur(weight, (k, k), sigma)
        # Where no background is near (deep inside the person, whom the compositor puts on top), the
        # picture itself; a blur of it there cost 0.07 ms a 720p frame and changed no output pixel by > 1.
        eps = 1e-3
        cv2.scaleAdd(small, eps, num, dst=num)
        cv2.add(den, eps, dst=den)
        small_u8 = cv2.convertScaleAbs(cv2.divide(num, cv2.merge([den] * 3)))
        if self._out is None or self._out.shape[:2] != (h, w):
            self._out = np.empty((h, w, 3), np.uint8)
        upscale(small_u8, (w, h), dst=self._out)
        return self._out


class ColorEffect(Effect):
    """A flat colour."""

    static_background = True

    @classmethod
    def from_settings(cls, settings: EffectSettings, loader: LoaderFactory) -> Effect:
        return cls(settings.color)

    def __init__(self, color: str) -> None:
        self.bgr = parse_color(color)
        self._out: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        w, h = out_size(frame, size)
        if self._out is None or self._out.shape[:2] != (h, w):
            self._out = np.empty((h, w, 3), np.uint8)
            self._out[:] = self.bgr
        return self._out


class MaskEffect(ColorEffect):
    """The segmentation view: a white person on a colour."""

    def __init__(self, color: str) -> None:
        super().__init__(color)
        self._white: np.ndarray | None = None

    def foreground(self, frame: np.ndarray) -> np.ndarray:
        if self._white is None or self._white.shape != frame.shape:
            self._white = np.full_like(frame, 255)
        return self._white


class DesaturateEffect(Effect):
    """The camera's own background in greyscale."""

    scratch_background = True

    def __init__(self) -> None:
        self._gray: np.ndarray | None = None
        self._out: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        w, h = out_size(frame, size)
        if self._gray is None or self._out is None or self._out.shape[:2] != (h, w):
            self._gray = np.empty((h, w), np.uint8)
            self._out = np.empty((h, w, 3), np.uint8)
        if frame.shape[:2] == (h, w):
            cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=self._gray)
        else:  # a crop (auto-framing): enlarged in grey, a third of the pixels
            upscale(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (w, h), dst=self._gray)
        cv2.cvtColor(self._gray, cv2.COLOR_GRAY2BGR, dst=self._out)
        return self._out


class ImageEffect(Effect):
    """A still picture, cover-fitted once per output size. Only the fitted picture is held: the file's own
    is let go once fitted, and read again only if the output size changes (from the fitted one if the file
    went bad since)."""

    static_background = True
    wraps_light = True

    @classmethod
    def from_settings(cls, settings: EffectSettings, loader: LoaderFactory) -> Effect:
        return cls(settings.background)

    def __init__(self, path: str) -> None:
        self.path = path
        self._image: np.ndarray | None = read_image(path)
        self._fitted: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        w, h = out_size(frame, size)
        if self._fitted is None or self._fitted.shape[:2] != (h, w):
            source = self._image
            if source is None:
                try:
                    source = read_image(self.path)
                except EffectError as e:
                    assert self._fitted is not None
                    log.warning("%s; fitting the picture already shown", e)
                    source = self._fitted
            self._fitted, self._image = cover_fit(source, (w, h)), None
        return self._fitted
