"""``vcamd devices``: the cameras and the virtual cameras it can see, marking the ones the settings use.

On Linux: the webcams and the v4l2loopback devices (from sysfs), and the PipeWire camera nodes; elsewhere the
camera indices that open and pyvirtualcam's backends. A bad settings file does not stop it (the defaults are
used to mark the devices).
"""

from __future__ import annotations

import argparse
import shutil
import sys

from vcamd import config
from vcamd.errors import VcamdError
from vcamd.outputs import pipewire, pipewire_graph, v4l2loopback
from vcamd.service import capture


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``devices`` takes only the global options."""


def main(args: argparse.Namespace) -> int:
    """``vcamd devices``: the list on stdout; 0."""
    try:
        cfg = config.load(args.config)
    except VcamdError:
        cfg = config.Config()
    lines = []
    if sys.platform.startswith("linux"):
        found = v4l2loopback.devices()
        used = capture.parse_source(cfg.camera.device).path
        lines.append("cameras:")
        lines += [f"  {d.path}  {d.label}{'  <- camera.device' if d.path == used else ''}"
                  for d in found if not d.loopback] or ["  none (no webcam is plugged in)"]
        lines.append("virtual cameras (v4l2loopback):")
        lines += [f'  {d.path}  "{d.label}"{"  <- output.name" if d.label == cfg.output.name else ""}'
                  for d in found if d.loopback] or [f"  none; {v4l2loopback.load_hint(cfg.output.name)}"]
        lines.append("PipeWire cameras (Video/Source nodes):")
        why = pipewire.unavailable()
        nodes = pipewire_graph.camera_nodes() if not why else []
        lines += [f'  node {n.id}  "{n.description}"  ({n.name})'
                  f'{"  <- output.name" if n.description == cfg.output.name else ""}' for n in nodes] or [
            f"  none; {why}" if why else "  none (vcamd makes one while it runs with output.backend = auto "
            "or pipewire)" if shutil.which("pw-dump") else f"  cannot list them: {pipewire.MONITOR_FIX}"]
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
