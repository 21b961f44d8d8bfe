"""Backgrounds: what is shown behind the person.

Promises:
- Every effect's ``render(frame, matte, t)`` returns a BGR uint8 background of the frame's size (a buffer the
  effect reuses), where ``t`` is the stream time in seconds.
- Files are read and resized when the effect is built or the output size changes, never per frame (a
  background video decodes one frame per output frame at most, at the output's frame rate, and loops; one
  smaller than the output is enlarged into the frame's background as the other effects draw theirs).
- An effect holds what it shows, not the file it came from: a picture fitted to the output, a video's
  frames in a few reused buffers.
- The video and slideshow effects decode through a :class:`Loader` given to :func:`build`: the default one
  decodes when asked, on the caller's thread (``vcamd process``: every frame exact, in order); the daemon
  gives one that decodes on a helper thread (:mod:`vcamd.service.loader`; the engine itself starts no
  threads), so its worker never waits for a file: until a new picture is ready the previous one shows.
- Time runs from the effect's first frame: a video background starts at its first frame, a slideshow at
  its first picture, whenever the effect is switched on; a video background seeks (never decodes forward
  from the start) when it jumps or loops.
- A missing or unreadable file raises :class:`EffectError` with one line naming the file and the fix, at
  build time, so a bad setting never reaches the running stream. A file that goes bad later (deleted,
  corrupted) makes ``render`` raise EffectError, unless the previous picture can stay (slideshow).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcamd import media
from vcamd.config import EffectSettings, parse_color
from vcamd.engine.types import MatteResult
from vcamd.errors import VcamdError
from vcamd.frames import BufferPool, cover_fit, cover_scale, upscale

log = logging.getLogger(__name__)

class EffectError(VcamdError):
    """An effect that cannot be built from its settings."""


Job = Callable[[], np.ndarray]


@dataclass(frozen=True)
class Loaded:
    """A finished decoding job: its key and picture, or why it failed."""

    key: Hashable
    image: np.ndarray | None
    error: str = ""


def run_job(key: Hashable, job: Job) -> Loaded:
    """Run ``job``; any failure becomes ``Loaded.error`` (one line), never an exception."""
    try:
        return Loaded(key, job())
    except Exception as e:  # a decoder's error of any kind: the effect decides what to show instead
        return Loaded(key, None, str(e) or type(e).__name__)


class Loader:
    """Decodes an effect's files: ``request(key, job)`` asks for ``job()`` (a decoded, fitted picture),
    ``take()`` gives the newest finished job not taken yet (None if none). This one runs the job at once,
    on the caller's thread; :class:`vcamd.service.loader.ThreadLoader` runs it on a helper thread."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._done: Loaded | None = None

    def request(self, key: Hashable, job: Job) -> None:
        self._done = run_job(key, job)

    def take(self) -> Loaded | None:
        done, self._done = self._done, None
        return done

    def close(self, then: Callable[[], None] | None = None) -> None:
        """Stop; ``then()`` runs once no job runs any more (to close the files the jobs read)."""
        if then is not None:
            then()


LoaderFactory = Callable[[str], Loader]
RETRY_FAILED = 2.0  # seconds before a picture that failed to load is asked for again


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
    return sorted(f for f in p.iterdir() if f.suffix.lower() in media.IMAGE_EXTS)


