"""What every effect is: the :class:`Effect` base, the :class:`Loader` its files decode through, and
reading background pictures (one-line :class:`EffectError` naming the file)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcamd import media
from vcamd.config import EffectSettings
from vcamd.engine.types import MatteResult
from vcamd.errors import VcamdError


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
#: A picture's size, (width, height).
Size = tuple[int, int]


def out_size(frame: np.ndarray, size: Size | None) -> Size:
    """``size``, or ``frame``'s own when None: the size an effect draws at."""
    return size if size is not None else (frame.shape[1], frame.shape[0])


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

    @classmethod
    def from_settings(cls, settings: EffectSettings, loader: LoaderFactory) -> Effect:
        """The effect for ``settings``, its files read now (EffectError if they cannot be); ``loader(name)``
        makes the Loader an effect that decodes while it shows decodes through."""
        return cls()

    def render(self, frame: np.ndarray, matte: MatteResult, t: float, size: Size | None = None) -> np.ndarray:
        """The background at ``size`` (w, h; default the frame's) behind the camera picture ``frame`` at
        stream time ``t``, whose matte (at ``size``) is ``matte``. With auto-framing ``frame`` is the part
        of the camera frame shown (a view), which the output enlarges to ``size``."""
        raise NotImplementedError

    def foreground(self, frame: np.ndarray) -> np.ndarray:
        """What is drawn where the person is (the camera frame, for every effect but ``mask``)."""
        return frame

    def step(self, n: int) -> None:
        """Show the ``n``-th next (negative: previous) background now; a no-op for effects with one."""

    def close(self) -> None:
        """Release files or decoders the effect holds."""
