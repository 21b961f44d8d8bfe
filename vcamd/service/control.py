"""The daemon's small control API: all the tray (or a test) may do to a running daemon.

Promises:
- ``Control`` is the whole surface: read status, settings, the settings file's path and the backgrounds
  folder's pictures, apply setting changes, step the slideshow,
  toggle privacy, stop, subscribe to status changes, and watch the frames sent (a preview). Nothing else of
  the daemon is touched from outside.
- ``apply(changes)`` validates dotted-key changes, switches the running pipeline between frames, and writes
  them back to the settings file with its comments kept, so the file watcher then sees nothing to do. A bad
  change raises :class:`~vcamd.errors.VcamdError` and leaves both the stream and the file as they were.
- :func:`effect_changes` and :func:`step_background` are the tray's Effect, Next and Previous choices as plain
  functions, so the tray, ``vcamd effect`` and ``vcamd next`` do the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vcamd.config import Config
from vcamd.errors import VcamdError

if TYPE_CHECKING:  # numpy and OpenCV: only the daemon and a preview load them
    from vcamd.service.feed import Feed


class State(str, Enum):
    """What the daemon is doing, as the tray icon shows it."""

    STARTING = "starting"
    LIVE = "live"  # camera open, frames treated and sent
    IDLE = "idle"  # no app reads the virtual camera: webcam released, a still frame at a low rate
    PRIVACY = "privacy"  # paused by the user: a "camera paused" card is sent
    ERROR = "error"  # camera missing or busy, retrying; placeholder frames are sent
    STOPPED = "stopped"


@dataclass(frozen=True)
class Status:
    """A snapshot of the daemon for display."""

    state: State = State.STARTING
    message: str = ""
    effect: str = ""
    fps_in: float = 0.0
    fps_out: float = 0.0
    ms_per_frame: float = 0.0
    dropped: int = 0
    stages_ms: dict[str, float] = field(default_factory=dict)
    cpu_percent: float = 0.0  # the daemon process, % of one core
    note: str = ""  # what waits for no app to read the virtual camera: "720p until the call ends (then 360p)"

    def line(self) -> str:
        """One short line for a menu or a log: ``live · blur · 30.0 fps · 6.1 ms · 24 % CPU``, the note (if
        any) before the figures (a menu cuts the line's end), the message (if any) last."""
        parts = [self.state.value]
        if self.effect:
            parts.append(self.effect)
        if self.note:
            parts.append(self.note)
        if self.state is State.LIVE:
            parts += [f"{self.fps_out:.1f} fps", f"{self.ms_per_frame:.1f} ms",
                      f"{self.cpu_percent:.0f} % CPU"]
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)


class Control(Protocol):
    """What a running daemon offers the tray and the tests."""

    def status(self) -> Status:
        """The current status."""
        ...

    def settings(self) -> Config:
        """The settings in force."""
        ...

    def settings_path(self, create: bool = False) -> Path:
        """The settings file changes are saved to; ``create``: make it (a comment only) if it is missing."""
        ...

    def backgrounds(self) -> list[Path]:
        """The pictures of ``effect.backgrounds_dir``, in name order ([] if none)."""
        ...

    def apply(self, changes: dict[str, Any]) -> Config:
        """Apply dotted-key changes live and save them; raises VcamdError (nothing changed) if bad."""
        ...

    def step_background(self, n: int) -> None:
        """Slideshow: show the ``n``-th next (negative: previous) image now (no-op for other effects)."""
        ...

    def stop(self) -> None:
        """Ask the daemon to shut down cleanly (returns at once)."""
        ...

    def subscribe(self, callback: Callable[[Status], None]) -> None:
        """Call ``callback(status)`` from a daemon thread whenever the state or effect changes."""
        ...

    def watch(self, width: int) -> Feed:
        """A live copy of the frames sent, at most ``width`` wide; while it is open it counts as an app
        reading the camera. Close it when done."""
        ...




def effect_changes(cfg: Config, name: str, images: list[Path]) -> dict[str, Any]:
    """The changes that switch to effect ``name``: ``image`` with no background set takes ``images[0]``."""
    changes: dict[str, Any] = {"effect.name": name}
    if name == "image" and not cfg.effect.background and images:
        changes["effect.background"] = str(images[0])
    return changes


def step_background(control: Control, n: int) -> None:
    """The slideshow's ``n``-th next (negative: previous) picture, or else the picture ``n`` after the current
    one in the backgrounds folder, going round (the tray's Next and Previous, ``vcamd next`` and ``prev``).

    Raises VcamdError (one line, the fix) when there is no folder of pictures to step through.
    """
    eff = control.settings().effect
    if eff.name == "slideshow":
        control.step_background(n)
        return
    images = control.backgrounds()
    if not images:
        raise VcamdError(f"no images in effect.backgrounds_dir ({eff.backgrounds_dir or 'not set'}); "
                         "set it to a folder of pictures")
    current = Path(eff.background) if eff.background else None
    i = images.index(current) + n if current in images else (0 if n > 0 else -1)
    control.apply({"effect.name": "image", "effect.background": str(images[i % len(images)])})
