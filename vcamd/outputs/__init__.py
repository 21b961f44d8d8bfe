"""Where treated frames go: the operating system's virtual cameras, one module a backend.

Promises:
- ``resolve(settings)`` picks the pyvirtualcam backend and device that ``output.*`` asks for. ``auto`` means
  v4l2loopback on Linux (the device whose card label is ``output.name``), on Windows Unity Capture (a device
  of that name) or OBS when the name is "OBS Virtual Camera", on macOS OBS. A missing device raises
  :class:`VcamdError` with the fix (on Linux the exact modprobe command).
- ``open_output(settings, width, height, fps)`` opens it as an :class:`Output` taking BGR frames of one size.
- Modules: :mod:`.v4l2loopback` (Linux devices found by label, and the fix when there is none),
  :mod:`.virtualcam` (pyvirtualcam's backends: v4l2loopback, OBS, Unity Capture).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vcamd.config import OutputSettings
from vcamd.errors import VcamdError
from vcamd.outputs import v4l2loopback

log = logging.getLogger(__name__)


class Output(Protocol):
    """An open virtual camera taking BGR frames of one size."""

    backend: str
    device: str
    size: tuple[int, int]
    fps: float

    @property
    def reader_path(self) -> str:
        """The device file apps open to read the camera, or "" where there is none (the daemon watches it to
        pause when no app is reading)."""
        ...

    def send(self, frame: np.ndarray) -> None:
        """Send one (h, w, 3) uint8 BGR frame of this output's size."""
        ...

    def close(self) -> None:
        """Release the device (safe to call twice)."""
        ...


OBS_NAME = "OBS Virtual Camera"


@dataclass(frozen=True)
class Target:
    """A pyvirtualcam backend and the device to ask it for (None: the backend's own)."""

    backend: str
    device: str | None


def missing_loopback(name: str) -> str:
    """One line: no v4l2loopback device is labelled ``name``, and how to make one."""
    others = [f'{d.path} "{d.label}"' for d in v4l2loopback.devices() if d.loopback]
    seen = f" (v4l2loopback devices here: {', '.join(others)})" if others else ""
    return f'no virtual camera "{name}"{seen}: {v4l2loopback.load_hint(name)}'


def resolve(settings: OutputSettings, platform: str = sys.platform) -> Target:
    """The backend and device for ``settings`` on ``platform`` (see the module's promises)."""
    from pyvirtualcam.camera import BACKENDS

    backend = settings.backend
    if backend == "auto":
        if platform.startswith("linux"):
            backend = "v4l2loopback"
        elif platform == "win32":
            backend = "obs" if settings.name == OBS_NAME else "unitycapture"
        else:
            backend = "obs"
    if backend not in BACKENDS:
        here = ", ".join(sorted(BACKENDS)) or "none"
        raise VcamdError(
            f"output.backend = {backend!r}: not a virtual camera backend here (available: {here})"
        )
    device = settings.device or None
    if device is None:
        if backend == "v4l2loopback":
            found = v4l2loopback.find_loopback(settings.name)
            if found is None:
                raise VcamdError(missing_loopback(settings.name))
            device = found.path
        elif backend == "unitycapture":
            device = settings.name
        elif backend == "obs" and settings.name != OBS_NAME:
            log.info('apps list OBS\'s virtual camera as "%s" (output.name %r cannot rename it)',
                     OBS_NAME, settings.name)
    return Target(backend, device)




def open_output(settings: OutputSettings, width: int, height: int, fps: float) -> Output:
    """The output ``settings`` name, open for ``width`` x ``height`` BGR frames at ``fps``."""
    from vcamd.outputs.virtualcam import VirtualCamera

    return VirtualCamera(settings, width, height, fps)
