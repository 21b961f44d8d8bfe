"""``vcamd autostart enable | disable | status [--systemd]``: start vcamd at login (the methods live in
:mod:`vcamd.desktop.autostart`, shared with the tray's "Start at login"). Prints what it did or what is on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcamd.desktop import autostart


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["enable", "disable", "status"])
    parser.add_argument("--systemd", action="store_true",
                        help="Linux: a systemd user unit, not XDG autostart")


def main(args: argparse.Namespace) -> int:
    extra = ["--config", str(Path(args.config).expanduser().resolve())] if args.config else []
    if args.action == "enable":
        m = autostart.enable(systemd=args.systemd, extra=extra)
        sys.stdout.write(f"autostart enabled ({m.name}): {m.path}\n")
    elif args.action == "disable":
        off = autostart.disable()
        sys.stdout.write("".join(f"autostart disabled ({m.name}): removed {m.path}\n" for m in off)
                         or "autostart was already disabled\n")
    else:
        for m in autostart.methods(extra).values():
            sys.stdout.write(f"{m.name}: {'enabled' if m.is_enabled() else 'disabled'}  {m.path}\n")
    return 0
