"""The ``vcamd`` command: the parser built from the table of commands (:mod:`vcamd.commands`), each command
handed to the module that owns it.

Promises: ``--config`` and ``-v`` work before and after every command; a :class:`VcamdError` becomes one line
``vcamd: error: ...`` on stderr and exit status 2, never a traceback; a word that is not a command gets the
nearest ones ("did you mean"); bare ``vcamd`` (or ``vcamd --config X``) means ``vcamd run``. The exit
statuses are listed in ``--help``.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from vcamd import __version__
from vcamd.commands import COMMANDS
from vcamd.errors import Problems, Terminated, VcamdError


def _quiet_native_logs() -> None:
    """MediaPipe's C++ side logs to stderr at import; keep it to errors unless asked."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


EXIT_STATUSES = """exit status:
  0  done
  1  a failure (a check failed, the daemon is not running or did not take a change, a worker failed)
  2  bad input (a bad option, key, value or file: one line "vcamd: error: ..." on stderr)
  128+N  stopped by signal N (Ctrl-C: 130)"""


def _global_options(parser: argparse.ArgumentParser, *, after: bool) -> None:
    """--config and -v, before the command (``after=False``) and after it: a value given after wins, and
    ``-v`` counts in both places. Their defaults are set once, on the top parser, so a sub-parser never
    overwrites what was given before the command."""
    default: object = argparse.SUPPRESS if after else None
    parser.add_argument("--config", type=Path, default=default,
                        help="settings file (default: the user config dir)")
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if after else 0,
                        dest="verbose_after" if after else "verbose", help="more logging (-vv: debug)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, built from the table of commands. Only ``command``'s module is imported, to add
    its own options (no module for "", every module for None): the others' imports cost nothing."""
    p = argparse.ArgumentParser(
        prog="vcamd",
        description="Virtual camera with background blur/replacement for video calls. "
        "With no command, vcamd runs the daemon (vcamd run).",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(p, after=False)
    p.add_argument("--version", action="version", version=f"vcamd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, entry in COMMANDS.items():
        cp = sub.add_parser(name, help=entry.summary, description=entry.summary, epilog=EXIT_STATUSES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        _global_options(cp, after=True)
        if command is None or name == command:
            entry.load().add_arguments(cp)
    return p


def _with_command(argv: list[str]) -> tuple[list[str], str]:
    """``argv`` with ``run`` put first when it names no command (bare ``vcamd``, ``vcamd --config X``,
    ``vcamd --no-tray``), and the command ("" for the top level's --help and --version); a word that is
    not a command is refused with the nearest ones."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help", "--version"):
            return argv, ""
        if arg == "--config":
            i += 2
        elif arg.startswith("--config=") or arg == "--verbose" or set(arg) == {"-", "v"}:
            i += 1
        elif arg.startswith("-"):  # an option of run's
            return ["run", *argv], "run"
        elif arg in COMMANDS:
            return argv, arg
        else:
            near = difflib.get_close_matches(arg, COMMANDS, n=3)
            hint = f"; did you mean {' or '.join(near)}?" if near else f"; commands: {', '.join(COMMANDS)}"
            raise VcamdError(f"no command {arg!r}{hint} (vcamd --help lists them)")
    return ["run", *argv], "run"


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line as a Namespace: ``command``, ``config`` (the one given last), ``verbose`` (every
    ``-v``, before and after the command) and the command's own options. Bad options exit 2 (argparse)."""
    argv, command = _with_command(argv)
    args = build_parser(command).parse_args(argv)
    args.verbose += getattr(args, "verbose_after", 0)
    return args


def setup_logging(verbose: int) -> None:
    """Plain messages at INFO for commands; timestamps at -v and above."""
    level = logging.DEBUG if verbose >= 2 else logging.INFO
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


def terminate_on_signals() -> None:
    """SIGTERM and SIGHUP unwind the main thread like Ctrl-C does (partial files removed, devices released);
    ``vcamd run`` replaces this with a clean stop once the daemon is up."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_terminated)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vcamd`` command; returns the exit status (128 + N after signal N)."""
    terminate_on_signals()
    _quiet_native_logs()
    try:
        args = parse(list(sys.argv[1:] if argv is None else argv))
    except VcamdError as e:
        sys.stderr.write(f"vcamd: error: {e}\n")
        return 2
    setup_logging(args.verbose)
    try:
        return int(COMMANDS[args.command].load().main(args))
    except VcamdError as e:
        sys.stderr.write(f"vcamd: error: {e.report() if isinstance(e, Problems) else e}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except Terminated as e:
        return 128 + e.signum
