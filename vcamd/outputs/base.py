"""The one small interface every output stands behind: an open virtual camera taking BGR frames of one size.

Promises (what each backend keeps, and what the daemon counts on):
- An :class:`Output` is open once made: making it either gives a camera apps can pick or raises
  :class:`~vcamd.errors.VcamdError` with one line naming the device and the fix.
- ``send`` takes one (h, w, 3) uint8 BGR frame of ``size`` (width, height); the daemon paces it at ``fps``.
  ``backend`` and ``device`` name what was opened, for the log and errors.
- ``in_use()`` is what the output itself knows about apps reading it (True, False), or None when it cannot
  tell; then ``reader_path`` is the device file the daemon watches instead ("" where there is none).
- ``close()`` releases the device and is safe to call twice.

Kinds: :mod:`.virtualcam` (pyvirtualcam's backends), :mod:`.pipewire` (a PipeWire camera node),
:mod:`.fanout` (one frame to several outputs), :mod:`.none` (no virtual camera).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Output(Protocol):
    """An open virtual camera taking BGR frames of one size (see the module's promises)."""

    backend: str
    device: str
    size: tuple[int, int]
    fps: float

    @property
    def reader_path(self) -> str:
        """The device file apps open to read the camera, or "" where there is none (the daemon watches it to
        pause when no app is reading)."""
        ...

    def in_use(self) -> bool | None:
        """Whether an app reads this output as the output itself knows it (a PipeWire node's links); None when
        it cannot tell (the daemon then watches ``reader_path``)."""
        ...

    def send(self, frame: np.ndarray) -> None:
        """Send one (h, w, 3) uint8 BGR frame of this output's size."""
        ...

    def close(self) -> None:
        """Release the device (safe to call twice)."""
        ...
