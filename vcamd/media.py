"""Image and video files: reading, probing, and writing them whole or not at all.

Promises:
- Every write goes to a temporary file beside the target, renamed over it only once complete: a failure
  (a bad frame, a full disk, Ctrl-C) leaves neither a half-written file nor the temporary one.
- :func:`transcode` writes a video with the input's size, frame count and frame times (so its frame rate),
  treating each frame with a callback, and keeps the first audio track: its packets are copied unchanged when
  the output container accepts the codec, otherwise it is re-encoded (AAC, or Opus for ``.webm``).
- Problems are :class:`MediaError` with one line naming the file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np

from vcamd import files
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp")
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm")
Kind = Literal["image", "video"]

#: Video encoder and options per output container.
_H264 = ("libx264", {"crf": "18", "preset": "veryfast"})
_VP9 = ("libvpx-vp9", {"crf": "28", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"})
_ENCODERS = {".mp4": _H264, ".mov": _H264, ".mkv": _H264, ".webm": _VP9}


class MediaError(VcamdError):
    """A file that cannot be read or written; the message is one line naming it."""


def kind_of(path: Path) -> Kind | None:
    """``"image"`` or ``"video"`` by the file's extension, or None for anything else."""
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    return None


def _reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """:func:`vcamd.files.atomic_path`, its OS errors as one-line MediaErrors naming ``dest``."""
    try:
        with files.atomic_path(dest) as tmp:
            yield tmp
    except OSError as e:
        raise MediaError(f"{dest}: cannot write it ({_reason(e)})") from None


