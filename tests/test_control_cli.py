"""Control without a tray: ``vcamd set / effect / next / pause / resume / status`` against a running daemon.

The daemon is ``vcamd run --no-tray`` in a subprocess (the carphone clip as its webcam, the real
pyvirtualcam.Camera into the recording backend); the commands are the real ``vcamd``, in a subprocess of
their own for the first ones and through ``cli.main`` in this process for the rest (for speed), reaching the
daemon through the settings file (its live reload) and its unix socket.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.daemon_process import DaemonProcess, running_daemon, write_config
from support.stream_helpers import wait_for

from vcamd import cli
from vcamd.commands.set import parse_value
from vcamd.service import cards
from vcamd.service.control_socket import socket_path

RELOAD_DEADLINE = 1.0  # README: a running daemon applies an edit within a second


def grey_share(frame: np.ndarray) -> float:
    return float(((frame[..., 0] == frame[..., 1]) & (frame[..., 1] == frame[..., 2])).mean())


def colour_share(frame: np.ndarray, bgr: tuple[int, int, int]) -> float:
    return float((np.abs(frame.astype(int) - np.array(bgr)).sum(axis=2) < 12).mean())


def seconds_until(d: DaemonProcess, test: Callable[[np.ndarray], bool], since: float,
                  timeout: float = 5.0) -> float:
    """Seconds from ``since`` (a time.time()) until a frame sent passed ``test`` (when it was sent)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sent = d.last_sent()
        if sent is not None and test(sent[0]):
            return sent[1] - since
        time.sleep(0.02)
    raise AssertionError("the frames never changed")


def lines_except(text: str, changed: set[str]) -> list[str]:
    """The file's lines but those that set one of the ``changed`` keys (``name = ...``)."""
    return [ln for ln in text.splitlines(keepends=True) if ln.split("=")[0].strip() not in changed]


