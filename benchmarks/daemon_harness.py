"""What latency.py and soak.py share: a 1280x720 30 fps clip standing in for the webcam, a virtual camera
backend that only counts, and a daemon running in this process.

The clip is made from ../shared/data/videos/volcomix_doctor.mp4 (a real person, 25 s) in a temporary folder
and removed afterwards; nothing is written into the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pyvirtualcam
import tomlkit
from pyvirtualcam.util import encode_fourcc

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VCAMD_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("VCAMD_MODEL_DIR", str(SHARED / "models"))
os.environ.setdefault("GLOG_minloglevel", "2")
SOURCE = SHARED / "data" / "videos" / "volcomix_doctor.mp4"
BGR = encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)


class CountingBackend:
    """A pyvirtualcam backend that counts frames and keeps nothing (so memory figures are the daemon's)."""

    last: ClassVar[CountingBackend | None] = None

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None,
                 **kw: Any) -> None:
        if fourcc != BGR:
            raise ValueError("BGR only")
        self.size, self.count, self.closed = (width, height), 0, False
        self._device = device or "counting"
        CountingBackend.last = self

    def send(self, frame: np.ndarray) -> None:
        self.count += 1

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int:
        return BGR


pyvirtualcam.register_backend("counting", CountingBackend)


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """End ``proc`` (a process a benchmark or test started): SIGTERM, then SIGKILL after ``timeout`` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_clip(folder: Path, size: tuple[int, int] = (1280, 720), fps: float = 30.0, mjpeg: bool = False,
              source: Path = SOURCE, frames: int | None = None) -> Path:
    """``source`` (a real webcam clip; its first ``frames`` frames, or all) cover-fitted to ``size`` (scaled
    and centre-cropped, never stretched: a webcam of that size) at ``fps``, in ``folder``: an mp4, or with
    ``mjpeg`` an MJPEG .avi (what a UVC webcam sends). The benchmarks and the tests make their webcam
    stand-ins here."""
    from vcamd.frames import cover_fit

    path = folder / f"{source.stem}_{size[0]}x{size[1]}.{'avi' if mjpeg else 'mp4'}"
    cap = cv2.VideoCapture(str(source))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*("MJPG" if mjpeg else "mp4v")), fps, size)
    if not cap.isOpened() or not out.isOpened():
        raise RuntimeError(f"cannot read {source} or write {path}")
    written = 0
    while frames is None or written < frames:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(cover_fit(frame, size))
        written += 1
    out.release()
    cap.release()
    return path


def rss_mb() -> float:
    """Resident memory of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def daemon(effect: str = "blur", size: tuple[int, int] = (1280, 720)) -> Iterator[Any]:
    """A started Daemon reading a ``size`` clip at 30 fps into the counting backend."""
    sys.path.insert(0, str(ROOT))
    from vcamd.service.daemon import Daemon

    with tempfile.TemporaryDirectory(prefix="vcamd-bench-") as tmp:
        folder = Path(tmp)
        clip = make_clip(folder, size)
        cfg = folder / "config.toml"
        cfg.write_text(tomlkit.dumps({
            "camera": {"device": str(clip)},
            "output": {"backend": "counting"},
            "effect": {"name": effect},
            "daemon": {"pause_when_unused": False},
        }))
        d = Daemon(cfg)
        d.start()
        try:
            yield d
        finally:
            d.close()


def sleep_until(t: float) -> None:
    threading.Event().wait(max(0.0, t - time.monotonic()))
