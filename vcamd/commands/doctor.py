"""``vcamd doctor``: whether the set-up can work, with a fix for each problem.

Promises (the report on stdout is the product):
- ``doctor`` checks the settings file, the webcam, the v4l2loopback module, a device with the label
  ``output.name``, its exclusive_caps, access to it (video group), the PipeWire camera (GStreamer for
  Python, its PipeWire plugin, the daemon, pw-dump, the node once vcamd runs), the model, the desktop's tray
  host (Linux: a StatusNotifierWatcher or an XEmbed tray; none fails while ``tray.enabled``), and whether a
  daemon runs; it prints ``ok`` or ``FAIL`` per check, an exact fix under each failure, then the versions.
  With ``output.backend = "auto"`` one working virtual camera is enough: the other's failures are shown as
  optional. Exit status 1 if anything failed, else 0.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from vcamd import __version__, config, frames, outputs
from vcamd.commands import setup
from vcamd.engine import models
from vcamd.errors import VcamdError
from vcamd.outputs import pipewire, pipewire_graph, v4l2loopback
from vcamd.service import capture, instance

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
    why = capture.missing_reason(cfg.camera.device, cfg.output.name)
    if why:
        return Check(False, why, "plug in a webcam, or set camera.device to one (vcamd devices lists them)")
    src = capture.parse_source(cfg.camera.device)
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
        checks.append(Check(False, v4l2loopback.missing(name).split(":", 1)[0], fix))
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


APPS = ("apps that take the PipeWire camera: Firefox (about:config media.webrtc.camera.allow-pipewire = "
        "true), Chrome/Chromium (chrome://flags/#enable-webrtc-pipewire-camera), OBS 30+, GNOME Snapshot; "
        "Zoom and Chrome without the flag need the v4l2loopback device")


def _pipewire(cfg: config.Config) -> list[Check]:
    """The PipeWire camera checks (Linux)."""
    try:
        gst = pipewire.load_gst()
    except VcamdError as e:
        return [Check(False, str(e).split(" (", 1)[0], pipewire.GI_FIX)]
    checks = [Check(True, "PipeWire camera: GStreamer for Python")]
    plugin = gst.ElementFactory.find("pipewiresink") is not None
    checks.append(Check(plugin, "PipeWire camera: GStreamer's PipeWire plugin (pipewiresink)",
                        pipewire.PLUGIN_FIX))
    running = pipewire_graph.daemon_running()
    where = pipewire_graph.socket_path() or "XDG_RUNTIME_DIR is not set"
    checks.append(Check(running, f"PipeWire camera: PipeWire daemon reachable ({where})",
                        pipewire.DAEMON_FIX))
    checks.append(Check(shutil.which("pw-dump") is not None, "PipeWire camera: pw-dump (pause when unused)",
                        pipewire.MONITOR_FIX))
    if running and plugin:
        pid = instance.running_pid()
        ours = [n for n in pipewire_graph.camera_nodes() if n.description == cfg.output.name]
        if pid is None:
            checks.append(Check(None, f'PipeWire camera: node "{cfg.output.name}" appears once vcamd runs'))
        else:
            seen = f" (id {ours[0].id})" if ours else f" (vcamd runs as pid {pid})"
            checks.append(Check(bool(ours), f'PipeWire camera: node "{cfg.output.name}" visible{seen}',
                                'set output.backend = "auto" or "pipewire" and restart vcamd (its log says '
                                "why)"))
    checks.append(Check(None, APPS))
    return checks


def _model(cfg: config.Config) -> Check:
    try:
        path = models.resolve(cfg.segmentation.model, allow_download=False)
    except VcamdError as e:
        return Check(False, f"model: {e}", "vcamd models fetch (or put the .tflite file where it says)")
    return Check(True, f"model {cfg.segmentation.model}: {path}")


def _tray_host(cfg: config.Config) -> Check:
    """Linux: which tray the desktop can show (the same choice as the tray's), or the fix where none."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return Check(None, "tray: no graphical session here (DISPLAY is not set); run doctor in your desktop")
    from vcamd.desktop import tray_host

    try:
        chosen = tray_host.choose_backend()
    except tray_host.TrayUnavailable as e:
        what, _, fix = str(e).partition("; ")
        return Check(False if cfg.tray.enabled else None, what, f"{fix} (or set tray.enabled = false)")
    if chosen is None:
        return Check(False, "tray: PyGObject is missing", "vcamd setup")
    return Check(True, f"tray: pystray's {chosen[0]} backend ({chosen[1]})")


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


def _opencv() -> Check:
    import cv2

    if frames.FAST_WARP:
        return Check(True, f"OpenCV {cv2.__version__}: the fast warps vcamd's frame uses")
    since = ".".join(map(str, frames.FAST_WARP_SINCE))
    return Check(None, f"OpenCV {cv2.__version__} is slower for vcamd (about a fifth more CPU a frame than "
                       f"{since}); for less CPU: pip install -U 'opencv-contrib-python>={since}'")


def _versions() -> Check:
    parts = [f"vcamd {__version__}", f"python {platform.python_version()}"]
    for dist in ("ai-edge-litert", "mediapipe", "opencv-contrib-python", "pyvirtualcam", "numpy", "pystray"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} missing")
    parts.append(f"{platform.system()} {platform.release()}")
    return Check(None, "versions: " + " · ".join(parts))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``doctor`` takes only the global options."""


def main(args: argparse.Namespace) -> int:
    """``vcamd doctor``: the report; 1 if a check failed, else 0."""
    _, cfg, first = _settings(args)
    checks = [first]
    if cfg is not None:
        checks.append(_webcam(cfg))
        if sys.platform.startswith("linux"):
            backend = cfg.output.backend
            cams = _pipewire(cfg) if backend in ("auto", outputs.PIPEWIRE) else []
            loop = _loopback(cfg) if backend != outputs.PIPEWIRE else []
            if backend == "auto" and cams and all(c.ok is not False for c in cams):
                loop = [Check(None, f"{c.what} (optional while the PipeWire camera works; fix: {c.fix})")
                        if c.ok is False else c for c in loop]
            elif backend == "auto" and any(c.ok for c in loop) and all(c.ok is not False for c in loop):
                cams = [Check(None, f"{c.what} (optional while v4l2loopback works; fix: {c.fix})")
                        if c.ok is False else c for c in cams]
            checks += loop + cams
            checks.append(Check(*setup.doctor_check()))
        else:
            checks.append(_virtual_camera(cfg))
        checks.append(_model(cfg))
        if sys.platform.startswith("linux"):
            checks.append(_tray_host(cfg))
    checks += [_opencv(), _daemon(), _versions()]
    sys.stdout.write("".join(c.text() for c in checks))
    return 1 if any(c.ok is False for c in checks) else 0
