"""The model runtimes: LiteRT (the default) gives MediaPipe Tasks' confidence, and vcamd stays offline and
quiet: no network, no helper programs, no files outside its own folders (traced with strace in a network
namespace with no network)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomlkit
from conftest import AISEGMENT
from support.stream_helpers import short_clip, wait_for

from vcamd.engine.segmenter import Segmenter

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("model", ["landscape", "general"])
def test_litert_gives_mediapipes_confidence(model: str) -> None:
    """Same model, same input: LiteRT's confidence equals MediaPipe Tasks' confidence_masks[-1]."""
    with Segmenter(model, video=False, runtime="litert") as lite, \
            Segmenter(model, video=False, runtime="mediapipe") as tasks:
        assert lite.input_size == tasks.input_size
        worst, agree = 0.0, []
        for path in AISEGMENT:
            image = cv2.imread(str(path))
            a, b = lite.segment(image).copy(), tasks.segment(image).copy()
            assert a.shape == (lite.input_size[1], lite.input_size[0]) and a.dtype == np.float32
            assert 0.05 < float((a >= 0.5).mean()) < 0.95  # a person was found, not an empty mask
            worst = max(worst, float(np.abs(a - b).max()))
            agree.append(float(((a >= 0.5) == (b >= 0.5)).mean()))
    assert worst < 1e-3, worst
    assert min(agree) > 0.999


def test_the_litert_runtime_never_imports_mediapipe() -> None:
    code = (
        "import sys, numpy as np\n"
        "from vcamd import cli, config\n"
        "from vcamd.engine.pipeline import Pipeline\n"
        "from vcamd.service.daemon import Daemon\n"
        "with Pipeline(config.Config()) as p:\n"
        "    p.process(np.zeros((360, 640, 3), np.uint8), 0.0)\n"
        "heavy = ('mediapipe', 'matplotlib', 'sounddevice')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout.strip() == "[]", r.stdout


# --- no phone home ---------------------------------------------------------------------------------------

TRACED = "connect,sendto,sendmsg,sendmmsg,execve,execveat,open,openat,creat,mkdir,mkdirat,rename,renameat2"
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
DEVICES_OK = ("/dev/null", "/dev/tty")
#: POSIX semaphores (sem_open, e.g. tqdm's multiprocessing lock): kernel objects, unlinked at once, no data.
SEMAPHORE = re.compile(r"^/dev/shm/sem\.[\w.]+$")


def _can_trace() -> str:
    if not sys.platform.startswith("linux"):
        return "Linux only"
    if not shutil.which("strace") or not shutil.which("unshare"):
        return "needs strace and unshare (scripts/install-test-deps.sh)"
    r = subprocess.run(["unshare", "-n", "strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=execve", "-o",
                        os.devnull, "true"], capture_output=True)
    return "" if r.returncode == 0 else (
        "unshare -n strace is not allowed here (needs root, or user namespaces and ptrace): "
        + r.stderr.decode(errors="replace").strip()[:200])


needs_trace = pytest.mark.skipif(bool(_can_trace()), reason=_can_trace() or "ok")


def _env(tmp: Path) -> dict[str, str]:
    """A private HOME and XDG folders, bytecode not written (that is Python's cache, not vcamd's)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
                "XDG_RUNTIME_DIR"):
        folder = tmp / "dirs" / var.lower()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[var] = str(folder)
    return env


