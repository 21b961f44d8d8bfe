"""Backgrounds: what is shown behind the person.

Promises:
- Every effect's ``render(frame, matte, t)`` returns a BGR uint8 background of the frame's size (a buffer the
  effect reuses), where ``t`` is the stream time in seconds.
- Files are read and resized when the effect is built or the output size changes, never per frame (a
  background video decodes one frame per output frame, at the output's frame rate, and loops).
- A missing or unreadable file raises :class:`EffectError` with one line naming the file and the fix, at
  build time, so a bad setting never reaches the running stream.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vcamd import media
from vcamd.config import EffectSettings, parse_color
from vcamd.engine.types import MatteResult
from vcamd.errors import VcamdError
from vcamd.media import cover_fit

log = logging.getLogger(__name__)

#: Background pictures: what ``vcamd process`` reads, and bmp.
IMAGE_EXTS = (*media.IMAGE_EXTS, ".bmp")


class EffectError(VcamdError):
    """An effect that cannot be built from its settings."""


def read_image(path: str | Path, what: str = "background image") -> np.ndarray:
    """Read a BGR image, raising EffectError naming the file when it is missing or not an image."""
    p = Path(path).expanduser()
    if not str(path):
        raise EffectError(f"{what}: none set; set effect.background to an image file")
    if not p.is_file():
        raise EffectError(f"{what} {p}: no such file; check effect.background or pass --background")
    try:
        return media.read_image(p)
    except media.MediaError as e:
        raise EffectError(f"{what} {e}; replace it") from None


def list_images(folder: str) -> list[Path]:
    """The background pictures in ``folder``, in name order ([] if it is not a folder)."""
    p = Path(folder).expanduser()
    if not folder or not p.is_dir():
        return []
    return sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)


class Effect:
    """A background. Subclasses override ``render``; ``foreground`` is the frame unless overridden."""

    #: False for effects that leave the frame alone (no segmentation needed).
    needs_matte = True
    #: True when ``render`` rebuilds its buffer every frame, so the compositor may blend into it in place.
    scratch_background = False
    #: True when a buffer ``render`` returns again is unchanged (a new picture comes in a new buffer), so the
    #: compositor restores only where the person was.
    static_background = False

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        raise NotImplementedError

    def foreground(self, frame: np.ndarray) -> np.ndarray:
        """What is drawn where the person is (the camera frame, for every effect but ``mask``)."""
        return frame

    def step(self, n: int) -> None:
        """Show the ``n``-th next (negative: previous) background now; a no-op for effects with one."""

    def close(self) -> None:
        """Release files or decoders the effect holds."""


class NoEffect(Effect):
    """The camera frame, untouched."""

    needs_matte = False

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        return frame


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

    def __init__(self, strength: int) -> None:
        self.strength = strength
        self._out: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        h, w = frame.shape[:2]
        sigma_full = max(0.5, self.strength / 100.0 * 0.04 * w)
        sw = int(np.clip(w * self.WORK_SIGMA / sigma_full, 16, min(w, self.MAX_WORK_WIDTH)))
        sh = max(1, round(h * sw / w))
        sigma = sigma_full * sw / w
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        # Background weight at work size: 1 on the background, 0 on the person.
        weight = _BACKGROUND_WEIGHT[cv2.resize(matte.small, (sw, sh), interpolation=cv2.INTER_AREA)]
        num = cv2.GaussianBlur(cv2.multiply(small, cv2.merge([weight] * 3)), (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        plain = cv2.GaussianBlur(small, (0, 0), sigma)  # where no background is near, the plain blur
        eps = 1e-3
        cv2.scaleAdd(plain, eps, num, dst=num)
        den += eps
        small_u8 = cv2.convertScaleAbs(cv2.divide(num, cv2.merge([den] * 3)))
        if self._out is None or self._out.shape != frame.shape:
            self._out = np.empty_like(frame)
        media.upscale(small_u8, (w, h), dst=self._out)
        return self._out


class ColorEffect(Effect):
    """A flat colour."""

    static_background = True

    def __init__(self, color: str) -> None:
        self.bgr = parse_color(color)
        self._out: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        if self._out is None or self._out.shape != frame.shape:
            self._out = np.empty_like(frame)
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

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        if self._gray is None or self._out is None or self._out.shape != frame.shape:
            self._gray = np.empty(frame.shape[:2], np.uint8)
            self._out = np.empty_like(frame)
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=self._gray)
        cv2.cvtColor(self._gray, cv2.COLOR_GRAY2BGR, dst=self._out)
        return self._out


class ImageEffect(Effect):
    """A still picture, cover-fitted once per output size."""

    static_background = True

    def __init__(self, path: str) -> None:
        self.path = path
        self.image = read_image(path)
        self._fitted: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        if self._fitted is None or self._fitted.shape != frame.shape:
            self._fitted = cover_fit(self.image, (frame.shape[1], frame.shape[0]))
        return self._fitted


class SlideshowEffect(Effect):
    """The images of a folder in name order, one every ``interval`` seconds; ``next``/``previous`` step."""

    def __init__(self, folder: str, interval: float) -> None:
        p = Path(folder).expanduser()
        if not folder or not p.is_dir():
            raise EffectError(
                f"backgrounds folder {p if folder else '(none)'}: no such folder; set effect.backgrounds_dir"
            )
        self.files = list_images(folder)
        if not self.files:
            raise EffectError(f"backgrounds folder {p}: has no jpg/png/webp images; add some")
        self.interval = interval
        self.offset = 0
        self._index = -1
        self._fitted: np.ndarray | None = None
        self._t = 0.0

    def current_index(self, t: float | None = None) -> int:
        """Which image shows at stream time ``t``."""
        t = self._t if t is None else t
        return (int(t // self.interval) + self.offset) % len(self.files)

    def step(self, n: int) -> None:
        """Show the image ``n`` after (negative: before) the current one now."""
        self.offset += n

    def next(self) -> None:
        """Show the following image now."""
        self.step(1)

    def previous(self) -> None:
        """Show the preceding image now."""
        self.step(-1)

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        self._t = t
        idx = self.current_index(t)
        if idx != self._index or self._fitted is None or self._fitted.shape != frame.shape:
            try:
                img = read_image(self.files[idx])
            except EffectError as e:
                if self._fitted is not None and self._fitted.shape == frame.shape:
                    log.warning("slideshow: %s; keeping the previous image", e)
                    self._index = idx
                    return self._fitted
                raise
            self._fitted = cover_fit(img, (frame.shape[1], frame.shape[0]))
            self._index = idx
        return self._fitted


class VideoEffect(Effect):
    """A looping background video, run by stream time: at time ``t`` it shows its frame
    ``int(t * its_fps)`` modulo its length, so it keeps its own speed at any output frame rate, one decoded
    frame per output frame at most (a slower output skips frames, a faster one repeats them)."""

    def __init__(self, path: str) -> None:
        p = Path(path).expanduser()
        if not path or not p.is_file():
            raise EffectError(
                f"background video {p if path else '(none)'}: no such file; set effect.background to a video"
            )
        self.path = p
        try:
            self._reader = media.FrameReader(p)
            first = self._reader.read()
        except media.MediaError as e:
            raise EffectError(f"background video {e}; convert it to mp4 (H.264)") from None
        if first is None:
            self._reader.close()
            raise EffectError(f"background video {p}: has no frames; use another video")
        self.fps = self._reader.fps
        self.length: int | None = None  # frame count, learned at the first end of file
        self._raw = first
        self._pos = 0  # index of self._raw
        self._fitted: np.ndarray | None = None
        self._fitted_pos = -1

    def frame_index(self, t: float) -> int:
        """Which frame of the background shows at stream time ``t`` (once its length is known)."""
        target = max(0, int(t * self.fps))
        return target % self.length if self.length else target

    def _restart(self) -> None:
        self._reader.restart()
        first = self._reader.read()
        if first is not None:
            self._raw = first
        self._pos = 0

    def _seek(self, target: int) -> None:
        if target < self._pos:  # looped: start again
            self._restart()
        while self._pos < target:
            frame = self._reader.read()
            if frame is None:  # end of file: now the length is known
                self.length = self._pos + 1
                target %= self.length
                self._restart()
                continue
            self._pos += 1
            self._raw = frame

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        self._seek(self.frame_index(t))
        if self._fitted is None or self._fitted_pos != self._pos or self._fitted.shape != frame.shape:
            self._fitted = cover_fit(self._raw, (frame.shape[1], frame.shape[0]))
            self._fitted_pos = self._pos
        return self._fitted

    def close(self) -> None:
        self._reader.close()


def build(settings: EffectSettings) -> Effect:
    """The effect named by ``settings.name``, with its files loaded (raises EffectError on bad files)."""
    name = settings.name
    if name == "blur":
        return BlurEffect(settings.blur_strength)
    if name == "image":
        return ImageEffect(settings.background)
    if name == "video":
        return VideoEffect(settings.background)
    if name == "slideshow":
        return SlideshowEffect(settings.backgrounds_dir, settings.interval)
    if name == "desaturate":
        return DesaturateEffect()
    if name == "color":
        return ColorEffect(settings.color)
    if name == "mask":
        return MaskEffect(settings.color)
    if name in ("none", "transparent"):
        return NoEffect()
    raise EffectError(f"effect.name = {name!r}: unknown effect")