def vcamd(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``vcamd ARGS`` in this process (the same entry point as the command, without a new interpreter).

    cli.main sets up logging on this test's stderr; the root logger's handlers are put back afterwards, so
    later tests do not log into a closed stream.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    capsys.readouterr()
    try:
        code = cli.main(list(args))
    finally:
        root.handlers[:], root.level = handlers, level
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def test_values_are_read_as_toml_else_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_value("effect.blur_strength", "60") == 60
    assert parse_value("effect.mirror", "true") is True
    assert parse_value("effect.interval", "2.5") == 2.5
    assert parse_value("effect.name", "desaturate") == "desaturate"
    assert parse_value("effect.name", '"blur"') == "blur"
    assert parse_value("effect.color", "#ff0000") == "#ff0000"  # a TOML comment, so: text
    assert parse_value("camera.device", "0") == "0"  # a text setting keeps the text as typed
    home = os.environ["HOME"]
    assert parse_value("effect.background", "~/b.jpg") == f"{home}/b.jpg"
    assert parse_value("effect.backgrounds_dir", "pics") == str(tmp_path / "pics")  # stored absolute
    assert parse_value("camera.device", "call.mp4") == "call.mp4"  # no such file here: a name
    (tmp_path / "call.mp4").touch()
    assert parse_value("camera.device", "call.mp4") == str(tmp_path / "call.mp4")


def test_commands_drive_the_running_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    with running_daemon(tmp_path, config) as d:
        sock = socket_path()
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and stat.S_ISSOCK(sock.stat().st_mode)

        r = d.vcamd("status")
        assert r.returncode == 0 and r.stdout.startswith("live · blur · "), r.stdout + r.stderr
        frame = d.last_frame()
        assert frame is not None and grey_share(frame) < 0.1  # blur keeps the colours

        # vcamd effect: the file changes in one line only, and the daemon's frames follow within a second
        before = config.read_text()
        r = d.vcamd("effect", "desaturate", "--config", str(config))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f'effect.name = "desaturate" (saved in {config}; applied)'
        took = seconds_until(d, lambda f: grey_share(f) > 0.3, config.stat().st_mtime)
        after = config.read_text()
        assert after.replace('name = "desaturate"  # what I like', 'name = "blur"  # what I like') == before
        with capsys.disabled():
            print(f"\nvcamd effect: desaturated frames {took:.2f} s after the file changed")
        assert took < RELOAD_DEADLINE

        # vcamd set: two keys at once; a text setting takes a colour as typed
        before = config.read_text()
        # (the global options before the command this time: vcamd --config FILE set ...)
        r = vcamd(capsys, "--config", str(config), "set", "effect.name", "color", "effect.color", "#ff0000")
        assert r.returncode == 0, r.stderr
        took = seconds_until(d, lambda f: colour_share(f, (0, 0, 255)) > 0.3, config.stat().st_mtime)
        assert took < RELOAD_DEADLINE
        after = config.read_text()
        assert lines_except(after, {"name", "color"}) == lines_except(before, {"name", "color"})
        assert 'name = "color"  # what I like\n' in after and 'color = "#ff0000"\n' in after

        # vcamd pause / resume: the privacy card, then the camera again; status says so
        r = vcamd(capsys, "pause")
        assert r.returncode == 0 and r.stdout.startswith("privacy · color"), r.stdout + r.stderr
        seconds_until(d, lambda f: colour_share(f, cards.BACKGROUND) > 0.5, time.time())
        assert vcamd(capsys, "--config", str(config), "-v", "status").stdout.startswith("privacy")
        assert "privacy = true" in config.read_text()
        r = vcamd(capsys, "resume")
        assert r.returncode == 0 and r.stdout.startswith("live · color"), r.stdout + r.stderr
        seconds_until(d, lambda f: colour_share(f, (0, 0, 255)) > 0.3, time.time())

        # vcamd next: the backgrounds folder's pictures in turn, as the tray's Next
        r = vcamd(capsys, "next")
        assert r.returncode == 0 and r.stdout.startswith("live · image"), r.stdout + r.stderr
        assert 'background = "' in config.read_text() and "a-office.jpg" in config.read_text()
        seconds_until(d, lambda f: colour_share(f, (0, 0, 255)) < 0.05, time.time())
        wait_for(lambda: d.last_frame() is not None, what="a frame")
        first = d.last_frame()
        assert first is not None
        vcamd(capsys, "next")
        assert "b-doctor.jpg" in config.read_text()
        seconds_until(d, lambda f: float(np.abs(f.astype(int) - first.astype(int)).mean()) > 20, time.time())
        # vcamd prev: back to the first picture (the tray's Previous)
        r = vcamd(capsys, "prev")
        assert r.returncode == 0 and r.stdout.startswith("live · image"), r.stdout + r.stderr
        assert "a-office.jpg" in config.read_text()
        seconds_until(d, lambda f: float(np.abs(f.astype(int) - first.astype(int)).mean()) < 10, time.time())

        # vcamd set output.*: while an app reads the camera its format stays, and set and status say so
        with open(tmp_path / "video10", "rb"):
            time.sleep(1.0)  # the daemon learns of the reader from inotify and /proc
            r = vcamd(capsys, "set", "output.width", "320", "--config", str(config))
            note = "176x144 until the call ends (then 320x262)"
            assert r.returncode == 0 and r.stdout.strip().endswith(f"applied; {note})"), r.stdout + r.stderr
            assert vcamd(capsys, "status").stdout.startswith(f"live · image · {note} · ")
            assert json.loads((d.folder / "status.json").read_text())["shape"] == [144, 176, 3]
        wait_for(lambda: json.loads((d.folder / "status.json").read_text())["shape"] == [262, 320, 3],
                 what="the new size once the app left")

        # bad key, bad value: one line, exit 2, the file untouched (byte for byte)
        before = config.read_bytes()
        bad = {("set", "effect.nme", "blur"):
               "unknown key effect.nme = 'blur' (did you mean effect.name?); effect takes: name",
               ("set", "effect.blur_strength", "500"): "effect.blur_strength = 500 is invalid",
               ("set", "output.width", "7680"): "output.width = 7680 is invalid: Input should be less than "
                                                 "or equal to 3840",
               ("set", "output.fps", "120"): "output.fps = 120 is invalid: Input should be less than or "
                                             "equal to 60",
               ("set", "effect.background", "~/gone.jpg"): f"{os.environ['HOME']}/gone.jpg: no such file",
               ("set", "nosuch.key", "1"): "unknown setting 'nosuch.key'; settings are SECTION.KEY, the file "
                                              "takes: camera, output, effect",
               ("effect", "plaid"): "effect.name = 'plaid' is invalid: Input should be 'blur'",
               ("set", "effect.name"): "vcamd set takes KEY VALUE pairs; 'effect.name' has no value"}
        for args, says in bad.items():
            r = vcamd(capsys, *args, "--config", str(config))
            assert r.returncode == 2, args
            assert r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
            assert r.stderr.startswith("vcamd: error: ") and says in r.stderr, r.stderr
            assert config.read_bytes() == before

        # set against another file than the daemon's: saved there, and it says which file the daemon reads
        other = tmp_path / "other.toml"
        r = vcamd(capsys, "set", "effect.mirror", "true", "--config", str(other))
        assert r.returncode == 1 and f"the running vcamd reads {config}" in r.stdout
        assert other.read_text() == "[effect]\nmirror = true\n"
    assert not socket_path().exists()  # removed at exit


def test_without_a_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """set still edits the file and says vcamd is not running; next / pause / resume / status: exit 1."""
    config = write_config(tmp_path)
    before = config.read_text()
    r = subprocess.run([sys.executable, "-m", "vcamd", "set", "effect.blur_strength", "90", "--config",
                        str(config)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"effect.blur_strength = 90 (saved in {config}); vcamd is not running: "
                                "it applies this when it starts")
    line = f'backgrounds_dir = "{tmp_path / "backgrounds"}"\n'
    assert config.read_text() == before.replace(line, f"{line}blur_strength = 90\n")  # one line added
    for cmd in ("next", "prev", "pause", "resume", "status"):
        r = vcamd(capsys, cmd)
        assert (r.returncode, r.stdout) == (1, ""), (cmd, r)
        assert r.stderr == "vcamd is not running (start it with: vcamd run)\n"
    socket_path().write_text("")  # a stale file where the socket was: still "not running"
    assert vcamd(capsys, "status").returncode == 1
