"""pyvirtualcam's virtual cameras (v4l2loopback, OBS, Unity Capture) as an
:class:`~vcamd.outputs.base.Output`.

Promises: ``VirtualCamera`` opens the device :func:`~vcamd.outputs.selection.resolve` picks for BGR frames of
one size; ``send`` takes (h, w, 3) uint8 BGR frames and passes them on contiguous. A backend's refusal
becomes one line naming the device. ``reader_path`` is the device file apps open (v4l2loopback), or "".
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from vcamd.config import OutputSettings
from vcamd.errors import VcamdError
from vcamd.outputs.selection import Target, resolve

log = logging.getLogger(__name__)


class VirtualCamera:
    """An open virtual camera taking BGR frames of one size."""

    def __init__(
        self, settings: OutputSettings, width: int, height: int, fps: float, target: Target | None = None
    ) -> None:
        import pyvirtualcam

        target = target or resolve(settings)
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

    def in_use(self) -> bool | None:
        """None: a pyvirtualcam device cannot tell who reads it (the daemon watches ``reader_path``)."""
        return None

    def send(self, frame: np.ndarray) -> None:
        """Send one BGR frame of this camera's size."""
        self._cam.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        """Release the device (safe to call twice)."""
        cam, self._cam = self._cam, None
        if cam is not None:
            cam.close()
