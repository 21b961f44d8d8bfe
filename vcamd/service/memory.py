"""The C heap of a daemon that runs for days: few malloc arenas, big buffers given back when freed, and free
pages returned to the system now and then, so its resident memory stays flat.

Promises (glibc only; elsewhere, or where the glibc calls are missing, each call does nothing):
- ``limit_heap()``, called once before the daemon's threads start (``vcamd run`` does): at most ARENAS malloc
  arenas (glibc makes up to 8 per core, one for each thread that allocates, keeps each for good, and every
  camera reopen, background decoder and settings switch brings new threads), and blocks of MMAP_AT bytes or
  more (frames, pictures) mapped on their own, so freeing one gives it back at once (glibc otherwise raises
  that threshold to the largest block freed, and frame-sized blocks then stay in the arenas, fragmented),
  and up to TRIM_AT bytes of free space kept at the top of an arena, so the smaller blocks a frame's work
  makes and frees are not handed back and faulted in again on every frame (with glibc's 128 KiB, a 720p
  worker took 370 page faults a frame). A setting the user made with glibc's own variables
  (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) wins. Returns whether it
  changed anything.
- ``give_back()`` returns the free pages of every arena to the system (``malloc_trim(0)``) and says how
  long it took; the daemon's monitor calls it every TRIM_EVERY seconds.
"""

from __future__ import annotations

import ctypes
import os
import time

#: malloc arenas at most (glibc's default on this 2-core machine: 16).
ARENAS = 2
#: Blocks this large or larger get their own mapping (a 640x360 BGR frame is 0.7 MB).
MMAP_AT = 512 * 1024
#: Free space at the top of an arena kept for the next frame, not returned at once (``give_back`` still does).
TRIM_AT = 4 << 20  # 2 MiB already kept the faults away at 720p and 1080p
#: Seconds between two ``give_back()`` calls of the monitor.
TRIM_EVERY = 10.0

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    """The C library the process already has loaded (not ``ctypes.util.find_library``: it runs
    ``ldconfig -p``, a program vcamd must not start), if it is glibc's."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def limit_heap() -> bool:
    """Cap the arenas, map big blocks on their own, keep some free space (see the module's promises)."""
    if _LIBC is None:
        return False
    changed = False
    for var, param, value in (("MALLOC_ARENA_MAX", _M_ARENA_MAX, ARENAS),
                              ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, MMAP_AT),
                              ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, TRIM_AT)):
        if var not in os.environ and _LIBC.mallopt(param, value) == 1:
            changed = True
    return changed


def give_back() -> float:
    """Return the free pages of every arena to the system; the seconds it took (0.0 where unsupported)."""
    if _LIBC is None:
        return 0.0
    t0 = time.perf_counter()
    _LIBC.malloc_trim(0)
    return time.perf_counter() - t0
