"""The daemon's heap policy (vcamd.service.memory), in fresh interpreters: it is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

PROBE = r"""
import json, sys
import numpy as np
from vcamd.service import memory

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

limited = memory.limit_heap() if sys.argv[1] == "limit" else False
grown = []
for _ in range(4):  # frame-sized buffers made and dropped, as camera frames and pictures are
    before = anon_mb()
    a = np.ones((1080, 1920, 4), np.uint8)
    del a
    grown.append(anon_mb() - before)
took = memory.give_back()
print(json.dumps({"limited": limited, "kept_mb": max(grown[1:]), "trim_s": took}))
"""


#: A worker thread making and dropping blocks below MMAP_AT, as a frame's work does (cv2's and numpy's
#: temporaries), counting the page faults of its own thread.
WORK_PROBE = r"""
import json, resource, sys, threading
import numpy as np
from vcamd.service import memory

limited = memory.limit_heap() if sys.argv[1] == "limit" else False
faults = []

def work():
    for _ in range(5):  # settle
        a = np.ones(300 * 1024, np.uint8); del a
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(50):
        a = np.ones(300 * 1024, np.uint8); b = np.ones(200 * 1024, np.uint8); del a, b
    faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)

t = threading.Thread(target=work); t.start(); t.join()
print(json.dumps({"limited": limited, "faults": faults[0]}))
"""


def probe(mode: str, code: str = PROBE, **env: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}, timeout=60)
    return json.loads(out.stdout)


def test_limit_heap_gives_frame_sized_buffers_back_when_freed() -> None:
    plain, limited = probe("plain"), probe("limit")
    assert plain["kept_mb"] > 6  # glibc alone keeps a freed 8 MB buffer in its heap after the first
    assert limited["limited"] is True and limited["kept_mb"] < 1
    assert 0.0 <= limited["trim_s"] < 1.0


def test_limit_heap_keeps_a_frames_small_blocks_without_faulting_them_in_again() -> None:
    # 50 rounds of two blocks: about one fault a round is numpy's own; the policy before TRIM_AT (a fixed
    # MMAP_AT beside glibc's 128 KiB trim threshold) faulted ~20 pages a round back in (975 here).
    limited = probe("limit", WORK_PROBE)
    assert limited["limited"] is True and limited["faults"] < 200, limited
    trimmed = probe("limit", WORK_PROBE, MALLOC_TRIM_THRESHOLD_=str(128 << 10))
    assert trimmed["faults"] > 500, trimmed  # the probe can fail


def test_the_users_own_malloc_settings_win() -> None:
    assert probe("limit", MALLOC_ARENA_MAX="4", MALLOC_MMAP_THRESHOLD_=str(64 << 20),
                 MALLOC_TRIM_THRESHOLD_=str(1 << 20))["limited"] is False
