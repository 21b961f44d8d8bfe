"""``vcamd preview``: a window with exactly the frames apps receive, live (see :mod:`vcamd.desktop.preview`).

Promises:
- With vcamd running, the window shows its frames (after the effect, framing and mirror). An open preview
  counts as an app watching: the camera opens for it, and is released again after the window closes when
  no app watches. Closing the window never stops vcamd.
- vcamd not running: it is started first, in the background (``vcamd run`` with the same ``--config``, its
  output in :func:`log_path`), and it goes on after the window closes; stdout says so, with its pid. When no
  virtual camera can be opened yet (no v4l2loopback device, no PipeWire), it is started with
  ``output.backend = "none"`` for the preview alone, and stdout names what sets one up. A daemon that cannot
  start (no webcam, ...) is one line: its own error.
- No display or no GTK: one line naming the fix, before anything is started. Exit status 0 when the window
  is closed, 1 when vcamd stopped while it was open.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_WIDTH = 640
START_WAIT = 60.0  # seconds a daemon started here may take to listen (loading the model included)
START_LOOK = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``vcamd preview``'s options."""
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH,
                        help=f"the preview's width in pixels, at most the camera's (default {DEFAULT_WIDTH})")
    parser.add_argument("--stats", action="store_true",
                        help="show fps and CPU from the start (the window's check box toggles them)")


def log_path() -> Path:
    """Where a daemon started by ``vcamd preview`` writes its log (the user's state folder)."""
    import platformdirs

    return Path(platformdirs.user_state_dir("vcamd")) / "daemon.log"


def _no_virtual_camera(config_path: Path) -> str:
    """Why no virtual camera can be opened with the settings in ``config_path`` ("" if one can)."""
    from vcamd import config, outputs
    from vcamd.errors import VcamdError

    settings = config.load(config_path).output  # a bad settings file is its own one-line error
    try:
        outputs.targets(settings)
    except VcamdError as e:
        return str(e)
    return ""


def start_daemon(args: argparse.Namespace) -> int:
    """Start ``vcamd run`` in the background, wait until it listens; its pid (see the module's promises)."""
    from vcamd import config
    from vcamd.errors import VcamdError
    from vcamd.service import control_socket

    cmd = [sys.executable, "-m", "vcamd", "run"]
    if args.config:
        cmd += ["--config", str(args.config)]
    why = _no_virtual_camera(config.path_or_default(args.config))
    if why:
        cmd += ["--output-backend", "none"]
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + START_WAIT
    while True:
        try:
            control_socket.request("status", timeout=1.0)
            break
        except control_socket.NotRunning:
            pass
        if proc.poll() is not None:
            lines = log.read_text(errors="replace").splitlines()
            errors = [ln for ln in lines if ln.startswith("vcamd: error:")]
            raise VcamdError(errors[-1].removeprefix("vcamd: error: ") if errors
                             else f"vcamd stopped while starting (exit status {proc.returncode}); see {log}")
        if time.monotonic() > deadline:
            raise VcamdError(f"vcamd (pid {proc.pid}) did not start within {START_WAIT:.0f} s; see {log}")
        time.sleep(START_LOOK)
    sys.stdout.write(f"vcamd was not running: started it (pid {proc.pid}, log {log}); it goes on after the "
                     f"preview closes (stop it with the tray's Quit, or kill {proc.pid})\n")
    if why:
        sys.stdout.write(f"no virtual camera yet, so apps do not see vcamd: {why}; then restart vcamd\n")
    sys.stdout.flush()
    return proc.pid


def main(args: argparse.Namespace) -> int:
    """``vcamd preview``: 0 when the window is closed, 1 when vcamd stopped while it was open."""
    from vcamd.desktop import preview
    from vcamd.service.control_socket import NotRunning

    preview.check_display()
    try:
        stream = preview.Stream(args.width)
    except NotRunning:
        start_daemon(args)
        stream = preview.Stream(args.width)
    how = preview.show(stream, stats=args.stats)
    if how == "stopped":
        sys.stdout.write("vcamd has stopped; the preview closed\n")
        return 1
    return 0
