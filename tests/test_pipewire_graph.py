"""The PipeWire graph watch's child process (pw-dump): ended with vcamd, started with no Python in between."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest
from conftest import ROOT

from vcamd.outputs import pipewire_graph

GET_PDEATHSIG = (
    "import ctypes, sys; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); print(s.value)"
)


@pytest.mark.skipif(not shutil.which("setpriv"), reason="util-linux's setpriv sets the signal")
def test_the_watch_dies_with_vcamd() -> None:
    """pw-dump gets SIGTERM when vcamd dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    argv = pipewire_graph._ended_with_vcamd([sys.executable, "-c", GET_PDEATHSIG])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    assert int(out) == signal.SIGTERM


def test_no_python_runs_between_fork_and_exec() -> None:
    """No ``preexec_fn`` in vcamd: Python code in a forked child of a threaded process may free an object
    whose native lock belonged to a thread the child does not have (PyAV's scaler did) and wait forever, and
    the thread that started the child with it: the worker that opened the PipeWire camera froze so."""
    users = [p.name for p in (ROOT / "vcamd").rglob("*.py") if "preexec_fn=" in p.read_text()]
    assert users == []
