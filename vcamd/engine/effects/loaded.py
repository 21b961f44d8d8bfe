"""Effects whose pictures are decoded while they show, through a :class:`~.base.Loader`: slideshow, video."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from vcamd import media
from vcamd.config import EffectSettings
from vcamd.engine.effects.base import (
    RETRY_FAILED,
    Effect,
    EffectError,
    Loader,
    LoaderFactory,
    Size,
    list_images,
    out_size,
    read_image,
)
from vcamd.engine.types import MatteResult
from vcamd.frames import BufferPool, cover_fit, cover_scale

log = logging.getLogger(__name__)


class SlideshowEffect(Effect):
    """The images of a folder in name order, one every ``interval`` seconds from the effect's first frame;
    ``next``/``previous`` step. A picture that cannot be read leaves the previous one showing."""

    wraps_light = True

    @classmethod
    def from_settings(cls, settings: EffectSettings, loader: LoaderFactory) -> Effect:
        return cls(settings.backgrounds_dir, settings.interval, loader("slideshow"))

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

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        if self._t0 is None:
            self._t0 = t
        self._t = t
        idx = self.current_index(t)
        size = out_size(frame, size)
        key = (idx, size)
        now = time.monotonic()
        if key != self._asked or (self._error and now - self._asked_at > RETRY_FAILED):
            self._asked, self._asked_at = key, now
            path = self.files[idx]
            self._loader.request(key, lambda: cover_fit(read_image(path), size))
        done = self._loader.take()
        if done is not None and done.image is not None:
            self._shown, self._error = done.image, ""
        elif done is not None:
            if self._error != done.error and self._shown is not None:
                log.warning("slideshow: %s; keeping the previous image", done.error)
            self._error = done.error
        if self._shown is None or self._shown.shape[:2] != size[::-1]:
            start = self._shown if self._shown is not None else self._first
            if start is None:
                raise EffectError(self._error or f"backgrounds folder: {self.files[idx]} is not loaded yet")
            self._shown = cover_fit(start, size)  # once, until the job is done
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

    @classmethod
    def from_settings(cls, settings: EffectSettings, loader: LoaderFactory) -> Effect:
        return cls(settings.background, loader("video"))

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

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        if self._t0 is None:
            self._t0 = t
        self._take()  # first: the frame shown until now is let go for the job asked for next
        size = out_size(frame, size)
        key = (self.frame_index(t), size)
        if key != self._asked:
            self._asked = key
            index = key[0]
            self._loader.request(key, lambda: self._frame(index, size))
            self._take()  # done already if the loader runs jobs at once
        if self._error:
            raise EffectError(self._error)
        if self._out is None or self._out.shape[:2] != size[::-1]:
            self._out = np.empty((size[1], size[0], 3), np.uint8)
        return cover_fit(self._shown, size, dst=self._out)

    def _take(self) -> None:
        done = self._loader.take()
        if done is not None and done.image is not None:
            self._shown, self._error = done.image, ""
        elif done is not None:
            self._error = done.error

    def close(self) -> None:
        self._loader.close(self._reader.close)