class Effect:
    """A background. Subclasses override ``render``; ``foreground`` is the frame unless overridden."""

    #: False for effects that leave the frame alone (no segmentation needed).
    needs_matte = True
    #: True when ``render`` rebuilds its buffer every frame, so the compositor may blend into it in place.
    scratch_background = False
    #: True when a buffer ``render`` returns again is unchanged (a new picture comes in a new buffer), so the
    #: compositor restores only where the person was.
    static_background = False
    #: True when the background is a picture of another place, whose light ``effect.light_wrap`` lets bleed
    #: onto the person's edge.
    wraps_light = False

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
        sw = int(min(max(w * self.WORK_SIGMA / sigma_full, 16), w, self.MAX_WORK_WIDTH))  # not np.clip: 30 us
        sh = max(1, round(h * sw / w))
        sigma = sigma_full * sw / w
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        # Background weight at work size: 1 on the background, 0 on the person.
        weight = cv2.LUT(cv2.resize(matte.small, (sw, sh), interpolation=cv2.INTER_AREA), _BACKGROUND_WEIGHT)
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
        if self._out is None or self._out.shape != frame.shape:
            self._out = np.empty_like(frame)
        upscale(small_u8, (w, h), dst=self._out)
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
    """A still picture, cover-fitted once per output size. Only the fitted picture is held: the file's own
    is let go once fitted, and read again only if the output size changes (from the fitted one if the file
    went bad since)."""

    static_background = True
    wraps_light = True

    def __init__(self, path: str) -> None:
        self.path = path
        self._image: np.ndarray | None = read_image(path)
        self._fitted: np.ndarray | None = None

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        if self._fitted is None or self._fitted.shape != frame.shape:
            source = self._image
            if source is None:
                try:
                    source = read_image(self.path)
                except EffectError as e:
                    assert self._fitted is not None
                    log.warning("%s; fitting the picture already shown", e)
                    source = self._fitted
            self._fitted, self._image = cover_fit(source, (frame.shape[1], frame.shape[0])), None
        return self._fitted


