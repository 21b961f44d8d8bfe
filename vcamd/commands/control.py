"""``vcamd next`` / ``prev`` / ``pause`` / ``resume``: the tray's Next, Previous and Pause camera on / off,
asked of the running daemon over its socket (:mod:`vcamd.service.control_socket`; ``daemon.privacy`` is
saved in the file).

Promises: each prints the daemon's status line after it (``pause`` / ``resume`` once the new state shows,
at most STATE_WAIT seconds). No daemon running: one line on stderr, exit 1 (:func:`not_running`, which
``status`` shares).
"""

from __future__ import annotations

import argparse
import sys
import time

from vcamd.service import control_socket
from vcamd.service.control import State
from vcamd.service.control_socket import NotRunning

STATE_WAIT = 1.5  # longest ``pause`` / ``resume`` wait for the daemon's new state


def not_running(e: NotRunning) -> int:
    """One line on stderr and exit status 1: what a command that needs the running daemon does without it."""
    sys.stderr.write(f"{e}\n")
    return 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``next``, ``prev``, ``pause`` and ``resume`` take no arguments of their own."""


def main(args: argparse.Namespace) -> int:
    """``vcamd next | prev | pause | resume``: ask the running daemon, then print its status line."""
    cmd = args.command
    try:
        reply = control_socket.request(cmd)
        deadline = time.monotonic() + STATE_WAIT
        while cmd in ("pause", "resume") and time.monotonic() < deadline:
            if (reply["status"]["state"] == State.PRIVACY.value) == (cmd == "pause"):
                break
            time.sleep(0.05)
            reply = control_socket.request("status")
    except NotRunning as e:
        return not_running(e)
    sys.stdout.write(f"{reply['line']}\n")
    return 0
