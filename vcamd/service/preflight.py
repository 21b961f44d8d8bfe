"""What the daemon checks before it starts: a webcam and a virtual camera.

Promise: ``check(cfg)`` raises one :class:`~vcamd.errors.Problems` naming everything that is clearly missing,
one line each with its fix: the webcam first (nothing works without it), then the virtual camera
(v4l2loopback, then PipeWire); it ends with how to try the effects meanwhile (``vcamd preview`` when only the
virtual camera is missing, ``vcamd process`` on a file otherwise). It opens nothing.
"""

from __future__ import annotations

from vcamd import outputs
from vcamd.config import Config
from vcamd.errors import Problems, VcamdError
from vcamd.service import capture

PREVIEW_WITHOUT = ("to see yourself with the effect meanwhile: vcamd preview (it runs vcamd with no virtual "
                   "camera)")
TRY_WITHOUT = (
    "to try the effects on a video file meanwhile: vcamd process IN.mp4 -o OUT.mp4 --effect blur "
    "(vcamd doctor checks the whole set-up)"
)


def check(cfg: Config) -> None:
    """Raise :class:`Problems` if the webcam or the virtual camera ``cfg`` names is clearly missing."""
    problems = []
    why = capture.missing_reason(cfg.camera.device, cfg.output.name)
    if why and capture.parse_source(cfg.camera.device).kind == "file":
        problems.append(f"{why}; point camera.device (or --camera) at a camera or an existing video file")
    elif why:
        problems.append(f"{why}: plug one in, or set camera.device (or --camera) to a camera or a video "
                        "file; vcamd devices lists them")
    try:
        outputs.resolve(cfg.output)
    except Problems as e:
        problems += e.lines
    except VcamdError as e:
        problems.append(str(e))
    if problems:
        raise Problems(problems, TRY_WITHOUT if why else PREVIEW_WITHOUT)
