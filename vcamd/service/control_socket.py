"""The running daemon's command socket: ``vcamd next`` / ``prev`` / ``pause`` / ``resume`` / ``status`` reach
it here.

Promises:
- :class:`ControlServer` listens on a unix socket in the user's runtime folder (:func:`socket_path`, beside
  the instance lock), created with mode 0600, so only the same user can connect; on Linux it also checks
  the caller's uid (``SO_PEERCRED``). No TCP port. Its thread is a daemon thread whose loop is guarded: an
  unexpected error is logged and the server goes on. It sleeps until a client connects or ``close()``
  wakes it; ``close()`` stops it within half a second and removes the socket (only if it is still its own).
- It drives the daemon only through :class:`~vcamd.service.control.Control`.
- The protocol is one JSON line each way per connection. Requests: ``{"cmd": "status"}``, ``{"cmd":
  "next"}``, ``{"cmd": "prev"}``, ``{"cmd": "pause"}``, ``{"cmd": "resume"}``, ``{"cmd": "get", "keys":
  ["effect.name"]}``.
  Replies: ``{"ok": true, "line": STATUS_LINE, "status": {...}, "config": PATH}`` (``"values"`` too for
  ``get``), or ``{"ok": false, "error": ONE_LINE}``.
- ``{"cmd": "preview", "width": W}`` keeps the connection: after the reply, every frame the daemon sends
  (:meth:`~vcamd.service.control.Control.watch`, at most W wide) comes as one JSON line ``{"width", "height",
  "state", "effect", "message", "fps", "cpu"}`` (status refreshed every :data:`STATUS_EVERY` s) and then
  width x height x 4 bytes (B, G, R, 255). While connected the client counts as an app reading the camera;
  the stream ends when the client closes its end (noticed within :data:`STREAM_LOOK` s), stops reading for
  :data:`CLIENT_TIMEOUT` s, or the daemon stops.
- :func:`request` is the client: it returns the reply, raises :class:`NotRunning` (one line) when no daemon
  listens, and :class:`~vcamd.errors.VcamdError` with the daemon's one line when it refuses. :func:`connect`
  is the same for a request that keeps the connection (``preview``): the socket, its reader and the reply.
"""

from __future__ import annotations

import io
import json
import logging
import os
import select
import selectors
import socket
import socketserver
import struct
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcamd import config
from vcamd.errors import VcamdError
from vcamd.service import control as ctl
from vcamd.service.control import Control
from vcamd.service.instance import lock_path

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024
CLIENT_TIMEOUT = 5.0
#: The background-stepping requests and how far each steps.
STEPS = {"next": 1, "prev": -1}
STATUS_EVERY = 1.0  # seconds between two looks at the status for a preview's frame headers
STREAM_LOOK = 0.5  # longest a preview stream waits for a frame before it looks whether the client has gone


class NotRunning(VcamdError):
    """No daemon answers on the socket."""


def socket_path() -> Path:
    """Where the running daemon listens: ``$XDG_RUNTIME_DIR/vcamd/control.sock`` (else the state dir)."""
    return lock_path().with_name(SOCKET_NAME)


def supported() -> bool:
    """Unix sockets exist here (not on Windows' Python)."""
    return hasattr(socket, "AF_UNIX")


def _gone(conn: socket.socket) -> bool:
    """Whether the client closed its end (it sends nothing after its request)."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return not conn.recv(4096, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True


def _peer_uid(conn: socket.socket) -> int | None:
    """The connecting process's uid (Linux), or None where the OS does not tell."""
    if not sys.platform.startswith("linux"):
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def answer(control: Control, request: dict[str, Any]) -> dict[str, Any]:
    """The reply to one request (see the module's promises); a VcamdError becomes ``{"ok": false, ...}``."""
    cmd = request.get("cmd")
    try:
        reply: dict[str, Any] = {}
        if cmd in STEPS:
            ctl.step_background(control, STEPS[cmd])
        elif cmd in ("pause", "resume"):
            control.apply({"daemon.privacy": cmd == "pause"})
        elif cmd == "get":
            keys = request.get("keys") or []
            try:
                reply["values"] = {k: config.get(control.settings(), str(k)) for k in keys}
            except AttributeError:
                raise VcamdError(f"unknown setting among {', '.join(map(str, keys))}") from None
        elif cmd != "status":
            raise VcamdError(f"unknown command {cmd!r}; this daemon knows status, {', '.join(STEPS)}, pause, "
                             "resume, get, preview")
        status = control.status()
        reply.update(ok=True, line=status.line(), status=asdict(status),
                     config=str(control.settings_path().absolute()))
        return reply
    except VcamdError as e:
        return {"ok": False, "error": str(e)}


