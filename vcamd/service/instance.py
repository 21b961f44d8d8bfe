"""One daemon per user, whatever the environment it was started from.

Promises: ``InstanceLock().acquire()`` succeeds for the first daemon of a user and raises
:class:`AlreadyRunning` (one line with the running daemon's pid) for any other; the lock dies with its
process (the OS drops it), so a crash never leaves a stale lock behind.

On Linux the lock is an abstract Unix socket named after the user id (``vcamd-UID``): it is the same for a
daemon started from a login session, ssh, cron or a shell without ``$XDG_RUNTIME_DIR``, needs no file, and
its holder's pid comes from the kernel (``SO_PEERCRED``). ``VCAMD_INSTANCE`` adds a name to it, for the
rare deliberate second daemon (another camera) and for test runs side by side. Elsewhere the lock is an
exclusive lock on a file in the user's runtime (else state) folder. The pid is written to that file on
every system, for ``vcamd doctor``.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import warnings
from pathlib import Path
from types import TracebackType

import platformdirs

from vcamd.errors import VcamdError

LOCK_NAME = "vcamd.lock"
INSTANCE_ENV = "VCAMD_INSTANCE"
_WIN_LOCK_OFFSET = 1 << 20  # Windows locks byte ranges; lock one far past the pid so the pid stays readable


class AlreadyRunning(VcamdError):
    """Another daemon of this user holds the lock."""


def lock_path() -> Path:
    """The lock file: in the runtime dir (``$XDG_RUNTIME_DIR/vcamd``), else the user's state dir."""
    folders = [platformdirs.user_state_dir("vcamd")]
    if os.environ.get("XDG_RUNTIME_DIR") or not sys.platform.startswith("linux"):
        with warnings.catch_warnings():  # platformdirs warns about a runtime dir it does not like
            warnings.simplefilter("ignore")
            folders.insert(0, platformdirs.user_runtime_dir("vcamd"))
    for folder in folders:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        return Path(folder) / LOCK_NAME
    raise VcamdError("no writable runtime or state folder for the lock file; check XDG_RUNTIME_DIR and HOME")


def running_pid(path: Path | None = None) -> int | None:
    """The pid written by the daemon that holds (or last held) the lock, if any."""
    try:
        text = (path or lock_path()).read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def socket_name() -> str:
    """The abstract socket that is this user's lock on Linux (``"vcamd-UID"``, plus ``$VCAMD_INSTANCE``)."""
    extra = os.environ.get(INSTANCE_ENV, "")
    return f"vcamd-{os.getuid()}" + (f"-{extra}" if extra else "")


def _user_lock() -> socket.socket | None:
    """Hold this user's abstract socket; None if another process holds it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind("\0" + socket_name())
    except OSError:
        sock.close()
        return None
    sock.listen(8)
    sock.setblocking(False)
    return sock


def _holder_pid() -> int | None:
    """The pid of the process holding this user's abstract socket (from the kernel), if it answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect("\0" + socket_name())
            creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid = struct.unpack("3i", creds)[0]
    return pid or None


def _already_running(pid: int | None) -> AlreadyRunning:
    who = f"pid {pid}" if pid else "another process"
    return AlreadyRunning(
        f"vcamd is already running ({who}); quit it from its tray icon or stop it "
        f"(kill {pid or 'PID'}) before starting another"
    )


class InstanceLock:
    """The per-user daemon lock (see the module's promises)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or lock_path()
        self._fd: int | None = None
        self._sock: socket.socket | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if sys.platform.startswith("linux"):  # the user's socket is the lock; the file only holds the pid
            self._sock = _user_lock()
            if self._sock is None:
                os.close(fd)
                raise _already_running(_holder_pid())
        elif not _try_lock(fd):
            os.close(fd)
            raise _already_running(running_pid(self.path))
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the lock
        self._close_socket()

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
