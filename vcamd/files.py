"""Writing files whole or not at all.

Promise: inside ``with atomic_path(dest) as tmp`` the caller writes ``tmp`` (a new file beside ``dest``, same
extension); when the block ends normally ``tmp`` replaces ``dest`` in one rename, with the usual permissions
for a new file; if it raises, ``tmp`` is removed and ``dest`` is left as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """A temporary path that becomes ``dest`` if the block succeeds (see the module's promise)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a finished file gets the usual mode
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(dest: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
