"""A pyvirtualcam backend that records what it is sent: the virtual camera of the daemon tests and benchmarks.

``register()`` makes it the pyvirtualcam backend named ``recording``; the daemon reaches it through the real
``pyvirtualcam.Camera`` (``output.backend = "recording"``), which checks shape and dtype as for any device.
``output.device`` becomes its ``device()``: a temporary file there stands in for ``/dev/videoN``, so a process
that opens the file plays an app reading the camera.

In a subprocess (``python -m vcamd run``), put a ``sitecustomize.py`` that calls ``register()`` on
PYTHONPATH (see :func:`sitecustomize_dir`) and set ``VCAMD_RECORDER_DIR``: every frame sent then updates
``status.json`` there (frames sent, their shape, whether the camera was closed), and ``last.npz`` holds the
last frame sent (``frame``: every 4th pixel each way) and when it was sent (``t``: time.time()), rewritten
at most every 0.05 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyvirtualcam
from pyvirtualcam.util import encode_fourcc

NAME = "recording"
DIR_ENV = "VCAMD_RECORDER_DIR"
BGR = encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)
KEEP = 90  # frames kept in memory
LAST_EVERY = 0.05  # seconds between two writes of last.npz


class RecordingBackend:
    """Keeps the last frames sent, their count and times."""

    instances: ClassVar[list[RecordingBackend]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None,
                 **kw: Any) -> None:
        if fourcc != BGR:
            raise ValueError("the recording backend takes BGR frames only")
        self.width, self.height, self.fps = width, height, fps
        self._device = device or NAME
        self.frames: deque[np.ndarray] = deque(maxlen=KEEP)
        self.times: deque[float] = deque(maxlen=KEEP)
        self.count = 0
        self.digests: list[bytes] = []  # of every frame sent, in order
        self.closed = False
        self._lock = threading.Lock()
        self._dir = os.environ.get(DIR_ENV)
        self._last_saved = 0.0
        RecordingBackend.instances.append(self)
        self._write_status()

    def send(self, frame: np.ndarray) -> None:
        with self._lock:
            self.frames.append(frame.reshape(self.height, self.width, 3).copy())
            self.digests.append(digest(self.frames[-1]))
            self.times.append(time.monotonic())
            self.count += 1
        self._write_status()
        if self._dir and time.monotonic() - self._last_saved >= LAST_EVERY:
            self._last_saved = time.monotonic()
            tmp = Path(self._dir) / f".last.{os.getpid()}.npz"
            np.savez(tmp, frame=self.frames[-1][::4, ::4], t=time.time())
            os.replace(tmp, Path(self._dir) / "last.npz")

    def close(self) -> None:
        self.closed = True
        self._write_status()

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int:
        return BGR

    def last(self) -> np.ndarray:
        with self._lock:
            return self.frames[-1]

    def since(self, count: int) -> list[np.ndarray]:
        """The kept frames sent after the first ``count`` frames."""
        with self._lock:
            new = self.count - count
            return list(self.frames)[-new:] if new > 0 else []

    def _write_status(self) -> None:
        if not self._dir:
            return
        status = {"count": self.count, "shape": [self.height, self.width, 3], "closed": self.closed,
                  "pid": os.getpid()}
        tmp = Path(self._dir) / f".status.{os.getpid()}.json"
        tmp.write_text(json.dumps(status))
        os.replace(tmp, Path(self._dir) / "status.json")


def digest(frame: np.ndarray) -> bytes:
    """A short fingerprint of a frame's pixels: equal frames, equal digests."""
    return hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=16).digest()


def register() -> None:
    """Make the recording backend available as ``output.backend = "recording"``."""
    pyvirtualcam.register_backend(NAME, RecordingBackend)


def latest() -> RecordingBackend:
    """The most recently opened recording camera."""
    return RecordingBackend.instances[-1]


def sitecustomize_dir(folder: Path) -> Path:
    """A folder holding a sitecustomize.py that registers this backend (put it on PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve().parent
    (folder / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(here)!r})\nimport vcam_recorder\nvcam_recorder.register()\n"
    )
    return folder
