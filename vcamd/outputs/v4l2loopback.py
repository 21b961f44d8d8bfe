"""Linux video devices as sysfs describes them: webcams, and v4l2loopback virtual cameras found by label.

Promises:
- ``devices()`` lists ``/sys/class/video4linux`` (path, number, label, made by v4l2loopback or not), sorted by
  number; it is empty where there is no such folder (other systems, containers).
- ``find_loopback(label)`` is the v4l2loopback device whose card label is ``label``, or None.
- ``load_hint(label)`` is the one-line fix for a missing device: the package to install (this distribution's
  command), the exact modprobe command and the commands that keep it at every boot; ``missing(label)`` the
  whole line: no such device, the v4l2loopback devices there are, and that fix.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from vcamd import distro

SYSFS = Path("/sys/class/video4linux")
MODULE = Path("/sys/module/v4l2loopback")
#: Where the device's options and the module's loading at boot are kept (packaging/linux/ holds the same files
#: for distribution packages).
MODPROBE_CONF = "/etc/modprobe.d/vcamd-v4l2loopback.conf"
MODULES_LOAD_CONF = "/etc/modules-load.d/vcamd-v4l2loopback.conf"


@dataclass(frozen=True)
class VideoDevice:
    """One ``/dev/videoN``."""

    path: str
    number: int
    label: str
    loopback: bool  # made by v4l2loopback (a virtual camera), not a real camera


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def devices(root: Path = SYSFS) -> list[VideoDevice]:
    """Every video device sysfs knows, by number."""
    found = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith("video") or not entry.name[5:].isdigit():
            continue
        # v4l2loopback adds its own attributes (max_openers, buffers, format) to each device it makes.
        loopback = (entry / "max_openers").exists()
        found.append(VideoDevice(f"/dev/{entry.name}", int(entry.name[5:]), _read(entry / "name"), loopback))
    return sorted(found, key=lambda d: d.number)


def find_loopback(label: str, root: Path = SYSFS) -> VideoDevice | None:
    """The v4l2loopback device labelled ``label`` (the first, if several), or None."""
    return next((d for d in devices(root) if d.loopback and d.label == label), None)


def module_loaded() -> bool:
    """True when the v4l2loopback kernel module is loaded."""
    return MODULE.is_dir()


def module_installed() -> bool:
    """True when the running kernel has a v4l2loopback module to load (loaded counts)."""
    if module_loaded():
        return True
    dep = Path("/lib/modules") / platform.release() / "modules.dep"
    try:
        return "v4l2loopback.ko" in dep.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def exclusive_caps(dev: VideoDevice) -> bool | None:
    """Whether the module was loaded with ``exclusive_caps=1`` for ``dev``; None when it cannot be told.

    Chrome, Zoom and Teams list a v4l2loopback device only with exclusive_caps=1. The module's parameter
    arrays are indexed by the order the devices were made in; ``video_nr`` tells which is ours.
    """
    params = MODULE / "parameters"
    caps = _read(params / "exclusive_caps").split(",")
    numbers = _read(params / "video_nr").split(",")
    index = numbers.index(str(dev.number)) if str(dev.number) in numbers else None
    if index is None:
        loopbacks = [d for d in devices() if d.loopback]
        index = loopbacks.index(dev) if dev in loopbacks and len(loopbacks) == 1 else None
    if index is None or index >= len(caps) or caps[index] not in ("Y", "N", "1", "0"):
        return None
    return caps[index] in ("Y", "1")


def options(label: str) -> str:
    """The module's options for a device labelled ``label``: /dev/video10, capture-only (exclusive_caps, which
    Chrome, Zoom and Teams need to list it)."""
    return f'video_nr=10 card_label="{label}" exclusive_caps=1'


def modprobe_command(label: str) -> str:
    """The command that makes a v4l2loopback device labelled ``label``."""
    return f"sudo modprobe v4l2loopback {options(label)}"


def load_hint(label: str) -> str:
    """How to get a device labelled ``label`` now and at every boot (one line, commands only: nothing from
    vcamd's source tree, which a pipx install does not have)."""
    install = "" if module_installed() else (
        f"install v4l2loopback ({distro.install_hint([distro.V4L2LOOPBACK])}), then ")
    keep = (f"echo 'options v4l2loopback {options(label)}' | sudo tee {MODPROBE_CONF} && "
            f"echo v4l2loopback | sudo tee {MODULES_LOAD_CONF}")
    return f"{install}load it: {modprobe_command(label)} (for every boot: {keep})"


def missing(label: str) -> str:
    """One line: no v4l2loopback device is labelled ``label``, and how to make one."""
    others = [f'{d.path} "{d.label}"' for d in devices() if d.loopback]
    seen = f" (v4l2loopback devices here: {', '.join(others)})" if others else ""
    return f'no virtual camera "{label}"{seen}: {load_hint(label)}'


def device_number(path: str) -> int | None:
    """N for ``/dev/videoN`` (following symlinks such as /dev/v4l/by-id/...), else None."""
    name = os.path.basename(os.path.realpath(path))
    return int(name[5:]) if name.startswith("video") and name[5:].isdigit() else None