def _vcamd_dirs(env: dict[str, str]) -> list[str]:
    """vcamd's config, cache and state folders and its lock's folder, as vcamd sees them in ``env``."""
    code = (
        "import platformdirs as p\nfrom vcamd.service import instance\n"
        "print('\\n'.join([p.user_config_dir('vcamd'), p.user_cache_dir('vcamd'), p.user_state_dir('vcamd'),"
        " str(instance.lock_path().parent)]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return [os.path.realpath(line) for line in r.stdout.split()]


def _traced(args: list[str], trace: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``python args`` in a network namespace with no network, under strace (following every thread)."""
    cmd = ["unshare", "-n", "strace", "-f", "-qq", "--seccomp-bpf", "-s", "256", "-e", f"trace={TRACED}",
           "-o", str(trace), sys.executable, *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _problems(trace: Path, allowed: list[str]) -> list[str]:
    """Lines of ``trace`` that phone home, start a program, or write outside ``allowed`` folders."""
    bad = []
    execs = 0
    allowed = [a.rstrip("/") + "/" for a in allowed]

    def outside(path: str) -> bool:
        real = os.path.realpath(path)
        if real in DEVICES_OK or SEMAPHORE.match(real):
            return False
        return not any((real + "/").startswith(a) for a in allowed)

    for line in trace.read_text().splitlines():
        call = re.sub(r"^\d+\s+", "", line)
        if "= -1" in call and not call.startswith(("connect", "send")):
            continue  # a failed open or mkdir wrote nothing
        name = call.split("(", 1)[0]
        if name in ("execve", "execveat"):
            execs += 1
            if execs > 1 or (sys.executable not in call and os.path.realpath(sys.executable) not in call):
                bad.append(line)
        elif name in ("connect", "sendto", "sendmsg", "sendmmsg"):
            if "AF_INET" in call or "AF_INET6" in call:  # AF_UNIX and AF_NETLINK (local) are fine
                bad.append(line)
        elif name in ("open", "openat", "creat"):
            m = re.search(r'"([^"]*)"', call)
            if m and (name == "creat" or any(f in call for f in WRITE_FLAGS)) and outside(m.group(1)):
                bad.append(line)
        elif name in ("mkdir", "mkdirat", "rename", "renameat2"):
            bad += [line for p in re.findall(r'"([^"]*)"', call) if outside(p)][:1]
    return bad


@needs_trace
def test_vcamd_process_stays_offline_and_quiet(tmp_path: Path) -> None:
    env = _env(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    trace = tmp_path / "process.trace"
    proc = _traced(["-m", "vcamd", "process", str(AISEGMENT[0]), "-o", str(out / "blurred.jpg"),
                    "--effect", "blur", "--no-progress"], trace, env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (out / "blurred.jpg").stat().st_size > 0
    assert _problems(trace, [*_vcamd_dirs(env), str(out)]) == []


@needs_trace
def test_the_trace_finds_mediapipes_probes(tmp_path: Path) -> None:
    """The check can fail: with segmentation.runtime = "mediapipe" the same command starts programs
    (ldconfig, gcc: what importing mediapipe does) and writes a font cache."""
    env = _env(tmp_path)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[segmentation]\nruntime = "mediapipe"\n', encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    trace = tmp_path / "process.trace"
    proc = _traced(["-m", "vcamd", "process", "--config", str(cfg), str(AISEGMENT[0]), "-o",
                    str(out / "blurred.jpg"), "--effect", "blur", "--no-progress"], trace, env)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    found = _problems(trace, [*_vcamd_dirs(env), str(out)])
    assert any("execve(" in line for line in found), found


@needs_trace
def test_vcamd_run_stays_offline_and_quiet(tmp_path: Path) -> None:
    """A short ``vcamd run --no-tray``: a video file as the camera, the recording virtual camera."""
    env = _env(tmp_path)
    record = tmp_path / "record"
    record.mkdir()
    env["VCAMD_RECORDER_DIR"] = str(record)
    clip = short_clip(tmp_path / "webcam.mp4")
    cfg = tmp_path / "config.toml"
    cfg.write_text(tomlkit.dumps({
        "camera": {"device": str(clip)},
        "output": {"backend": "recording"},
        "effect": {"name": "blur"},
        "daemon": {"pause_when_unused": False},
    }), encoding="utf-8")
    wrapper = (
        f"import sys; sys.path.insert(0, {str(TESTS / 'support')!r}); import vcam_recorder; "
        "vcam_recorder.register(); "
        "from vcamd import cli; sys.exit(cli.main(sys.argv[1:]))"
    )
    trace = tmp_path / "run.trace"
    proc = _traced(["-c", wrapper, "run", "--no-tray", "--config", str(cfg)], trace, env)
    status: dict[str, int] = {}

    def frames() -> int:
        with contextlib.suppress(OSError, ValueError):
            status.update(json.loads((record / "status.json").read_text()))
        return status.get("count", 0) if proc.poll() is None else 10**6

    try:
        wait_for(lambda: frames() >= 30, timeout=90, what="30 frames from the traced daemon")
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(status["pid"], signal.SIGTERM)  # the daemon itself, under strace
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.kill(status.get("pid", proc.pid), signal.SIGKILL)
            time.sleep(0.5)
            proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert _problems(trace, [*_vcamd_dirs(env), str(record)]) == []