class _Handler(socketserver.StreamRequestHandler):
    timeout = CLIENT_TIMEOUT  # a client that connects and says nothing does not hold a thread for long

    def handle(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        uid = _peer_uid(self.connection)
        if uid is not None and uid != os.getuid():
            log.warning("control socket: refused a connection from uid %d", uid)
            return
        try:
            line = self.rfile.readline(MAX_REQUEST)
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as e:
            reply = {"ok": False, "error": f"bad request ({e}); send one JSON object on one line"}
        else:
            if request.get("cmd") == "preview":
                self._stream(server.control, request)
                return
            reply = answer(server.control, request)
        self.wfile.write(json.dumps(reply).encode("utf-8") + b"\n")

    def _stream(self, control: Control, request: dict[str, Any]) -> None:
        """Send the frames of a feed until the client or the daemon ends it (see the module's promises)."""
        try:
            from vcamd.service.feed import DEFAULT_WIDTH  # numpy and OpenCV: only for a preview

            width = int(request.get("width") or DEFAULT_WIDTH)
        except (TypeError, ValueError):
            self.wfile.write(b'{"ok": false, "error": "preview: width must be a number of pixels"}\n')
            return
        feed = control.watch(width)
        conn = self.connection
        try:
            conn.sendall(json.dumps(answer(control, {"cmd": "status"})).encode("utf-8") + b"\n")
            status, looked = control.status(), time.monotonic()
            frame: np.ndarray | None = None  # the buffer each frame is copied into
            while not feed.closed and not _gone(conn):
                taken = feed.take(STREAM_LOOK, frame)
                if taken is None:
                    continue
                frame = taken
                if time.monotonic() - looked >= STATUS_EVERY:
                    status, looked = control.status(), time.monotonic()
                h, w = frame.shape[:2]
                head = {"width": w, "height": h, "state": status.state.value, "effect": status.effect,
                        "message": status.message, "fps": round(status.fps_out, 1),
                        "cpu": round(status.cpu_percent, 1)}
                conn.sendall(json.dumps(head).encode("utf-8") + b"\n")
                conn.sendall(frame.data.cast("B"))
        except OSError as e:  # the client went away mid-frame, or stopped reading
            log.debug("control socket: a preview ended: %s", e)
        finally:
            feed.close()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: Path, control: Control) -> None:
        self.control = control
        self.inode = 0
        super().__init__(str(path), _Handler)

    def server_bind(self) -> None:
        """Bind under a temporary name, make it 0600, then move it into place (replacing a stale one)."""
        final = Path(str(self.server_address))
        tmp = final.with_name(f".{final.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        self.socket.bind(str(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, final)
        self.inode = final.stat().st_ino
        self.server_address = str(final)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("control socket: a request failed (the server goes on)")


class ControlServer:
    """The daemon's end of the command socket (see the module's promises)."""

    def __init__(self, control: Control, path: Path | None = None) -> None:
        self.path = path or socket_path()
        self._control = control
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()

    def start(self) -> None:
        """Listen; raises VcamdError (one line) if the socket cannot be made."""
        if not supported():
            raise VcamdError("no command socket on this system (no unix sockets): use the tray")
        try:
            self._server = _Server(self.path, self._control)
        except OSError as e:
            raise VcamdError(f"cannot listen on {self.path} ({e.strerror or e}); vcamd next/pause/status "
                             "will not reach this daemon") from None
        self._thread = threading.Thread(target=self._serve, name="vcamd-control", daemon=True)
        self._thread.start()
        log.debug("control socket: %s", self.path)

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        server.timeout = 0.0  # handle_request() is called only when a client is waiting
        with selectors.DefaultSelector() as sel:
            sel.register(server, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._closing.is_set():
                try:
                    for key, _ in sel.select():
                        if key.fileobj is server:
                            server.handle_request()
                except Exception:
                    log.exception("control socket: the server loop failed; going on")
                    self._closing.wait(1.0)

    def close(self) -> None:
        """Stop listening and remove the socket (if it is still the one this server made)."""
        self._closing.set()
        self._wake_w.close()  # wakes the loop: the read end sees the end of the stream
        server, self._server = self._server, None
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._thread is None or not self._thread.is_alive():
            self._wake_r.close()
        if server is None:
            return
        server.server_close()
        try:
            if self.path.stat().st_ino == server.inode:
                self.path.unlink()
        except OSError:
            pass

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    cmd: str, path: Path | None = None, timeout: float = CLIENT_TIMEOUT, **args: Any
) -> tuple[socket.socket, io.BufferedReader, dict[str, Any]]:
    """Send one request to the running daemon: the open socket, a reader of it (both the caller's to close)
    and the daemon's reply (see the module's promises)."""
    p = path or socket_path()
    if not supported():
        raise VcamdError(f"vcamd {cmd} needs unix sockets, which this system lacks; use the tray")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(str(p))
        s.sendall(json.dumps({"cmd": cmd, **args}).encode("utf-8") + b"\n")
        f = s.makefile("rb")
        line = f.readline(MAX_REQUEST)
    except (FileNotFoundError, ConnectionRefusedError):
        s.close()
        raise NotRunning("vcamd is not running (start it with: vcamd run)") from None
    except OSError as e:  # a timeout, or a socket we may not use
        s.close()
        raise VcamdError(f"the running vcamd did not answer on {p} ({e}); vcamd doctor checks it") from None
    try:
        reply = json.loads(line)
    except ValueError:
        reply = {"ok": False, "error": f"the running vcamd gave no answer on {p}; restart it"}
    if not reply.get("ok"):
        f.close()
        s.close()
        raise VcamdError(str(reply.get("error") or "the running vcamd refused the request"))
    return s, f, dict(reply)


def request(
    cmd: str, path: Path | None = None, timeout: float = CLIENT_TIMEOUT, **args: Any
) -> dict[str, Any]:
    """Send one request to the running daemon and return its reply (see the module's promises)."""
    s, f, reply = connect(cmd, path, timeout, **args)
    f.close()
    s.close()
    return reply
