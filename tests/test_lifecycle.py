"""Signals at any moment, the user's files kept as they are, one daemon per user, truncated inputs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import VIDEOS
from support import vcam_recorder
from support.stream_helpers import wait_for
from test_daemon import Setup, _recorder_status, make_setup

from vcamd import cli, config, files
from vcamd.service.instance import AlreadyRunning, InstanceLock

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals and modes")


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return make_setup(tmp_path)


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(vcam_recorder.sitecustomize_dir(tmp_path / "site")),
                VCAMD_RECORDER_DIR=str(tmp_path))


def _stop_and_time(proc: subprocess.Popen[str], sig: int) -> tuple[int, float, str]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - t0
    _, err = proc.communicate()
    return rc, took, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_start_up_exits_cleanly(setup: Setup, tmp_path: Path, sig: int) -> None:
    cmd = [sys.executable, "-m", "vcamd", "run", "-vv", "--no-tray", "--config", str(setup.config)]
    proc = subprocess.Popen(cmd, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    before = []
    for line in proc.stderr:  # the model is loaded right after this line
        before.append(line)
        if "starting the daemon" in line:
            break
    rc, took, err = _stop_and_time(proc, sig)
    assert rc == 0, "".join(before) + err
    assert took <= 2.0, f"exit took {took:.2f} s"
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_a_running_daemon_exits_cleanly_within_2s(
    setup: Setup, tmp_path: Path, sig: int
) -> None:
    cmd = [sys.executable, "-m", "vcamd", "run", "--no-tray", "--config", str(setup.config)]
    proc = subprocess.Popen(cmd, env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _recorder_status(tmp_path).get("count", 0) >= 10 or proc.poll() is not None,
                 timeout=60, what="frames from the daemon process")
    finally:
        rc, took, err = _stop_and_time(proc, sig)
    assert rc == 0, err
    assert took <= 2.0, f"exit took {took:.2f} s"
    assert _recorder_status(tmp_path)["closed"] and "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_process_leaves_no_partial_file_on_a_signal(tmp_path: Path, sig: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "vcamd", "process", str(VIDEOS / "volcomix_doctor.mp4"), "-o",
           str(out / "treated.mp4"), "--no-progress"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(p.stat().st_size > 0 for p in out.iterdir()) or proc.poll() is not None,
                 timeout=60, what="the partial output being written")
    finally:
        rc, _, err = _stop_and_time(proc, sig)
    assert rc == 128 + sig, err
    assert list(out.iterdir()) == []
    assert "Traceback" not in err


def test_a_truncated_video_is_named_with_how_much_was_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((VIDEOS / "volcomix_doctor.mp4").read_bytes()[:100_000])
    rc = cli.main(["process", str(cut), "-o", str(tmp_path / "out.mp4"), "--effect", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"{cut}: only 11 of 760 frames could be read" in err


# --- the user's files ----------------------------------------------------------------------------------


def test_writing_settings_keeps_a_symlink_and_the_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "vcamd.toml"
    target.write_text('# mine\n[effect]\nname = "blur"\n')
    target.chmod(0o600)
    link = tmp_path / "config" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(target)
    umasks: list[int] = []
    synced: list[int] = []
    real_umask, real_fsync = os.umask, os.fsync
    monkeypatch.setattr(os, "umask", lambda m: umasks.append(m) or real_umask(m))
    monkeypatch.setattr(
        os, "fsync", lambda fd: synced.append(stat.S_IFMT(os.fstat(fd).st_mode)) or real_fsync(fd)
    )

    config.update_file(link, {"effect.name": "color"})

    assert link.is_symlink() and link.resolve() == target
    assert 'name = "color"' in target.read_text() and "# mine" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert umasks == []  # never flipped process-wide (other threads create files meanwhile)
    assert stat.S_IFREG in synced and stat.S_IFDIR in synced  # the file, then its folder
    assert sorted(p.name for p in dotfiles.iterdir()) == ["vcamd.toml"]


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        files.atomic_write(tmp_path / "new.toml", "x = 1\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.toml").stat().st_mode) == 0o640


# --- one daemon per user -------------------------------------------------------------------------------


def test_one_daemon_per_user_whatever_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with InstanceLock():
        monkeypatch.delenv("XDG_RUNTIME_DIR")
        with pytest.raises(AlreadyRunning, match=rf"already running \(pid {os.getpid()}\)"):
            InstanceLock().acquire()
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        with pytest.raises(AlreadyRunning):
            InstanceLock().acquire()
    with InstanceLock():  # free again
        pass

