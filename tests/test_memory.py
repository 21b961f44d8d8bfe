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


def probe(mode: str, **env: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}, timeout=60)
    return json.loads(out.stdout)


def test_limit_heap_gives_frame_sized_buffers_back_when_freed() -> None:
    plain, limited = probe("plain"), probe("limit")
    assert plain["kept_mb"] > 6  # glibc alone keeps a freed 8 MB buffer in its heap after the first
    assert limited["limited"] is True and limited["kept_mb"] < 1
    assert 0.0 <= limited["trim_s"] < 1.0


def test_the_users_own_malloc_settings_win() -> None:
    assert probe("limit", MALLOC_ARENA_MAX="4", MALLOC_MMAP_THRESHOLD_=str(64 << 20))["limited"] is False
