"""Writing files whole or not at all, keeping what the user's file is.

Promise: inside ``with atomic_path(dest) as tmp`` the caller writes ``tmp`` (a new file beside ``dest``, same
extension); when the block ends normally ``tmp`` is flushed to disk (fsync) and replaces ``dest`` in one
rename, then the folder is fsynced, so a crash or power cut leaves the old file or the new one, never half.
If the block raises, ``tmp`` is removed and ``dest`` is left as it was.

What the file is stays: a symlink stays a symlink (the write goes through to its target), an existing file
keeps its permission bits (0600 stays 0600), a new file gets the usual mode for the process's umask. The
umask is never changed (it is process-wide: another thread may be creating files meanwhile).
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _new_file(folder: Path, stem: str, suffix: str) -> Path:
    """Create an empty, not yet existing file in ``folder``; the kernel applies the umask to 0666."""
    for _ in range(100):
        path = folder / f".{stem}.{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"{folder}: no free temporary name")


def _fsync(path: Path, directory: bool = False) -> None:
    if directory and sys.platform == "win32":
        return  # folders cannot be opened for fsync there; NTFS journals the rename
    fd = os.open(path, (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if directory else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """A temporary path that becomes ``dest`` if the block succeeds (see the module's promise)."""
    dest = Path(dest)
    if dest.is_symlink():
        dest = Path(os.path.realpath(dest))  # write the link's target, keep the link
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(dest.stat().st_mode)
    except OSError:
        mode = None
    tmp = _new_file(dest.parent, dest.stem, dest.suffix)
    try:
        yield tmp
        if mode is not None:
            os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(dest.parent, directory=True)


def atomic_write(dest: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
