"""A camera's MJPEG frames, decoded by libjpeg-turbo (simplejpeg) straight into the camera's own buffers.

Promises:
- :func:`jpeg_capture` turns an open ``cv2.VideoCapture`` whose stream is MJPEG (a V4L2 webcam, or a file or
  stream through FFmpeg) into a :class:`JpegCapture`, which takes the compressed frames from OpenCV and
  decodes them itself; any other capture comes back as it was. Both read like
  ``cv2.VideoCapture.read(dst)`` and close with ``release()``.
- A frame is decoded to BGR (as OpenCV's, within rounding) into ``dst`` when ``dst`` has the frame's shape
  (no new image per frame). Why: a file through OpenCV's FFmpeg backend costs 3.3-3.4 ms per 720p MJPEG
  frame here (7.4-7.6 at 1080p) after the 30 ms wait between camera frames, this 2.1-2.2 ms (3.8-3.9); the
  daemon's camera thread went from 12 to 8 % of a core at 720p30 and from 21-23 to 13-15 % at 1080p30.
  A V4L2 camera's frames OpenCV decodes with ``imdecode`` into its own frame, through the same
  libjpeg-turbo: there the gain is not measured (no webcam here), the fast upsampling below at least.
- A frame cut short decodes as far as it goes, as OpenCV's decoder does. A frame that does not decode at
  all reads as ``(True, None)``, a frame lost (the next may be good), and ``error`` says why.
"""

from __future__ import annotations

import cv2
import numpy as np
import simplejpeg

#: Chroma doubled by repeating it, not by libjpeg's smoothing: 0.45 ms less per 1080p frame (0.15 at 720p),
#: and what reaches an app is the same within 0.07 levels on average, since the outputs (I420) halve the
#: chroma again (0.19 levels in BGR).
FAST_UPSAMPLE = True

#: What OpenCV reports as the pixel format (V4L2) or codec tag (FFmpeg) of a stream of JPEG frames.
JPEG_FOURCCS = frozenset({"MJPG", "JPEG"})


def fourcc_text(value: float) -> str:
    """A fourcc as text ("?" when it is not printable)."""
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() and text.strip() else "?"


class JpegCapture:
    """A capture switched to hand over compressed frames, which :meth:`read` decodes (see the promises)."""

    def __init__(self, cap: cv2.VideoCapture) -> None:
        self._cap = cap
        self.error = ""

    def read(self, dst: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        """(False, None) when no frame came; (True, None) when one came that does not decode."""
        ok, packet = self._cap.read()
        if not ok or packet is None:
            return False, None
        data = packet.reshape(-1)
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            fits = dst is not None and dst.shape == (height, width, 3)
            frame = simplejpeg.decode_jpeg(data, "BGR", fastupsample=FAST_UPSAMPLE,
                                           buffer=dst if fits else None, strict=False)
        except ValueError as e:
            self.error = f"a frame does not decode as JPEG ({e})"
            return True, None
        self.error = ""
        return True, frame

    def get(self, prop: int) -> float:
        return float(self._cap.get(prop))

    def release(self) -> None:
        self._cap.release()


#: An open camera: OpenCV's capture, or one whose MJPEG frames this module decodes.
Capture = cv2.VideoCapture | JpegCapture


def jpeg_capture(cap: cv2.VideoCapture) -> Capture:
    """``cap`` as a :class:`JpegCapture` if its stream is MJPEG and OpenCV hands its frames over undecoded;
    otherwise ``cap`` itself."""
    if fourcc_text(cap.get(cv2.CAP_PROP_FOURCC)) not in JPEG_FOURCCS:
        return cap
    backend = cap.getBackendName()
    if backend == "V4L2":
        raw = cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    elif backend == "FFMPEG":
        raw = cap.set(cv2.CAP_PROP_FORMAT, -1)
    else:
        return cap
    return JpegCapture(cap) if raw else cap
