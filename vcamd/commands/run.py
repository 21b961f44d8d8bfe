"""``vcamd run``: the daemon in the foreground, stopped by signals or the tray's Quit.

Promises: one daemon per user; SIGINT/SIGTERM/SIGHUP -> threads joined, camera and virtual camera released,
exit 0 within 2 s (a second signal exits at once), at any moment, start-up (model loading) included; the tray
runs on the main thread when enabled and able, and is wired to the daemon here, so the daemon knows nothing of
it; a tray that fails is logged and the daemon goes on without it. With no tray host at start (the hint is
logged once), a host that comes up within a minute (a panel starting at login after vcamd) still gets the
icon. The command socket (``vcamd next`` / ``pause`` / ``resume`` / ``status``) is wired here too. A daemon
whose worker failed beyond repair exits 1, never 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vcamd import config, effect_kinds
from vcamd.commands import setup
from vcamd.errors import Terminated, VcamdError
from vcamd.service import control_socket, memory
from vcamd.service.control_socket import ControlServer
from vcamd.service.daemon import Daemon
from vcamd.service.instance import InstanceLock

log = logging.getLogger(__name__)

TRAY_WAIT = 60.0  # seconds after the start in which a tray host that comes up later still gets the icon
TRAY_LOOK = 2.0  # seconds between two looks for it


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP call ``stop()`` at once, whatever the main thread is blocked in; a second exits.

    Python runs signal handlers on the main thread only when it gets back to bytecode, which a tray's native
    event loop may delay; the wakeup fd, read by a helper thread, does not wait for that.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = 0

    def handler(signum: int, frame: object) -> None:
        nonlocal received
        received += 1
        if received > 1:
            os._exit(128 + signum)
        log.info("%s: stopping", signal.Signals(signum).name)
        stop()

    sigs = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {s: signal.signal(s, handler) for s in sigs}
    rsock, wsock = socket.socketpair()
    wsock.setblocking(False)
    old_fd = signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)

    def relay() -> None:
        try:
            while rsock.recv(64):
                stop()
        except OSError:
            pass

    threading.Thread(target=relay, name="vcamd-signals", daemon=True).start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(old_fd)
        for s, h in previous.items():
            signal.signal(s, h)
        rsock.shutdown(socket.SHUT_RDWR)
        rsock.close()
        wsock.close()


def _tray(daemon: Daemon, quiet: bool = False) -> tuple[Any, bool]:
    """The tray for ``daemon`` or None (logged, unless ``quiet``), and whether a later look may find a host.

    A desktop's tray host may start after vcamd (both started at login), so "no tray host" is worth
    another look; other reasons (no display, no PyGObject) are not.
    """
    try:
        from vcamd.desktop.tray import Tray
        from vcamd.desktop.tray_host import NoTrayHost
    except ImportError as e:
        log.warning("no tray (%s); running without one", e)
        return None, False
    try:
        return Tray(daemon), False
    except NoTrayHost as e:
        if not quiet:
            log.warning("%s; running without a tray", e)
        return None, True
    except VcamdError as e:
        log.warning("%s; running without a tray", e)
        return None, False


def _wait_for_tray(daemon: Daemon) -> Any:
    """Look for a tray host every TRAY_LOOK seconds during the first TRAY_WAIT; the tray, or None."""
    deadline = time.monotonic() + TRAY_WAIT
    while time.monotonic() < deadline and not daemon.wait(TRAY_LOOK):
        tray, again = _tray(daemon, quiet=True)
        if tray is not None:
            log.info("a tray host has come up: showing the tray icon")
            return tray
        if not again:
            break
    return None


def _run_tray(tray: Any, daemon: Daemon) -> None:
    """Run the tray until Quit or stop; a tray that fails or ends by itself leaves the daemon running."""
    try:
        tray.run()
    except Exception:
        if daemon.wait(0):
            raise
        log.exception("the tray failed")
    if not daemon.wait(0):
        log.warning("the tray has gone; vcamd goes on without it (vcamd status, vcamd effect ...; "
                    "stop it: kill %d)", os.getpid())


def _command_socket(daemon: Daemon) -> ControlServer | None:
    """The running daemon's command socket, or None (logged) where it cannot listen."""
    if not control_socket.supported():  # Windows: the tray is the way
        return None
    server = ControlServer(daemon)
    try:
        server.start()
    except VcamdError as e:
        log.warning("%s", e)
        return None
    return server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-tray", action="store_true", help="no tray icon (headless and service use)")
    parser.add_argument("--stats", action="store_true", help="log fps and per-stage ms every 5 s")
    parser.add_argument("--camera", help="camera: index, /dev/videoN, or a video file/URL (overrides config)")
    parser.add_argument("--effect", choices=effect_kinds.NAMES,
                        help="effect to start with (overrides config)")
    parser.add_argument("--output-backend", help="auto, v4l2loopback, pipewire, none (vcamd preview only) or "
                        "a pyvirtualcam backend (overrides output.backend)")


def main(args: argparse.Namespace) -> int:
    """``vcamd run``: run until SIGINT/SIGTERM/SIGHUP or the tray's Quit; 0 on a clean stop.

    First of all it sets the heap policy of a daemon that runs for days (:func:`memory.limit_heap`).

    Before the daemon is up, cli.main's handlers turn SIGTERM/SIGHUP into :class:`Terminated`, which unwinds
    the start-up (releasing what it opened) to a clean exit here.
    """
    path = config.path_or_default(args.config)
    overrides = {
        key: value
        for key, value in (
            ("camera.device", getattr(args, "camera", None)),
            ("effect.name", getattr(args, "effect", None)),
            ("output.backend", getattr(args, "output_backend", None)),
        )
        if value
    }
    daemon: Daemon | None = None
    memory.limit_heap()  # before any thread allocates
    try:
        with InstanceLock():
            setup.on_start()
            log.debug("starting the daemon with the settings in %s", path)
            daemon = Daemon(path, overrides=overrides, log_stats=getattr(args, "stats", False))
            daemon.start()
            server = _command_socket(daemon)
            with stop_on_signals(daemon.stop):
                try:
                    _run_until_stopped(daemon, args)
                finally:
                    if server is not None:
                        server.close()
                    daemon.close()
    except Terminated as e:
        log.info("%s while starting: stopped", e)
        if daemon is not None:
            daemon.close()
        return 0
    if daemon.failure:
        log.error("stopped after a failure: %s", daemon.failure)
        return 1
    return 0


def _run_until_stopped(daemon: Daemon, args: argparse.Namespace) -> None:
    tray, again = None, False
    if daemon.settings().tray.enabled and not getattr(args, "no_tray", False):
        tray, again = _tray(daemon)
    if tray is None and again:
        tray = _wait_for_tray(daemon)
    if tray is not None:
        daemon.on_stop(tray.stop)
        _run_tray(tray, daemon)
    daemon.wait()  # the signal relay and the control socket call daemon.stop()
