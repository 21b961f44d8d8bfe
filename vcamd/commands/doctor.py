"""``vcamd devices`` and ``vcamd doctor``: what is plugged in, and whether the set-up can work.

Promises (the report on stdout is the product):
- ``devices`` lists the cameras and the virtual cameras, marking the ones the settings use.
- ``doctor`` checks the settings file, the webcam, the v4l2loopback module, a device with the label
  ``output.name``, its exclusive_caps, access to it (video group), the model, and whether a daemon runs; it
  prints ``ok`` or ``FAIL`` per check, an exact fix under each failure, then the versions. Exit status 1 if
  anything failed, else 0.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from vcamd import __version__, config, outputs
from vcamd.engine import models
from vcamd.errors import VcamdError
from vcamd.outputs import v4l2loopback
from vcamd.service import camera, instance

JOIN_VIDEO = "sudo usermod -aG video $USER, then log out and back in"

@dataclass(frozen=True)
class Check:
    """One line of the report: ``ok`` (True), ``FAIL`` (False) or plain information (None)."""

    ok: bool | None
    what: str
    fix: str = ""

    def text(self) -> str:
        mark = {True: "ok   ", False: "FAIL ", None: "     "}[self.ok]
        return f"{mark} {self.what}\n" + (f"      fix: {self.fix}\n" if self.fix and self.ok is False else "")


def _settings(args: argparse.Namespace) -> tuple[Path, config.Config | None, Check]:
    path = config.path_or_default(args.config)
    try:
        cfg = config.load(path)
    except VcamdError as e:
        return path, None, Check(False, f"settings: {e}", f"edit {path} (vcamd config check re-checks it)")
    what = f"settings: {path}" if path.exists() else f"settings: defaults ({path} does not exist yet)"
    return path, cfg, Check(True, what)


def _webcam(cfg: config.Config) -> Check:
    why = camera.missing_reason(cfg.camera.device, cfg.output.name)
    if why:
        return Check(False, why, "plug in a webcam, or set camera.device to one (vcamd devices lists them)")
    src = camera.parse_source(cfg.camera.device)
    if src.kind == "index" and not src.path:
        return Check(None, f"webcam: index {src.index} (only opening it tells; vcamd devices tries)")
    return Check(True, f"webcam: {src.path or src.spec}")


def _loopback(cfg: config.Config) -> list[Check]:
    """The v4l2loopback checks (Linux)."""
    name = cfg.output.name
    checks = []
    if not v4l2loopback.module_loaded():
        checks.append(Check(False, "v4l2loopback module not loaded", v4l2loopback.load_hint(name)))
        return [*checks, _access("")]
    version = v4l2loopback.MODULE / "version"
    loaded = f"v4l2loopback module loaded ({version.read_text().strip()})" if version.exists() else ""
    checks.append(Check(True, loaded or "v4l2loopback module loaded"))
    dev = v4l2loopback.find_loopback(name) if not cfg.output.device else None
    if cfg.output.device:
        checks.append(Check(os.path.exists(cfg.output.device), f"output.device {cfg.output.device}",
                            f"point output.device at an existing v4l2loopback device, or set it to \"\" "
                            f'to find "{name}" by label'))
    elif dev is None:  # loaded with other labels: it must be loaded again
        fix = "sudo modprobe -r v4l2loopback && " + v4l2loopback.load_hint(name).replace("load it: ", "", 1)
        checks.append(Check(False, outputs.missing_loopback(name).split(":", 1)[0], fix))
    else:
        checks.append(Check(True, f'{dev.path} is labelled "{name}"'))
        caps = v4l2loopback.exclusive_caps(dev)
        if caps is None:
            checks.append(Check(None, f"exclusive_caps of {dev.path}: cannot tell"))
        else:
            checks.append(Check(
                caps, f"exclusive_caps=1 for {dev.path} (Chrome, Zoom and Teams list it only then)",
                f"sudo modprobe -r v4l2loopback && {v4l2loopback.modprobe_command(name)}",
            ))
    checks.append(_access(dev.path if dev else cfg.output.device))
    return checks


def _access(device: str) -> Check:
    if device and os.path.exists(device):
        return Check(os.access(device, os.R_OK | os.W_OK), f"read/write access to {device}", JOIN_VIDEO)
    import grp  # Unix only, like this check

    if os.geteuid() == 0:
        return Check(True, "video group: running as root")
    try:
        video = grp.getgrnam("video")
    except KeyError:
        return Check(None, "video group: none on this system")
    member = video.gr_gid in os.getgroups()
    return Check(member, "member of the video group", JOIN_VIDEO)


def _virtual_camera(cfg: config.Config) -> Check:
    """Other systems: open the virtual camera for a moment."""
    try:
        outputs.open_output(cfg.output, 640, 480, 30).close()
    except VcamdError as e:
        fix = (
            "install OBS Studio (26 or later), start its virtual camera once, then quit OBS"
            if sys.platform == "darwin"
            else f'install Unity Capture with a device named "{cfg.output.name}", or install OBS Studio and '
            f'set output.name = "{outputs.OBS_NAME}"'
        )
        return Check(False, str(e), fix)
    return Check(True, f'virtual camera "{cfg.output.name}" opens')


def _model(cfg: config.Config) -> Check:
    try:
        path = models.resolve(cfg.segmentation.model, allow_download=False)
    except VcamdError as e:
        return Check(False, f"model: {e}", "vcamd models fetch (or put the .tflite file where it says)")
    return Check(True, f"model {cfg.segmentation.model}: {path}")


def _daemon() -> Check:
    lock = instance.InstanceLock()
    try:
        lock.acquire()
    except instance.AlreadyRunning:
        return Check(None, f"daemon: running (pid {instance.running_pid() or '?'})")
    except (OSError, VcamdError) as e:
        return Check(None, f"daemon: cannot tell ({e})")
    lock.release()
    return Check(None, "daemon: not running (start it with: vcamd run)")


def _versions() -> Check:
    parts = [f"vcamd {__version__}", f"python {platform.python_version()}"]
    for dist in ("ai-edge-litert", "mediapipe", "opencv-contrib-python", "pyvirtualcam", "numpy", "pystray"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} missing")
    parts.append(f"{platform.system()} {platform.release()}")
    return Check(None, "versions: " + " · ".join(parts))


def main(args: argparse.Namespace) -> int:
    """``vcamd doctor``."""
    _, cfg, first = _settings(args)
    checks = [first]
    if cfg is not None:
        checks.append(_webcam(cfg))
        if sys.platform.startswith("linux"):
            checks += _loopback(cfg)
        else:
            checks.append(_virtual_camera(cfg))
        checks.append(_model(cfg))
    checks += [_daemon(), _versions()]
    sys.stdout.write("".join(c.text() for c in checks))
    return 1 if any(c.ok is False for c in checks) else 0


def devices_main(args: argparse.Namespace) -> int:
    """``vcamd devices``."""
    try:
        cfg = config.load(args.config)
    except VcamdError:
        cfg = config.Config()
    lines = []
    if sys.platform.startswith("linux"):
        found = v4l2loopback.devices()
        used = camera.parse_source(cfg.camera.device).path
        lines.append("cameras:")
        lines += [f"  {d.path}  {d.label}{'  <- camera.device' if d.path == used else ''}"
                  for d in found if not d.loopback] or ["  none (no webcam is plugged in)"]
        lines.append("virtual cameras (v4l2loopback):")
        lines += [f'  {d.path}  "{d.label}"{"  <- output.name" if d.label == cfg.output.name else ""}'
                  for d in found if d.loopback] or [f"  none; {v4l2loopback.load_hint(cfg.output.name)}"]
    else:
        lines.append("cameras (by index):")
        lines += [f"  {i}  {w}x{h}" for i, w, h in _probe_indices()] or ["  none found"]
        from pyvirtualcam.camera import BACKENDS

        lines.append(f"virtual camera backends: {', '.join(sorted(BACKENDS)) or 'none'}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _probe_indices(count: int = 5) -> list[tuple[int, int, int]]:
    """Cameras 0..count-1 that open, with their default size (Windows and macOS have no device list)."""
    import cv2

    found = []
    for i in range(count):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append((i, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))))
        cap.release()
    return found
