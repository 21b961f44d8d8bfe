"""``vcamd run``: the daemon in the foreground, stopped by signals or the tray's Quit.

Promises: one daemon per user; SIGINT/SIGTERM/SIGHUP -> threads joined, camera and virtual camera released,
exit 0 within 2 s (a second signal exits at once), at any moment, start-up (model loading) included; the tray
runs on the main thread when enabled and able, and is wired to the daemon here, so the daemon knows nothing of
it. A daemon whose worker failed beyond repair exits 1, never 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vcamd import config
from vcamd.errors import Terminated, VcamdError
from vcamd.service.daemon import Daemon
from vcamd.service.instance import InstanceLock

log = logging.getLogger(__name__)


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


def _tray(daemon: Daemon) -> Any:
    """The tray for ``daemon``, or None (logged) where none can be shown."""
    try:
        from vcamd.desktop.tray import Tray
    except ImportError as e:
        log.warning("no tray (%s); running without one", e)
        return None
    try:
        return Tray(daemon)
    except VcamdError as e:
        log.warning("%s; running without a tray", e)
        return None


def main(args: argparse.Namespace) -> int:
    """``vcamd run``: run until SIGINT/SIGTERM/SIGHUP or the tray's Quit; 0 on a clean stop.

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
    try:
        with InstanceLock():
            log.debug("starting the daemon with the settings in %s", path)
            daemon = Daemon(path, overrides=overrides, log_stats=getattr(args, "stats", False))
            daemon.start()
            with stop_on_signals(daemon.stop):
                try:
                    _run_until_stopped(daemon, args)
                finally:
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
    tray = None
    if daemon.settings().tray.enabled and not getattr(args, "no_tray", False):
        tray = _tray(daemon)
    if tray is not None:
        daemon.on_stop(tray.stop)
        tray.run()
        if not daemon.wait(0):
            log.warning("the tray icon ended; the daemon goes on without it (stop it with SIGTERM)")
    while not daemon.wait(1.0):
        pass
