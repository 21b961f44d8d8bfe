"""Which outputs the settings ask for, and opening them as one :class:`~vcamd.outputs.base.Output`.

Promises:
- ``targets(settings)`` lists the outputs ``output.*`` asks for: a pyvirtualcam backend and device,
  ``pipewire`` (a PipeWire camera node), or ``none`` (no virtual camera: for ``vcamd preview`` only).
  ``auto`` means on Linux every output that can work, at once: the
  v4l2loopback device whose card label is ``output.name`` when it exists, and the PipeWire camera when a
  PipeWire daemon runs; on Windows Unity Capture (a device of that name) or OBS when the name is "OBS Virtual
  Camera", on macOS OBS. Nothing that can work raises :class:`VcamdError` with the fix (on Linux the exact
  modprobe command, and what PipeWire needs). ``resolve(settings)`` is the first of them.
- ``open_output(settings, width, height, fps)`` opens them as one :class:`Output` taking BGR frames of one
  size (several: each frame goes to each, see :mod:`.fanout`). One of several failing to open is logged and
  the others run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from vcamd.config import OutputSettings
from vcamd.errors import Problems, VcamdError
from vcamd.outputs import pipewire, v4l2loopback
from vcamd.outputs.base import Output

log = logging.getLogger(__name__)

PIPEWIRE = "pipewire"  # the backend names that are no pyvirtualcam backend
NONE = "none"
OBS_NAME = "OBS Virtual Camera"


@dataclass(frozen=True)
class Target:
    """A pyvirtualcam backend and the device to ask it for (None: the backend's own)."""

    backend: str
    device: str | None


def targets(settings: OutputSettings, platform: str = sys.platform) -> list[Target]:
    """The outputs for ``settings`` on ``platform``, at least one (see the module's promises)."""
    if settings.backend == NONE:
        return [Target(NONE, None)]
    if settings.backend == PIPEWIRE:
        if not platform.startswith("linux"):
            raise VcamdError('output.backend = "pipewire" is for Linux; set output.backend = "auto"')
        why = pipewire.unavailable()
        if why:
            raise VcamdError(f"output.backend = \"pipewire\": {why}")
        return [Target(PIPEWIRE, None)]
    if settings.backend == "auto" and platform.startswith("linux") and not settings.device:
        found = v4l2loopback.find_loopback(settings.name)
        why = pipewire.unavailable()
        both = [Target("v4l2loopback", found.path)] if found else []
        both += [] if why else [Target(PIPEWIRE, None)]
        if not both:
            raise Problems([v4l2loopback.missing(settings.name), "or, with no kernel module, a PipeWire "
                            f"camera: {why.removeprefix('PipeWire camera: ')}"])
        if not found:
            log.info('no v4l2loopback device "%s": the PipeWire camera only (apps that read /dev/video* '
                     'do not see it)', settings.name)
        elif why:
            log.info("the v4l2loopback device only; %s", why)
        return both
    return [resolve(settings, platform)]


def resolve(settings: OutputSettings, platform: str = sys.platform) -> Target:
    """The first backend and device for ``settings`` on ``platform`` (see the module's promises)."""
    from pyvirtualcam.camera import BACKENDS

    backend = settings.backend
    linux_auto = backend == "auto" and platform.startswith("linux") and not settings.device
    if backend in (PIPEWIRE, NONE) or linux_auto:
        return targets(settings, platform)[0]
    if backend == "auto":
        if platform.startswith("linux"):
            backend = "v4l2loopback"
        elif platform == "win32":
            backend = "obs" if settings.name == OBS_NAME else "unitycapture"
        else:
            backend = "obs"
    if backend not in BACKENDS:
        here = ", ".join(sorted(BACKENDS)) or "none"
        raise VcamdError(
            f"output.backend = {backend!r}: not a virtual camera backend here (available: {here})"
        )
    device = settings.device or None
    if device is None:
        if backend == "v4l2loopback":
            found = v4l2loopback.find_loopback(settings.name)
            if found is None:
                raise VcamdError(v4l2loopback.missing(settings.name))
            device = found.path
        elif backend == "unitycapture":
            device = settings.name
        elif backend == "obs" and settings.name != OBS_NAME:
            log.info('apps list OBS\'s virtual camera as "%s" (output.name %r cannot rename it)',
                     OBS_NAME, settings.name)
    return Target(backend, device)

def open_output(
    settings: OutputSettings, width: int, height: int, fps: float,
    on_change: Callable[[], None] | None = None,
) -> Output:
    """The outputs ``settings`` name, open for ``width`` x ``height`` BGR frames at ``fps``.

    ``on_change`` is called (from another thread) when an output's :meth:`Output.in_use` may have changed.
    """
    from vcamd.outputs.fanout import FanOut
    from vcamd.outputs.none import NoVirtualCamera
    from vcamd.outputs.virtualcam import VirtualCamera

    wanted = targets(settings)
    opened: list[Output] = []
    errors: list[str] = []
    for target in wanted:
        try:
            if target.backend == NONE:
                opened.append(NoVirtualCamera(width, height, fps))
            elif target.backend == PIPEWIRE:
                opened.append(pipewire.PipeWireCamera(settings.name, width, height, fps, on_change=on_change))
            else:
                opened.append(VirtualCamera(settings, width, height, fps, target))
        except VcamdError as e:
            if len(wanted) == 1:
                raise
            errors.append(str(e))
    if not opened:
        raise VcamdError("; ".join(errors))
    for error in errors:
        log.warning("%s; the other output goes on", error)
    return opened[0] if len(opened) == 1 else FanOut(opened)
