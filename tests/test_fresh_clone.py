"""A new user's first ``make run``, on a fresh clone in a temporary folder, on a desktop with PipeWire.

The clone is of this checkout's committed HEAD, with ``../shared`` beside it as in CI; pip's cache is the
real one (warm); the user is a private one (HOME, config, state, runtime dir) with a session D-Bus, pipewire
and wireplumber of its own and Xvfb's display. ``make run`` must build .venv, put PyGObject into it
(``vcamd setup --auto``) and start the daemon with a video file as the camera and the PipeWire output: a
GStreamer client run by the clone's own .venv python (so the venv imports ``gi`` and loads ``Gst``) reads
treated frames from the camera node. Nothing of it was installed beforehand.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest
from conftest import AISEGMENT, MODELS, ROOT, SHARED, VIDEOS, detail, gt_mask
from support.pipewire_session import PipeWireSession, missing_tools

from vcamd import __version__

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux desktop path"),
    pytest.mark.skipif(bool(missing_tools("Xvfb")), reason=f"not installed: {missing_tools('Xvfb')}"),
]

#: pip's cache as the user has it (the conftest gives each test a private HOME, which would make it cold).
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip")
CLIP = VIDEOS / "maxine_webcam_part1.mp4"
NAME = "VBG Camera"
COLOR = "#ff00ff"


def _end(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


@pytest.fixture
def root() -> Iterator[Path]:
    # Our own folder, not tmp_path: pytest runs of other checkouts on this machine prune /tmp/pytest-of-*.
    path = Path(tempfile.mkdtemp(prefix="vcamd-fresh-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def display() -> Iterator[str]:
    """An X display of our own (Xvfb), so that this is a desktop."""
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
def session(root: Path) -> Iterator[PipeWireSession]:
    s = PipeWireSession(root / "session")
    try:
        yield s
    finally:
        s.close()


def _clone(root: Path) -> Path:
    """``git clone`` of the committed HEAD, with ../shared beside it."""
    work = root / "work"
    work.mkdir()
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(work / "vcamd")], check=True,
                   timeout=120)
    (work / "shared").symlink_to(SHARED.resolve())
    return work / "vcamd"


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_make_run_on_a_fresh_clone_brings_up_the_pipewire_camera(
    root: Path, display: str, session: PipeWireSession
) -> None:
    t0 = time.monotonic()
    clone = _clone(root)
    config = root / "config.toml"
    config.write_text(f'[effect]\nname = "color"\ncolor = "{COLOR}"\n[output]\nbackend = "pipewire"\n'
                      f'name = "{NAME}"\n[daemon]\npause_when_unused = false\n')
    drop = ("VCAMD_MODEL_DIR", "VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {k: v for k, v in session.env.items() if k not in drop}
    env.update(DISPLAY=display, PIP_CACHE_DIR=PIP_CACHE)
    args = f"--no-tray --config {config} --camera {CLIP}"
    log = root / "make.log"
    with log.open("w") as out:
        make = subprocess.Popen(["make", "run", f"ARGS={args}"], cwd=clone, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = t0 + 300
        while not session.camera_nodes(NAME):
            assert make.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no PipeWire node within 300 s\n{log.read_text()}"
            time.sleep(0.5)
        up = time.monotonic() - t0
        [node] = session.camera_nodes(NAME)
        # the client runs in the clone's venv: there gi imports and Gst loads, with the pipewiresrc plugin
        consumer = [str(clone / ".venv" / "bin" / "python"),
                    str(clone / "tests" / "support" / "pipewire_consumer.py"), str(node), "3",
                    str(root / "frame.png"), COLOR]
        r = subprocess.run(consumer, env={**session.env, "DISPLAY": display}, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout.strip().splitlines()[-1])
        [daemon] = _children(make.pid)  # make runs `vcamd run` itself, no shell between
        os.kill(daemon, signal.SIGTERM)
        assert make.wait(30) == 0, log.read_text()
    finally:
        if make.poll() is None:
            for pid in _children(make.pid):
                os.kill(pid, signal.SIGKILL)
            _end(make)  # type: ignore[arg-type]
    text = log.read_text()
    print(f"fresh clone: git clone + make run to a PipeWire camera node in {up:.1f} s; client: {report}")
    assert report["frames"] >= 10 and report["first_live"] is not None, report  # treated frames arrived
    assert "installing PyGObject into" in text, text  # make run did it, not a hand or the test script
    assert "tray and PipeWire camera: missing" not in text, text
    assert "Traceback" not in text, text
    assert "Please be careful" not in text and "BuildBackendWarning" not in text, text  # no build noise


@dataclass
class Installed:
    """vcamd as a user gets it: the wheel ``python -m build`` made of a fresh clone, installed (not editable,
    no extras) into a fresh venv; the sdist beside it."""

    venv: Path
    wheel: Path
    sdist: Path
    env: dict[str, str]

    def vcamd(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "vcamd"), *args], env={**self.env, **env},
                              capture_output=True, text=True, timeout=120, cwd=self.venv)


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    root = Path(tempfile.mkdtemp(prefix="vcamd-wheel-"))
    try:
        clone = _clone(root)
        drop = ("VIRTUAL_ENV", "PYTHONPATH", "VCAMD_MODEL_DIR")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        home = root / "home"
        for sub in (".config", ".cache", ".state", "run"):
            (home / sub).mkdir(parents=True, mode=0o700)
        env.update(PIP_CACHE_DIR=PIP_CACHE, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_CACHE_HOME=str(home / ".cache"), XDG_STATE_HOME=str(home / ".state"),
                   XDG_RUNTIME_DIR=str(home / "run"), VCAMD_INSTANCE=root.name)
        dist = root / "dist"
        r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(clone)], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        [wheel], [sdist] = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
        venv = root / "venv"
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True, env=env, timeout=120)
        r = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        yield Installed(venv, wheel, sdist, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_built_wheel_works_in_a_fresh_venv(installed: Installed, tmp_path: Path) -> None:
    """The checks a new user's first minutes make, from the wheel alone (no checkout on its path)."""
    assert installed.wheel.name == f"vcamd-{__version__}-py3-none-any.whl"
    assert installed.sdist.name == f"vcamd-{__version__}.tar.gz"
    r = installed.vcamd("--version")
    assert (r.returncode, r.stdout) == (0, f"vcamd {__version__}\n"), r.stderr
    python = str(installed.venv / "bin" / "python")
    where = subprocess.run([python, "-c", "import vcamd; print(vcamd.__file__)"], capture_output=True,
                           text=True, env=installed.env, cwd=installed.venv, timeout=60)
    assert where.stdout.startswith(str(installed.venv)), where.stdout  # the installed copy, not a checkout

    r = installed.vcamd("doctor", VCAMD_MODEL_DIR=str(MODELS))
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr  # 1: no webcam here
    assert f"versions: vcamd {__version__}" in r.stdout, r.stdout
    assert f"ok    model auto: {MODELS}/selfie_segmentation_landscape.tflite" in r.stdout, r.stdout

    r = installed.vcamd("models", "path", VCAMD_MODEL_DIR=str(MODELS))
    assert r.returncode == 0 and r.stdout.split() == [str(MODELS / "selfie_segmentation_landscape.tflite"),
                                                      str(MODELS / "selfie_segmentation.tflite")], r
    with socket.socket() as s:  # offline: a port nobody listens on stands in for the model storage
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = installed.vcamd("models", "fetch", VCAMD_MODEL_BASE_URL=closed)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("vcamd: error: model 'landscape'") and "VCAMD_MODEL_DIR" in r.stderr, r.stderr

    out = tmp_path / "out.jpg"
    r = installed.vcamd("process", str(AISEGMENT[0]), "-o", str(out), "--effect", "blur", "--no-progress",
                        VCAMD_MODEL_DIR=str(MODELS))
    assert r.returncode == 0, r.stderr
    src, got = cv2.imread(str(AISEGMENT[0])), cv2.imread(str(out))
    assert got is not None and got.shape == src.shape
    person = gt_mask(AISEGMENT[0]) > 127
    assert detail(got, ~person) < 0.5 * detail(src, ~person)  # the background really blurred

    r = installed.vcamd("setup", "--help")
    assert r.returncode == 0 and "--auto" in r.stdout and "exit status:" in r.stdout
    # what it writes at run time comes from the installed package: the documented settings file
    r = installed.vcamd("config", "init", "--config", str(tmp_path / "c.toml"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.toml").read_text() == (ROOT / "config.example.toml").read_text()


def test_the_sdist_carries_the_docs_the_packaging_and_the_tests(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("README.md", "CHANGELOG.md", "config.example.toml", "docs/before-after.png",
                   "docs/performance.md", "docs/architecture.md", "packaging/linux/vcamd.service",
                   "packaging/linux/modprobe.d/vcamd-v4l2loopback.conf", "tests/test_cli.py",
                   "scripts/install-test-deps.sh", "vcamd/commands/__init__.py"):
        assert needed in names, needed
    assert not any(n.startswith(("tests/artifacts/", ".venv/")) or "__pycache__" in n for n in names)


def test_pip_install_then_doctor_names_pygobject_and_setup_puts_it_in(installed: Installed) -> None:
    """The wheel installed (not editable, no extras): the doctor names what the desktop path lacks with the
    fix, read from the installed metadata; ``vcamd setup`` then puts it in, and the doctor is content."""
    venv, env = installed.venv, installed.env
    vcamd = str(venv / "bin" / "vcamd")

    def doctor_line() -> list[str]:
        out = subprocess.run([vcamd, "doctor"], env=env, capture_output=True, text=True, timeout=60).stdout
        lines = out.splitlines()
        i = next(n for n, line in enumerate(lines) if "tray and PipeWire camera" in line)
        return lines[i: i + 2]

    line, fix = doctor_line()
    assert line == (f"FAIL  tray and PipeWire camera: missing PyGObject in {venv} (Python bindings for the "
                    "tray and the PipeWire camera)")
    assert fix == f"      fix: {venv}/bin/python3 -m pip install 'PyGObject<3.51,>=3.42'"
    r = subprocess.run([vcamd, "setup"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert doctor_line()[0].startswith("ok    tray and PipeWire camera:")
