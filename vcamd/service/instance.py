"""One daemon per user: an exclusive lock on a file in the user's runtime folder, holding the owner's pid.

Promises: ``InstanceLock().acquire()`` succeeds for the first daemon of a user and raises
:class:`AlreadyRunning` (one line with the running daemon's pid) for any other; the lock dies with its
process (the OS drops it), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from types import TracebackType

import platformdirs

from vcamd.errors import VcamdError

LOCK_NAME = "vcamd.lock"
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


class InstanceLock:
    """The per-user daemon lock (see the module's promises)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or lock_path()
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            pid = running_pid(self.path)
            who = f"pid {pid}" if pid else "another process"
            raise AlreadyRunning(
                f"vcamd is already running ({who}); quit it from its tray icon or stop it "
                f"(kill {pid or 'PID'}) before starting another"
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the lock

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
