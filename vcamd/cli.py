"""The ``vcamd`` command: argparse sub-commands, each handed to the module that owns it.

Promises: a :class:`VcamdError` becomes one line ``vcamd: error: ...`` on stderr and exit status 2, never a
traceback; bare ``vcamd`` (or ``vcamd --config X``) means ``vcamd run``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from vcamd import __version__
from vcamd.config import EFFECTS
from vcamd.errors import Terminated, VcamdError

log = logging.getLogger("vcamd")

Handler = Callable[[argparse.Namespace], int]


def _quiet_native_logs() -> None:
    """MediaPipe's C++ side logs to stderr at import; keep it to errors unless asked."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _lazy(module: str, func: str = "main") -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), func)(args) or 0)

    return handler


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the tests and the README)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="settings file (default: the user config dir)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")

    p = argparse.ArgumentParser(
        prog="vcamd",
        description="Virtual camera with background blur/replacement for video calls.",
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"vcamd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the daemon: webcam -> virtual camera (default)")
    run.add_argument("--no-tray", action="store_true", help="no tray icon (headless and service use)")
    run.add_argument("--stats", action="store_true", help="log fps and per-stage ms every 5 s")
    run.add_argument("--camera", help="camera: index, /dev/videoN, or a video file/URL (overrides config)")
    run.add_argument("--effect", choices=EFFECTS, help="effect to start with (overrides config)")
    run.add_argument("--output-backend",
                     help="auto, v4l2loopback, pipewire, none (vcamd preview only) or a pyvirtualcam backend "
                          "(overrides output.backend)")
    run.set_defaults(handler=_lazy("vcamd.commands.run"))

    proc = sub.add_parser("process", parents=[common], help="apply an effect to image or video files")
    proc.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="images or videos")
    proc.add_argument("-o", "--output", type=Path, required=True, help="output file, or folder for several")
    proc.add_argument("--effect", choices=EFFECTS, help="default: from --background, else the config's")
    proc.add_argument("--background", help="image, video or folder for image/video/slideshow")
    proc.add_argument("--color", help="colour for color/mask, #rrggbb")
    proc.add_argument("--blur-strength", type=int, help="1..100")
    proc.add_argument("--mirror", action="store_true", help="flip left-right")
    proc.add_argument("--model", help="auto (by the picture's shape), landscape, general, or a .tflite path")
    proc.add_argument("--no-progress", action="store_true", help="no progress bar")
    proc.set_defaults(handler=_lazy("vcamd.commands.process"))

    bench = sub.add_parser("bench", parents=[common], help="time vcamd against the naive pipeline")
    bench.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    bench.add_argument("--effect", choices=EFFECTS, default="blur")
    bench.add_argument("--frames", type=int, default=200)
    bench.add_argument("--model", default="auto")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(handler=_lazy("vcamd.commands.bench"))

    dev = sub.add_parser("devices", parents=[common], help="list cameras and virtual cameras")
    dev.set_defaults(handler=_lazy("vcamd.commands.doctor", "devices_main"))

    doc = sub.add_parser("doctor", parents=[common], help="check the set-up and print a fix for each problem")
    doc.set_defaults(handler=_lazy("vcamd.commands.doctor"))

    setup = sub.add_parser("setup", parents=[common],
                           help="Linux desktop: install what the tray and the PipeWire camera need")
    setup.add_argument("--auto", action="store_true", help="only on a desktop, quietly (make run uses it)")
    setup.add_argument("--yes", action="store_true", help="run the package manager with sudo without asking")
    setup.set_defaults(handler=_lazy("vcamd.commands.setup"))

    cfg = sub.add_parser("config", parents=[common], help="the settings file: init, path, check, show")
    cfg.add_argument("action", choices=["init", "path", "check", "show"])
    cfg.add_argument("--force", action="store_true", help="init: overwrite an existing file")
    cfg.set_defaults(handler=_lazy("vcamd.commands.config"))

    auto = sub.add_parser("autostart", parents=[common], help="start at login: enable, disable, status")
    auto.add_argument("action", choices=["enable", "disable", "status"])
    auto.add_argument("--systemd", action="store_true", help="Linux: a systemd user unit, not XDG autostart")
    auto.set_defaults(handler=_lazy("vcamd.desktop.autostart", "cli_main"))

    ctl = "vcamd.commands.control"
    st = sub.add_parser("set", parents=[common], help="change settings; a running vcamd applies them")
    st.add_argument("pairs", nargs="+", metavar="KEY VALUE", help="e.g. effect.name desaturate")
    st.set_defaults(handler=_lazy(ctl, "set_main"))
    eff = sub.add_parser("effect", parents=[common], help="switch effect (blur, image, desaturate, ...)")
    eff.add_argument("name", help=", ".join(EFFECTS))  # checked as the file is: one line if bad
    eff.set_defaults(handler=_lazy(ctl, "effect_main"))
    for name, text in (("next", "the next background picture"), ("pause", "camera paused (privacy on)"),
                       ("resume", "camera back on (privacy off)")):
        sub.add_parser(name, parents=[common], help=f"running vcamd: {text}").set_defaults(
            handler=_lazy(ctl, "daemon_main"))
    stat = sub.add_parser("status", parents=[common], help="running vcamd: its status line")
    stat.add_argument("--json", action="store_true", help="all of its status as one JSON object")
    stat.set_defaults(handler=_lazy(ctl, "status_main"))

    from vcamd.commands import preview  # its own arguments; imports nothing heavy

    prev = sub.add_parser("preview", parents=[common], help="a window showing what apps receive, live")
    preview.add_arguments(prev)
    prev.set_defaults(handler=_lazy("vcamd.commands.preview"))

    mod = sub.add_parser("models", parents=[common], help="segmentation models: list, path, fetch")
    mod.add_argument("action", choices=["list", "path", "fetch"])
    mod.add_argument("name", nargs="?", default="auto", help="auto (both built-in models), a name, or a path")
    mod.set_defaults(handler=_models)
    return p


def _models(args: argparse.Namespace) -> int:
    from vcamd.engine import models

    if args.action == "list":
        for name, info in models.MODELS.items():
            found = models.find(name)
            w, h = info.input_size
            log.info("%-10s %dx%d  %s", name, w, h, found or "not downloaded")
        return 0
    names = list(models.MODELS) if args.name == models.AUTO else [args.name]
    for name in names:
        sys.stdout.write(f"{models.resolve(name, allow_download=args.action == 'fetch')}\n")
    return 0


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
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")):
        args_list.insert(0, "run")
    parser = build_parser()
    args = parser.parse_args(args_list)
    setup_logging(args.verbose)
    try:
        return int(args.handler(args))
    except VcamdError as e:
        sys.stderr.write(f"vcamd: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except Terminated as e:
        return 128 + e.signum
