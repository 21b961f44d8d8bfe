"""No virtual camera (``output.backend = "none"``): the daemon runs for ``vcamd preview`` only.

Promises: ``NoVirtualCamera`` is an :class:`~vcamd.outputs.base.Output` that drops every frame; no app can
read it (``in_use()`` is always False), so the camera is on only while a preview watches.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


class NoVirtualCamera:
    """An output that sends nowhere (see the module's promises)."""

    backend = "none"
    device = "no virtual camera"
    reader_path = ""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.size = (width, height)
        self.fps = fps
        log.info("no virtual camera (output.backend = \"none\"): apps see nothing; vcamd preview shows the "
                 "frames, %dx%d @ %g fps", width, height, fps)

    def in_use(self) -> bool:
        return False

    def send(self, frame: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass
