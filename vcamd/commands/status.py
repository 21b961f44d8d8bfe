"""``vcamd status``: the running daemon's status line, the tray's first line (``--json``: all of its status).
No daemon running: one line on stderr, exit 1."""

from __future__ import annotations

import argparse
import json
import sys

from vcamd.commands.control import not_running
from vcamd.service import control_socket
from vcamd.service.control_socket import NotRunning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="all of its status as one JSON object")


def main(args: argparse.Namespace) -> int:
    try:
        reply = control_socket.request("status")
    except NotRunning as e:
        return not_running(e)
    if args.json:
        sys.stdout.write(json.dumps({**reply["status"], "config": reply["config"]}) + "\n")
    else:
        sys.stdout.write(f"{reply['line']}\n")
    return 0
