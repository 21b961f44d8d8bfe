"""What changes under a running daemon: the settings file, and which apps have the virtual camera open.

Promises:
- ``FileWatcher.changed()`` is True once per change of the file (edited, replaced, created or deleted), told
  by its stat, after the change has held still for ``settle`` seconds (so a half-written file is not read);
  ``mark()`` takes the file as it is now (after the daemon's own writes).
- ``readers_of(path)`` lists the other processes holding ``path`` open (Linux ``/proc/*/fd``).
- ``ReaderWatch.poll()`` says whether some other process reads the virtual camera: True as soon as one
  opens it, False once none has held it for ``grace`` seconds. On Linux inotify tells it when the device is
  opened or closed, so the full ``/proc`` scan runs every few seconds only, plus right after such events.
- So that a caller can sleep until something happens instead of polling, both watchers give ``fileno()``
  (their inotify, readable when there is news; None without inotify) and ``due(now)``, the seconds until
  they want to be looked at again even if nothing is heard: at most SLOW_LOOK with inotify (a safety net
  for missed events), ``settle`` for the file while a change is settling or where it cannot be watched.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Stamp = tuple[int, int, int] | None


#: Longest a watcher that inotify wakes goes without a look of its own.
SLOW_LOOK = 5.0
_IGNORED = 0x8000  # inotify's IN_IGNORED: the watch is gone
#: What, in the settings file's folder (and its target's, for a symlink), makes the file worth a look.
_DIR_EVENTS = ("CREATE", "DELETE", "MODIFY", "CLOSE_WRITE", "MOVED_TO", "MOVED_FROM", "ATTRIB", "DELETE_SELF",
               "MOVE_SELF")


class FileWatcher:
    """Notices changes of one file by its stat, looked at when inotify says its folder changed (or polled)."""

    def __init__(self, path: Path, settle: float = 0.25) -> None:
        self.path = Path(path)
        self.settle = settle
        self._ino: Any = None
        self._dirs: set[str] = set()
        self._watched_all = False
        self._arm()
        self._stamp = self._read()
        self._seen = self._stamp
        self._looked = time.monotonic()

    def _arm(self) -> None:
        """Watch the folders of the path and of its real target (again when that moved); ``_watched_all``
        says whether both are watched."""
        dirs = {os.path.dirname(os.path.abspath(self.path)), os.path.dirname(os.path.realpath(self.path))}
        if dirs == self._dirs and self._watched_all:
            return
        self.close()
        self._dirs, self._watched_all = dirs, False
        self._ino = _new_inotify()
        if self._ino is None:
            return
        from inotify_simple import flags

        mask = 0
        for name in _DIR_EVENTS:
            mask |= getattr(flags, name)
        watched = 0
        for d in dirs:
            try:
                self._ino.add_watch(d, mask)
                watched += 1
            except OSError:  # not there (yet): polled meanwhile
                continue
        self._watched_all = watched == len(dirs)

    def fileno(self) -> int | None:
        return self._ino.fileno() if self._ino is not None else None

    def due(self, now: float) -> float:
        """Seconds until ``changed()`` wants to be called even if inotify says nothing (module promises)."""
        wait = self.settle if self._seen != self._stamp or not self._watched_all else SLOW_LOOK
        return max(0.0, self._looked + wait - now)

    def _read(self) -> Stamp:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def changed(self) -> bool:
        """True if the file differs from the last ``changed()``/``mark()`` and held still ``settle`` s."""
        if self._ino is not None:
            events = self._ino.read(timeout=0)
            if any(e.mask & _IGNORED for e in events):  # a watched folder went away
                self._watched_all = False
        self._arm()
        now, t = self._read(), time.monotonic()
        if now == self._seen and now != self._stamp and t - self._looked < self.settle:
            return False  # woken early: the change has not held still long enough yet
        stable, self._seen, self._looked = now == self._seen, now, t
        if now != self._stamp and stable:
            self._stamp = now
            return True
        return False

    def mark(self) -> None:
        """Take the file as it is now as seen."""
        self._stamp = self._seen = self._read()

    def close(self) -> None:
        ino, self._ino = self._ino, None
        if ino is not None:
            ino.close()


def readers_of(path: str) -> list[int]:
    """Pids of the processes other than this one that have ``path`` open."""
    me = os.getpid()
    pids = []
    try:
        procs = list(os.scandir("/proc"))
    except OSError:
        return []
    for proc in procs:
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            fds = list(os.scandir(f"/proc/{proc.name}/fd"))
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                if os.readlink(fd.path) == path:
                    pids.append(int(proc.name))
                    break
            except PermissionError:  # another user's process: none of its fds will tell more
                break
            except OSError:  # closed meanwhile
                continue
    return pids


def _new_inotify() -> Any:
    """A new ``inotify_simple.INotify``, or None where there is none.

    inotify_simple finds the C library with ``ctypes.util.find_library``, which runs ``ldconfig -p``, a
    program vcamd must not start: it is handed the one this process already has instead.
    """
    try:
        import inotify_simple
    except ImportError:
        return None
    if getattr(inotify_simple, "_libc", None) is None:
        try:
            inotify_simple._libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            return None
    try:
        return inotify_simple.INotify()
    except (OSError, AttributeError):  # no inotify here
        return None


def _inotify(path: str) -> Any:
    """An inotify watching opens and closes of ``path``, or None where there is none."""
    ino = _new_inotify()
    if ino is None:
        return None
    from inotify_simple import flags

    try:
        ino.add_watch(path, flags.OPEN | flags.CLOSE_WRITE | flags.CLOSE_NOWRITE)
    except OSError as e:
        ino.close()
        log.debug("no inotify on %s (%s); polling /proc instead", path, e)
        return None
    return ino


class ReaderWatch:
    """Whether any other process reads the virtual camera device at ``path``."""

    FAST = 0.2  # seconds between scans just after the device was opened or closed, or while in grace
    SLOW_POLL = 0.5  # between scans when there is no inotify

    def __init__(self, path: str, *, grace: float = 1.0) -> None:
        self.path = os.path.realpath(path)
        self.grace = grace
        self.supported = os.path.isdir("/proc/self/fd") and os.path.exists(self.path)
        self._ino = _inotify(self.path) if self.supported else None
        self._next_scan = 0.0
        self._fast_until = 0.0
        self._empty_since: float | None = None
        self.in_use = bool(readers_of(self.path)) if self.supported else True

    def poll(self) -> bool:
        """Whether the device is read, without waiting: takes in what inotify heard, and scans if due."""
        if not self.supported:
            return True
        now = time.monotonic()
        if self._ino is not None and self._ino.read(timeout=0):
            self._fast_until = now + 1.5  # an opener's fd shows in /proc a moment after its open
            self._next_scan = now
        if now >= self._next_scan:
            self._scan(now)
        return self.in_use

    def fileno(self) -> int | None:
        return self._ino.fileno() if self._ino is not None else None

    def due(self, now: float) -> float:
        """Seconds until the next scan (module promises); never, where readers cannot be told."""
        return max(0.0, self._next_scan - now) if self.supported else float("inf")

    def _scan(self, now: float) -> None:
        if readers_of(self.path):
            self._empty_since = None
            self.in_use = True
        else:
            if self._empty_since is None:
                self._empty_since = now
            if now - self._empty_since >= self.grace:
                self.in_use = False
        in_grace = self.in_use and self._empty_since is not None
        if now < self._fast_until or in_grace:
            interval = self.FAST
        else:
            interval = SLOW_LOOK if self._ino is not None else self.SLOW_POLL
        self._next_scan = now + interval

    def close(self) -> None:
        if self._ino is not None:
            self._ino.close()
            self._ino = None
