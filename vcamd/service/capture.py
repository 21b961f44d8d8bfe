"""Opening the physical camera: what ``camera.device`` names, whether it can work, and a first frame.

Promises:
- :func:`parse_source` classifies ``camera.device`` (an index, a ``/dev/videoN`` path, a video file or a
  URL standing in for a camera); :func:`missing_reason` says why it clearly cannot work before trying.
- :func:`open_capture` opens it, asks a live camera for width, height, fps and fourcc (V4L2 wants the pixel
  format first), reads a first frame and logs what the camera really gave; it raises :class:`CameraError`
  naming the camera and why. MJPEG frames are decoded by :mod:`vcamd.service.mjpeg`, or by OpenCV where the
  first frame does not decode there. Files and streams go through FFmpeg with FILE_DECODER_THREADS.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from vcamd.config import CameraSettings
from vcamd.errors import VcamdError
from vcamd.outputs import v4l2loopback
from vcamd.service.mjpeg import Capture, JpegCapture, fourcc_text, jpeg_capture

log = logging.getLogger(__name__)


class CameraError(VcamdError):
    """The camera cannot be opened or read; the message names it and says why."""


@dataclass(frozen=True)
class Source:
    """What ``camera.device`` names."""

    spec: str
    kind: Literal["index", "device", "file", "url"]
    index: int = -1
    path: str = ""  # a device node or file whose vanishing means "unplugged"; "" if none

    @property
    def live(self) -> bool:
        """A real camera (asked for a size and format), not a file or stream standing in for one."""
        return self.kind in ("index", "device")


def parse_source(spec: str, platform: str = sys.platform) -> Source:
    """Classify ``camera.device``."""
    s = spec.strip()
    if s.isdigit():
        path = f"/dev/video{int(s)}" if platform.startswith("linux") else ""
        return Source(s, "index", int(s), path)
    if s.startswith("/dev/"):
        return Source(s, "device", path=s)
    if "://" in s:
        return Source(s, "url")
    return Source(s, "file", path=os.path.expanduser(s))


def missing_reason(spec: str, virtual_label: str = "") -> str | None:
    """Why ``camera.device`` clearly cannot work before even trying to open it (None if it may work)."""
    src = parse_source(spec)
    if src.kind == "url":
        return None
    if src.kind == "file":
        return None if os.path.isfile(src.path) else f"camera.device: no such video file {src.path}"
    if not src.path:  # an index on Windows/macOS: only opening it tells
        return None
    if os.path.exists(src.path):
        number = v4l2loopback.device_number(src.path)
        dev = next((d for d in v4l2loopback.devices() if d.number == number), None)
        if dev is not None and dev.loopback and dev.label == virtual_label:
            return f'camera.device {spec} is the virtual camera "{virtual_label}" itself, not a webcam'
        return None
    cameras = [d.path for d in v4l2loopback.devices() if not d.loopback]
    where = f"cameras here: {', '.join(cameras)}" if cameras else "none is plugged in"
    return f"no webcam at {src.path} ({where})"


@dataclass(frozen=True)
class CameraInfo:
    """What the camera really gives."""

    width: int
    height: int
    fps: float
    fourcc: str


def gone(src: Source) -> str:
    """The error of a camera whose device node or file is not there."""
    return f"camera {src.spec}: not there (unplugged, moved or deleted)"


#: FFmpeg decoder threads for a file or stream standing in for a camera: one frame per frame period needs
#: no more, and FFmpeg's frame threads cost more CPU (MJPEG 720p: 3.0 against 2.6 ms a frame here).
FILE_DECODER_THREADS = 1


def _capture(src: Source, target: int | str) -> cv2.VideoCapture:
    """A capture of ``target`` (files and streams through FFmpeg with FILE_DECODER_THREADS, falling back to
    any backend that opens them)."""
    if src.kind in ("file", "url"):
        cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, FILE_DECODER_THREADS])
        if cap.isOpened():
            return cap
        cap.release()
    return cv2.VideoCapture(target, _api(src))


def _api(src: Source) -> int:
    """The OpenCV capture backend for a real camera on this system."""
    if src.kind == "file" or src.kind == "url":
        return cv2.CAP_ANY
    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2
    if sys.platform == "win32":
        return cv2.CAP_DSHOW  # opens fast and honours MJPG, unlike the default (MSMF)
    return cv2.CAP_ANY


def _open_asking(src: Source, target: int | str, settings: CameraSettings) -> cv2.VideoCapture:
    """The camera opened and asked for the settings (a live one; a file is what it is)."""
    cap = _capture(src, target)
    if not cap.isOpened():
        cap.release()
        raise CameraError(f"camera {src.spec}: cannot open it (busy, or not a camera?)")
    if src.live:
        # V4L2 wants the pixel format before the size.
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*settings.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
        cap.set(cv2.CAP_PROP_FPS, settings.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one from a queue
    return cap


def open_capture(
    settings: CameraSettings, *, quiet: bool = False
) -> tuple[Capture, np.ndarray, CameraInfo]:
    """Open the camera, ask for the settings, read a first frame; raise CameraError saying why not.

    MJPEG frames are decoded by :mod:`vcamd.service.mjpeg`, or by OpenCV if the first does not decode there.
    """
    src = parse_source(settings.device)
    if src.path and not os.path.exists(src.path):
        raise CameraError(gone(src))
    target: int | str = src.index if src.kind == "index" else (src.path or src.spec)
    cap = _open_asking(src, target, settings)
    fourcc = fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
    capture = jpeg_capture(cap)
    ok, frame = capture.read()
    if ok and frame is None and isinstance(capture, JpegCapture):  # OpenCV may still make sense of it
        (log.debug if quiet else log.warning)("camera %s: %s; OpenCV decodes its frames instead", src.spec,
                                              capture.error)
        capture.release()
        capture = _open_asking(src, target, settings)
        ok, frame = capture.read()
    if not ok or frame is None:
        capture.release()
        raise CameraError(f"camera {src.spec}: opened, but gives no frames (used by another app?)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    info = CameraInfo(frame.shape[1], frame.shape[0], fps if 0 < fps < 1000 else settings.fps, fourcc)
    if quiet:
        log.debug("camera %s: reopened", src.spec)
    elif src.live:
        log.info("camera %s: asked %dx%d @ %g fps %s, got %dx%d @ %g fps %s", src.spec,
                 settings.width, settings.height, settings.fps, settings.fourcc,
                 info.width, info.height, info.fps, info.fourcc)
    else:
        log.info("camera %s stands in for a webcam: %dx%d @ %g fps, looped", src.spec, info.width,
                 info.height, info.fps)
    return capture, frame, info
