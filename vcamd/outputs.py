"""Where treated frames go: the operating system's virtual camera, through pyvirtualcam.

Promises:
- ``resolve(settings)`` picks the pyvirtualcam backend and device that ``output.*`` asks for. ``auto`` means
  v4l2loopback on Linux (the device whose card label is ``output.name``), on Windows Unity Capture (a device
  of that name) or OBS when the name is "OBS Virtual Camera", on macOS OBS. A missing device raises
  :class:`VcamdError` with the fix (on Linux the exact modprobe command).
- ``VirtualCamera`` opens it for BGR frames of one size; ``send`` takes (h, w, 3) uint8 BGR frames and passes
  them on contiguous. A backend's refusal becomes one line naming the device.
- ``reader_path`` is the device file apps open to read the camera (v4l2loopback), or "" where there is none;
  the daemon watches it to pause when no app is reading.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from vcamd import video4linux
from vcamd.config import OutputSettings
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

OBS_NAME = "OBS Virtual Camera"


@dataclass(frozen=True)
class Target:
    """A pyvirtualcam backend and the device to ask it for (None: the backend's own)."""

    backend: str
    device: str | None


def missing_loopback(name: str) -> str:
    """One line: no v4l2loopback device is labelled ``name``, and how to make one."""
    others = [f'{d.path} "{d.label}"' for d in video4linux.devices() if d.loopback]
    seen = f" (v4l2loopback devices here: {', '.join(others)})" if others else ""
    return f'no virtual camera "{name}"{seen}: {video4linux.load_hint(name)}'


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
            found = video4linux.find_loopback(settings.name)
            if found is None:
                raise VcamdError(missing_loopback(settings.name))
            device = found.path
        elif backend == "unitycapture":
            device = settings.name
        elif backend == "obs" and settings.name != OBS_NAME:
            log.info('apps list OBS\'s virtual camera as "%s" (output.name %r cannot rename it)',
                     OBS_NAME, settings.name)
    return Target(backend, device)


class VirtualCamera:
    """An open virtual camera taking BGR frames of one size."""

    def __init__(self, settings: OutputSettings, width: int, height: int, fps: float) -> None:
        import pyvirtualcam

        target = resolve(settings)
        try:
            self._cam: Any = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, backend=target.backend,
                device=target.device,
            )
        except Exception as e:  # pyvirtualcam raises RuntimeError/ValueError carrying the backend's reason
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            reason = reason.split(" backend: ", 1)[-1]
            raise VcamdError(f"virtual camera {target.device or settings.name}: {reason}") from None
        self.backend = target.backend
        self.device: str = self._cam.device
        self.size = (width, height)
        self.fps = fps
        log.info('virtual camera "%s": %s via %s, %dx%d @ %g fps', settings.name, self.device, self.backend,
                 width, height, fps)

    @property
    def reader_path(self) -> str:
        return self.device if os.path.isabs(self.device) and os.path.exists(self.device) else ""

    def send(self, frame: np.ndarray) -> None:
        """Send one BGR frame of this camera's size."""
        self._cam.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        """Release the device (safe to call twice)."""
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.close()