class SlideshowEffect(Effect):
    """The images of a folder in name order, one every ``interval`` seconds from the effect's first frame;
    ``next``/``previous`` step. A picture that cannot be read leaves the previous one showing."""

    wraps_light = True

    def __init__(self, folder: str, interval: float, loader: Loader | None = None) -> None:
        p = Path(folder).expanduser()
        if not folder or not p.is_dir():
            raise EffectError(
                f"backgrounds folder {p if folder else '(none)'}: no such folder; set effect.backgrounds_dir"
            )
        self.files = list_images(folder)
        if not self.files:
            raise EffectError(f"backgrounds folder {p}: has no {media.IMAGE_NAMES} images; add some")
        self.interval = interval
        self.offset = 0
        self._loader = loader or Loader("slideshow")
        self._t0: float | None = None
        self._t = 0.0
        self._asked: tuple[int, tuple[int, ...]] | None = None
        self._asked_at = 0.0
        self._shown: np.ndarray | None = None  # the picture on show, fitted
        self._error = ""
        try:  # the first picture now, off the stream's thread, so the first frame has it
            self._first: np.ndarray | None = read_image(self.files[0])
        except EffectError as e:
            self._first, self._error = None, str(e)

    def current_index(self, t: float | None = None) -> int:
        """Which image shows at stream time ``t`` (counted from the effect's first frame)."""
        t = self._t if t is None else t
        return (int((t - (self._t0 or 0.0)) // self.interval) + self.offset) % len(self.files)

    def step(self, n: int) -> None:
        """Show the image ``n`` after (negative: before) the current one now."""
        self.offset += n

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        if self._t0 is None:
            self._t0 = t
        self._t = t
        idx = self.current_index(t)
        key = (idx, frame.shape)
        now = time.monotonic()
        if key != self._asked or (self._error and now - self._asked_at > RETRY_FAILED):
            self._asked, self._asked_at = key, now
            path, size = self.files[idx], (frame.shape[1], frame.shape[0])
            self._loader.request(key, lambda: cover_fit(read_image(path), size))
        done = self._loader.take()
        if done is not None and done.image is not None:
            self._shown, self._error = done.image, ""
        elif done is not None:
            if self._error != done.error and self._shown is not None:
                log.warning("slideshow: %s; keeping the previous image", done.error)
            self._error = done.error
        if self._shown is None or self._shown.shape != frame.shape:
            start = self._shown if self._shown is not None else self._first
            if start is None:
                raise EffectError(self._error or f"backgrounds folder: {self.files[idx]} is not loaded yet")
            self._shown = cover_fit(start, (frame.shape[1], frame.shape[0]))  # once, until the job is done
        self._first = None  # the file's own picture is needed no more
        return self._shown

    def close(self) -> None:
        self._loader.close()


class VideoEffect(Effect):
    """A looping background video, run by time from the effect's first frame: at time ``t`` it shows its
    frame ``int(t * its_fps)`` modulo its length, so it keeps its own speed at any output frame rate, one
    decoded frame per output frame at most (a slower output skips frames, a faster one repeats them).

    The background is rebuilt every frame into one buffer the compositor blends into: a frame larger than
    the output is shrunk on the loader (into FITTED_FRAMES reused buffers) and copied in; a smaller one is
    kept as decoded and enlarged straight into the buffer, so a small video holds one frame-sized buffer."""

    scratch_background = True
    wraps_light = True
    #: Shrunk frames: the one on show and the one being shrunk (the one before is let go before the next
    #: is asked for).
    FITTED_FRAMES = 2

    def __init__(self, path: str, loader: Loader | None = None) -> None:
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
        self.length: int | None = self._reader.frames  # frame count: the header's, or learned at the end
        self._loader = loader or Loader("video")
        self._fitted = BufferPool(self.FITTED_FRAMES)  # used by the loader's jobs only
        self._t0: float | None = None
        self._asked: tuple[int, tuple[int, ...]] | None = None
        self._shown = first  # the newest frame: shrunk to the output, or as decoded when smaller
        self._out: np.ndarray | None = None
        self._error = ""

    def frame_index(self, t: float) -> int:
        """Which frame of the background shows at stream time ``t`` (once its length is known)."""
        target = max(0, int((t - (self._t0 or 0.0)) * self.fps + 1e-6))
        return target % self.length if self.length else target

    def _frame(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """Frame ``index``, shrunk to cover ``size`` if it is larger (a loader job: the reader is used by the
        loader only)."""
        try:
            raw = self._reader.frame_at(index)
            if raw is None:  # past the end: now the length is known
                self.length = max(1, self._reader.position)
                raw = self._reader.frame_at(index % self.length)
        except media.MediaError as e:
            raise EffectError(f"background video {e}; replace it") from None
        if raw is None:
            raise EffectError(f"background video {self.path}: gives no frames any more; replace it")
        if cover_scale(raw, size) >= 1:
            return raw  # it covers the output only enlarged: that is done on the worker, into the buffer
        return cover_fit(raw, size, dst=self._fitted.buffer((size[1], size[0], *raw.shape[2:])))

    def render(self, frame: np.ndarray, matte: MatteResult, t: float) -> np.ndarray:
        if self._t0 is None:
            self._t0 = t
        self._take()  # first: the frame shown until now is let go for the job asked for next
        key = (self.frame_index(t), frame.shape)
        if key != self._asked:
            self._asked = key
            index, size = key[0], (frame.shape[1], frame.shape[0])
            self._loader.request(key, lambda: self._frame(index, size))
            self._take()  # done already if the loader runs jobs at once
        if self._error:
            raise EffectError(self._error)
        if self._out is None or self._out.shape != frame.shape:
            self._out = np.empty_like(frame)
        return cover_fit(self._shown, (frame.shape[1], frame.shape[0]), dst=self._out)

    def _take(self) -> None:
        done = self._loader.take()
        if done is not None and done.image is not None:
            self._shown, self._error = done.image, ""
        elif done is not None:
            self._error = done.error

    def close(self) -> None:
        self._loader.close(self._reader.close)


def build(settings: EffectSettings, loader: LoaderFactory = Loader) -> Effect:
    """The effect named by ``settings.name``, with its files loaded (raises EffectError on bad files);
    ``loader(name)`` makes the :class:`Loader` the video and slideshow effects decode through."""
    name = settings.name
    if name == "blur":
        return BlurEffect(settings.blur_strength)
    if name == "image":
        return ImageEffect(settings.background)
    if name == "video":
        return VideoEffect(settings.background, loader("video"))
    if name == "slideshow":
        return SlideshowEffect(settings.backgrounds_dir, settings.interval, loader("slideshow"))
    if name == "desaturate":
        return DesaturateEffect()
    if name == "color":
        return ColorEffect(settings.color)
    if name == "mask":
        return MaskEffect(settings.color)
    if name in ("none", "transparent"):
        return NoEffect()
    raise EffectError(f"effect.name = {name!r}: unknown effect")
