"""The PipeWire graph watch's child process (pw-dump): ended with vcamd, started without a deadlock."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys

import pytest

from vcamd.outputs import pipewire_graph

GET_PDEATHSIG = (
    "import ctypes, sys; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); print(s.value)"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_child_dies_with_vcamd_and_loads_no_library_between_fork_and_exec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pw-dump gets SIGTERM when vcamd dies (PR_SET_PDEATHSIG), set by a function that loads nothing in the
    child: a library loaded between fork and exec waits forever when another thread held the loader's lock
    at the fork (it froze the worker that opened the PipeWire camera)."""
    end_with_parent = pipewire_graph._end_with_parent()
    assert end_with_parent is not None

    def no_loading(*args: object, **kw: object) -> None:
        raise AssertionError("a library loaded in the child")

    monkeypatch.setattr(ctypes, "CDLL", no_loading)
    r = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=end_with_parent, timeout=60)
    assert r.returncode == 0
    monkeypatch.undo()
    out = subprocess.run([sys.executable, "-c", GET_PDEATHSIG], preexec_fn=end_with_parent,
                         capture_output=True, text=True, timeout=60).stdout
    assert int(out) == signal.SIGTERM
