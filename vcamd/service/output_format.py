"""The virtual camera's format (size and frame rate): what the settings ask for, what the open camera keeps.

Promises:
- ``wanted(output, camera, info)`` is the format ``output.*`` asks for: zeros take the camera's size
  (``info``, what it really gave, else what ``camera.*`` asks for) and rate, a single zero side keeps the
  camera's aspect; a camera's format beyond the largest output (3840x2160, 60 fps) is scaled down to it,
  aspect kept; sides are even (I420) and at least 2.
- An app reading a virtual camera holds its format: the daemon opens the camera again only when no app reads
  it (apps drop a camera whose node or device goes away). ``hold_note(kept, wanted, readers_known)`` says so
  in one short line for the status and the tray: "720p until the call ends (then 360p)".
- ``Pacer.due(t, fps)`` lets frames through at most at ``fps`` (a camera faster than the output, say after
  its rate changed under a held format), evenly, with a quarter of a period's slack for a camera's jitter;
  at the same rate every frame passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcamd.config import MAX_OUTPUT_FPS, MAX_OUTPUT_HEIGHT, MAX_OUTPUT_WIDTH, CameraSettings, OutputSettings
from vcamd.service.camera import CameraInfo

#: How early (in periods) a frame may come and still pass the :class:`Pacer` (below 1/2: a camera twice the
#: output's rate gives every other frame).
PACE_SLACK = 0.3


@dataclass(frozen=True)
class Format:
    """A virtual camera's size and frame rate."""

    width: int
    height: int
    fps: float

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def size_label(self) -> str:
        """``720p`` for a 16:9 picture, else ``640x480``."""
        return f"{self.height}p" if self.width * 9 == self.height * 16 else f"{self.width}x{self.height}"


def wanted(output: OutputSettings, camera: CameraSettings, info: CameraInfo | None) -> Format:
    """The format ``output`` asks for with this camera (see the module's promises)."""
    cw, ch = (info.width, info.height) if info else (camera.width, camera.height)
    w, h = output.width, output.height
    if w and not h:
        h = round(w * ch / cw)
    elif h and not w:
        w = round(h * cw / ch)
    elif not w:
        w, h = cw, ch
    shrink = min(1.0, MAX_OUTPUT_WIDTH / w, MAX_OUTPUT_HEIGHT / h)  # a camera larger than any output
    w, h = round(w * shrink), round(h * shrink)
    fps = min(output.fps or (info.fps if info else camera.fps), MAX_OUTPUT_FPS)
    return Format(max(2, w - w % 2), max(2, h - h % 2), fps)


def hold_note(kept: Format, new: Format, readers_known: bool = True) -> str:
    """One line: ``kept`` stays while an app reads, then ``new`` (the same format: other output settings)."""
    until = "the call ends" if readers_known else "vcamd restarts (it cannot tell here when no app reads)"
    if kept == new:
        return f"output changes apply when {until}"
    rate = kept.fps != new.fps
    now = kept.size_label() + (f" at {kept.fps:g} fps" if rate else "")
    then = [new.size_label()] if kept.size != new.size else []
    then += [f"{new.fps:g} fps"] if rate else []
    return f"{now} until {until} (then {' at '.join(then)})"


class Pacer:
    """Frames at most at a given rate (see the module's promises)."""

    def __init__(self) -> None:
        self._next = float("-inf")  # when the next frame is due

    def due(self, t: float, fps: float) -> bool:
        """Whether a frame taken at ``t`` (seconds, monotonic) goes out at ``fps``; counts it if so."""
        period = 1.0 / fps
        if t < self._next - PACE_SLACK * period:
            return False
        self._next = max(self._next, t - period / 2) + period
        return True