def read_image(path: Path) -> np.ndarray:
    """The image at ``path`` as BGR uint8 (EXIF orientation applied)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise MediaError(f"{path}: not a readable image (corrupt, or not jpg/png/webp)")
    return img


class BufferPool:
    """Up to ``size`` uint8 buffers of one shape, each handed out again only once nobody else holds it (no
    name, no view, no other thread). One thread calls :meth:`buffer`; others only drop their references,
    so a buffer seen as free stays free until it is handed out again."""

    #: sys.getrefcount of a free pooled buffer in :meth:`buffer`'s loop: the list, the loop name, the call.
    _FREE_REFS = 3

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffers: list[np.ndarray] = []

    def buffer(self, shape: tuple[int, ...] | None) -> np.ndarray | None:
        """A buffer of ``shape`` nothing else holds (a new one while the pool is not full), or None (let
        the caller allocate) when ``shape`` is unknown or every pooled buffer is held. Buffers of another
        shape are dropped."""
        if shape is None:
            return None
        self._buffers = [b for b in self._buffers if b.shape == shape]
        for buf in self._buffers:
            if sys.getrefcount(buf) <= self._FREE_REFS:
                return buf
        if len(self._buffers) < self.size:
            self._buffers.append(np.empty(shape, np.uint8))
            return self._buffers[-1]
        return None


def cover_scale(img: np.ndarray, size: tuple[int, int]) -> float:
    """The factor :func:`cover_fit` scales ``img`` by to cover ``size`` (w, h): below 1 it shrinks."""
    ih, iw = img.shape[:2]
    return max(size[0] / iw, size[1] / ih)


def cover_fit(img: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None) -> np.ndarray:
    """Scale ``img`` to cover ``size`` (w, h) keeping its aspect ratio, then centre-crop: never stretched.
    Into ``dst`` when given (uint8, ``size`` by ``img``'s channels). A picture of that size is copied; one
    that grows is sampled straight into the crop (within one level of ``cv2.resize`` with INTER_LINEAR and
    a crop, as :func:`upscale`); one that shrinks is averaged (INTER_AREA)."""
    w, h = size
    ih, iw = img.shape[:2]
    if (iw, ih) == (w, h):
        if dst is None:
            return img.copy()
        np.copyto(dst, img)
        return dst
    scale = cover_scale(img, size)
    nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
    x, y = (nw - w) // 2, (nh - h) // 2
    if scale < 1 and (nw, nh) == (w, h):  # the same shape, smaller: no crop, straight into dst
        return cv2.resize(img, size, dst=dst, interpolation=cv2.INTER_AREA)
    if scale < 1:
        crop = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)[y : y + h, x : x + w]
        if dst is None:
            return np.ascontiguousarray(crop)
        np.copyto(dst, crop)
        return dst
    sx, sy = iw / nw, ih / nh  # source pixels per pixel of the enlarged picture
    m = np.array([[sx, 0.0, (x + 0.5) * sx - 0.5], [0.0, sy, (y + 0.5) * sy - 0.5]], np.float32)
    return cv2.warpAffine(img, m, size, dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def upscale(img: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None) -> np.ndarray:
    """``img`` resized bilinearly to ``size`` (w, h) with the pixel centres of ``cv2.resize(INTER_LINEAR)``
    and within one level of its result, into ``dst`` when given.

    Done as an affine warp, which costs a third to a half of ``cv2.resize`` for the large enlargements of
    the engine (a 125-pixel-wide blur up to 720p or 1080p). Like INTER_LINEAR
    it samples, never averages: for shrinking use ``cv2.resize`` with INTER_AREA.
    """
    h, w = img.shape[:2]
    sx, sy = size[0] / w, size[1] / h
    m = np.array([[sx, 0.0, (sx - 1.0) / 2.0], [0.0, sy, (sy - 1.0) / 2.0]], np.float32)
    return cv2.warpAffine(img, m, size, dst=dst, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def write_image(path: Path, img: np.ndarray) -> None:
    """Write ``img`` (BGR, or BGRA for png) atomically, in the format of ``path``'s extension."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if path.suffix.lower() == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 95]
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), img, params):
            raise MediaError(f"{path}: the image could not be encoded")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video file."""

    width: int
    height: int
    fps: Fraction
    frames: int | None  # None when the container does not say
    audio: str | None  # codec of the first audio track


def _open(path: Path) -> Any:
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise MediaError(f"{path}: not a readable video ({_reason(e)})") from None


def probe_video(path: Path) -> VideoInfo:
    """Size, frame rate, frame count and audio codec of ``path``; checks that its first frame decodes."""
    with _open(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: has no video track")
        vs = c.streams.video[0]
        try:
            first = next(iter(c.decode(vs)), None)
        except (av.FFmpegError, OSError) as e:
            raise MediaError(f"{path}: not a readable video ({_reason(e)})") from None
        if first is None:
            raise MediaError(f"{path}: has no frames")
        fps = vs.average_rate or vs.guessed_rate or Fraction(30)
        frames = int(vs.frames) or None
        if frames is None and vs.duration is not None and vs.time_base is not None:
            frames = round(float(vs.duration * vs.time_base * fps)) or None
        if frames is None and c.duration:
            frames = round(c.duration / av.time_base * float(fps)) or None
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return VideoInfo(first.width, first.height, Fraction(fps), frames, audio)


def _add_video(out: Any, ext: str, vin: Any) -> Any:
    """An output video stream like ``vin``: same size, frame rate and time base."""
    codec, options = _ENCODERS[ext]
    width, height = vin.codec_context.width, vin.codec_context.height
    fps = vin.average_rate or vin.guessed_rate or Fraction(30)
    vout = out.add_stream(codec, rate=fps, options=dict(options))
    vout.width, vout.height = width, height
    # 4:2:0 needs even sizes; odd sizes keep full chroma rather than changing the picture's size.
    vout.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    if vin.time_base is not None:
        vout.time_base = vin.time_base
        vout.codec_context.time_base = vin.time_base
    return vout


def _add_audio(out: Any, ext: str, ain: Any) -> tuple[Any, bool]:
    """The output audio stream and whether its packets are copied (True) or re-encoded (False)."""
    if ain.codec_context.name in out.supported_codecs:
        return out.add_stream_from_template(ain), True
    codec = "libopus" if ext == ".webm" else "aac"
    rate = 48000 if codec == "libopus" else (ain.codec_context.sample_rate or 48000)
    layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
    if layout not in ("mono", "stereo"):
        layout = "stereo"
    log.info("audio: %s cannot go into %s as is; re-encoding it to %s", ain.codec_context.name, ext, codec)
    return out.add_stream(codec, rate=rate, layout=layout), False


Treat = Callable[[np.ndarray, float], np.ndarray]


def transcode(src: Path, dst: Path, treat: Treat, on_frame: Callable[[], object] | None = None) -> int:
    """Write ``dst`` from ``src`` with every frame replaced by ``treat(bgr, t_seconds)``; return the count.

    ``treat`` must return a BGR uint8 frame of the input's size.
    """
    ext = dst.suffix.lower()
    if ext not in _ENCODERS:
        raise MediaError(f"{dst}: unknown video extension; use one of {', '.join(VIDEO_EXTS)}")
    count = 0
    with _open(src) as inp, atomic_path(dst) as tmp:
        if not inp.streams.video:
            raise MediaError(f"{src}: has no video track")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        fps = float(vin.average_rate or vin.guessed_rate or 30)
        try:
            with av.open(str(tmp), "w") as out:
                vout = _add_video(out, ext, vin)
                aout, copy_audio = _add_audio(out, ext, ain) if ain is not None else (None, False)
                last_pts: int | None = None
                for packet in inp.demux(*(s for s in (vin, ain) if s is not None)):
                    if packet.stream.index == vin.index:
                        for frame in packet.decode():
                            t = float(frame.time) if frame.time is not None else count / fps
                            img = treat(frame.to_ndarray(format="bgr24"), t)
                            new = av.VideoFrame.from_ndarray(img, format="bgr24")
                            pts = frame.pts if frame.pts is not None else count
                            if last_pts is not None and pts <= last_pts:
                                pts = last_pts + 1
                            new.pts, new.time_base, last_pts = pts, vin.time_base, pts
                            out.mux(vout.encode(new))
                            count += 1
                            if on_frame is not None:
                                on_frame()
                    elif aout is not None and copy_audio:
                        if packet.dts is not None:
                            packet.stream = aout
                            out.mux(packet)
                    elif aout is not None:
                        for af in packet.decode():
                            out.mux(aout.encode(af))
                if not count:
                    raise MediaError(f"{src}: has no frames")
                out.mux(vout.encode(None))
                if aout is not None and not copy_audio:
                    out.mux(aout.encode(None))
        except av.FFmpegError as e:
            raise MediaError(f"{src} -> {dst}: {_reason(e)}") from None
    return count


class FrameReader:
    """A video file's frames as BGR uint8: in order with :meth:`read`, or by number with :meth:`frame_at`
    (which seeks rather than decoding the whole way there); :meth:`restart` goes back to the first frame.

    It decodes on the caller's thread alone (a background video needs one frame per output frame, a few ms
    at 720p): FFmpeg's own decoder threads would come and go with every background and file reopened, each
    with its stack and frame buffers, and a daemon's memory would creep.
    """

    SEEK_AHEAD = 30  # frames: nearer than this, decoding forward is cheaper than a seek

    def __init__(self, path: Path) -> None:
        self.path = path
        self._container: Any = None
        self._stream: Any = None
        self._frames: Iterator[Any] = iter(())
        self._next = 0  # the number of the frame read() gives next
        self.fps = 30.0
        self.frames: int | None = None  # as the file's header says (may be missing)
        self.restart()

    def restart(self) -> None:
        """Reopen the file at its first frame."""
        self.close()
        self._container = _open(self.path)
        if not self._container.streams.video:
            self.close()
            raise MediaError(f"{self.path}: has no video track")
        vs = self._stream = self._container.streams.video[0]
        vs.thread_count = 1
        self.fps = float(vs.average_rate or vs.guessed_rate or 30)
        self.frames = int(vs.frames) or None
        self._frames = self._container.decode(vs)
        self._next = 0

    def _decode(self) -> Any:
        try:
            return next(self._frames, None)
        except (av.FFmpegError, OSError) as e:
            raise MediaError(f"{self.path}: cannot decode it ({_reason(e)})") from None

    def _number(self, frame: Any) -> int:
        """The number of a decoded frame, from its time (frames after a seek do not count from 0)."""
        if frame.pts is None or frame.time_base is None:
            return self._next
        start = self._stream.start_time or 0
        return max(0, round(float((frame.pts - start) * frame.time_base) * self.fps))

    @property
    def position(self) -> int:
        """The number of the frame decoded next (after the end of the file: the number of frames)."""
        return self._next

    def read(self) -> np.ndarray | None:
        """The next frame, or None at the end of the file."""
        frame = self._decode()
        if frame is None:
            return None
        self._next += 1
        return frame.to_ndarray(format="bgr24")

    def frame_at(self, index: int) -> np.ndarray | None:
        """Frame number ``index`` (from 0), or None if the file ends before it."""
        if self._container is None:
            self.restart()
        if index < self._next or index > self._next + self.SEEK_AHEAD:
            self._seek(index)
        while True:
            frame = self._decode()
            if frame is None:
                return None
            number = self._number(frame)
            self._next = number + 1
            if number >= index:
                return frame.to_ndarray(format="bgr24")

    def _seek(self, index: int) -> None:
        """Go to the keyframe at or before frame ``index``; the next decoded frames lead up to it."""
        vs = self._stream
        if index == 0 or vs.time_base is None:
            self.restart()
            return
        target = int(index / self.fps / vs.time_base) + (vs.start_time or 0)
        try:
            self._container.seek(target, stream=vs, backward=True, any_frame=False)
        except (av.FFmpegError, OSError) as e:
            raise MediaError(f"{self.path}: cannot seek in it ({_reason(e)})") from None
        self._frames = self._container.decode(vs)
        self._next = 0  # unknown until the next frame is decoded

    def close(self) -> None:
        """Release the file (safe to call twice)."""
        container, self._container = self._container, None
        if container is not None:
            container.close()
