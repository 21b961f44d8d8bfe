"""The tray: real pystray (gtk backend) on Xvfb, docked in a real tray host (trayer), clicked with xdotool.

Screenshots land in tests/artifacts/ for a person to look at. The menu logic is also driven through
pystray's own menu objects, and error cases through a fresh process each.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import daemon_harness as harness
import numpy as np
import pytest
from conftest import VIDEOS
from PIL import Image, ImageGrab
from support import vcam_recorder
from support.daemon_process import write_config

from vcamd.desktop import autostart, icons
from vcamd.desktop.tray import Tray, open_command
from vcamd.desktop.tray_host import TrayUnavailable
from vcamd.engine import effects
from vcamd.service.control import State, Status
from vcamd.service.daemon import Daemon

STATUS_LINE = re.compile(r"live · blur · \d+\.\d fps · \d+\.\d ms · \d+ % CPU")


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A settings file with comments for a daemon (a small video file as the webcam, a recording virtual
    camera), and a backgrounds folder of two real photos."""
    return write_config(tmp_path)


@pytest.fixture
def daemon(config_file: Path) -> Iterator[Daemon]:
    """The real daemon on ``config_file``, live (sending treated frames), closed after the test."""
    vcam_recorder.register()
    d = Daemon(config_file)
    d.start()
    try:
        _wait("the daemon to go live", lambda: d.status().state is State.LIVE, timeout=20)
        yield d
    finally:
        d.close()


# --- an X desktop: Xvfb + session D-Bus + trayer -------------------------------------------------------


@dataclass
class Desktop:
    display: str
    panel_id: str = ""  # trayer's panel window

    def run(self, *cmd: str) -> str:
        env = {**os.environ, "DISPLAY": self.display}
        return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=20).stdout

    def screenshot(self) -> Image.Image:
        return ImageGrab.grab(xdisplay=self.display).convert("RGB")

    def panel(self) -> tuple[int, int, int, int]:
        """x, y, width, height of trayer's panel."""
        shell = self.run("xdotool", "getwindowgeometry", "--shell", self.panel_id)
        geo = dict(line.split("=") for line in shell.split())
        return int(geo["X"]), int(geo["Y"]), int(geo["WIDTH"]), int(geo["HEIGHT"])

    def open_menu(self) -> None:
        """Right-click the docked icon and wait for its menu to show."""
        x, y, w, h = self.panel()
        before = self.screenshot()
        self.run("xdotool", "mousemove", str(x + w - h // 2), str(y + h // 2), "click", "3")
        _wait("the menu to open", lambda: _changed_pixels(self.screenshot(), before) > 20000)

    def icon_pixels(self, state: State) -> int:
        """How many pixels of the tray panel have the icon colour of ``state``."""
        x, y, w, h = self.panel()
        img = np.asarray(self.screenshot().crop((x, y, x + w, y + h))).astype(int)
        return int((np.abs(img - np.array(icons.COLORS[state])).sum(axis=2) < 40).sum())


def _changed_pixels(a: Image.Image, b: Image.Image) -> int:
    return int((np.abs(np.asarray(a, int) - np.asarray(b, int)).sum(axis=2) > 30).sum())


def _wait(what: str, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.1)


def _start_desktop(procs: list[subprocess.Popen[bytes]]) -> tuple[Desktop, str]:
    """Start Xvfb, a session bus and trayer (appended to ``procs``); the desktop and the bus address."""
    read_fd, write_fd = os.pipe()
    procs.append(subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "800x600x24",
                                   "-nolisten", "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL))
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        desk = Desktop(":" + f.readline().strip())
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    procs.append(bus)
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()

    def works(*cmd: str) -> bool:
        env = {**os.environ, "DISPLAY": desk.display}
        return subprocess.run(cmd, env=env, capture_output=True, timeout=10).returncode == 0

    def panel_up(t: subprocess.Popen[bytes]) -> Callable[[], bool]:
        return lambda: t.poll() is not None or works("xdotool", "search", "--name", "^panel$")

    _wait("Xvfb to accept clients", lambda: works("xdotool", "getdisplaygeometry"))
    for _ in range(3):  # trayer now and then fails to open a display that has only just come up
        trayer = subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32",
             "--transparent", "false", "--tint", "0xdddddd", "--SetDockType", "true"],
            env={**os.environ, "DISPLAY": desk.display}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(trayer)
        _wait("trayer", panel_up(trayer))
        if trayer.poll() is None:
            break
    assert trayer.poll() is None, "trayer did not start"
    desk.panel_id = desk.run("xdotool", "search", "--name", "^panel$").split()[0]
    return desk, address


@pytest.fixture(scope="session")
def desktop() -> Iterator[Desktop]:
    """Xvfb with a session bus and a tray host; pystray's gtk backend is selected for the session."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is missing (Debian: xvfb; scripts/install-test-deps.sh installs it)")
    missing = [c for c in ("trayer", "xdotool", "dbus-daemon") if not shutil.which(c)]
    assert not missing, f"missing {missing}: run scripts/install-test-deps.sh"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        desk, address = _start_desktop(procs)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DISPLAY", desk.display)
            mp.setenv("DBUS_SESSION_BUS_ADDRESS", address)
            mp.setenv("PYSTRAY_BACKEND", "gtk")  # XEmbed, which trayer hosts
            mp.setenv("NO_AT_BRIDGE", "1")  # no accessibility bus needed
            yield desk
    finally:
        for p in reversed(procs):
            harness.stop(p)


def find(menu: Any, *path: str) -> Any:
    """The pystray MenuItem reached by the labels in ``path``."""
    for item in menu:
        if item.text == path[0]:
            return find(item.submenu, *path[1:]) if len(path) > 1 else item
    raise AssertionError(f"no menu item {path[0]!r} in {[i.text for i in menu]}")


def click(tray: Tray, *path: str) -> None:
    find(tray.icon.menu, *path)(tray.icon)


def run_tray(tray: Tray, drive: Callable[[], None]) -> None:
    """Run ``tray`` on the main thread, as the daemon does, while ``drive`` acts on it from another thread;
    then stop it and re-raise what ``drive`` raised."""
    failure: list[BaseException] = []

    def driver() -> None:
        try:
            drive()
        except BaseException as e:
            failure.append(e)
        finally:
            tray.stop()

    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    tray.run()
    thread.join(timeout=10)
    if failure:
        raise failure[0]


# --- tests -------------------------------------------------------------------------------------------


def test_icons_differ_by_state() -> None:
    images = {s: icons.icon(s) for s in State}
    for s, img in images.items():
        assert img.size == (icons.SIZE, icons.SIZE) and img.mode == "RGBA"
        centre_ring = img.getpixel((icons.SIZE // 2, 4))  # inside the disc, outside the glyph
        assert np.abs(np.array(centre_ring[:3]) - icons.COLORS[s]).max() < 20, (s, centre_ring)
    distinct = {img.tobytes() for s, img in images.items() if s is not State.STOPPED}
    assert len(distinct) == len(State) - 1  # STOPPED looks like STARTING on purpose


def test_no_display_is_a_one_line_error(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform in ("darwin", "win32"):
        pytest.skip("a display is always there on macOS and Windows")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(TrayUnavailable) as e:
        Tray(daemon)
    assert "\n" not in str(e.value) and "DISPLAY" in str(e.value) and "--no-tray" in str(e.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PYSTRAY_BACKEND": "xorg"}, "xorg backend has no menu"),
        ({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"}, "session D-Bus"),
        ({"DISPLAY": ":987"}, "pystray cannot start"),
    ],
)
def test_unusable_tray_is_a_one_line_error(
    desktop: Desktop, config_file: Path, env: dict[str, str], expected: str
) -> None:
    """Each case in a fresh process: pystray picks its backend once, at import."""
    code = textwrap.dedent("""
        from pathlib import Path
        from vcamd.desktop.tray import Tray
        from vcamd.desktop.tray_host import TrayUnavailable
        try:
            Tray(None)  # fails before it uses the control
        except TrayUnavailable as e:
            print("TrayUnavailable:", e)
    """)
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                       text=True, timeout=60)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("TrayUnavailable: no tray:"), r.stdout + r.stderr
    assert expected in lines[0] and "--no-tray" in lines[0]


def test_menu_items_drive_the_control(desktop: Desktop, daemon: Daemon, config_file: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every menu item, through pystray's own menu objects (the Xvfb test below clicks for real)."""
    control = daemon
    tray = Tray(control)

    def drive() -> None:
        backgrounds = sorted((tmp_path / "backgrounds").iterdir())
        menu = tray.icon.menu
        assert [i.text for i in menu if i.text != "- - - -"][1:] == [
            "Effect", "Background", "Blur strength", "Mirror", "Auto-frame", "Pause camera",
            "Show preview...", "Start at login", "Open config", "Quit"]
        assert STATUS_LINE.fullmatch(tray.status_line()), tray.status_line()
        assert find(menu, "Effect", "Blur").checked and not find(menu, "Effect", "Off").checked

        click(tray, "Effect", "Desaturate")
        assert control.settings().effect.name == "desaturate" and find(menu, "Effect", "Desaturate").checked
        text = config_file.read_text()
        assert 'name = "desaturate"  # what I like' in text and text.startswith("# my camera settings")

        click(tray, "Effect", "Replace")  # no background yet: the folder's first image
        assert control.settings().effect.name == "image"
        assert control.settings().effect.background == str(backgrounds[0])
        assert find(menu, "Effect", "Replace").checked and find(menu, "Background", "a-office").checked

        click(tray, "Background", "b-doctor")
        assert control.settings().effect.background == str(backgrounds[1])
        click(tray, "Background", "Next")  # wraps around the folder
        assert control.settings().effect.background == str(backgrounds[0])
        click(tray, "Background", "Previous")  # and back
        assert control.settings().effect.background == str(backgrounds[1])
        control.apply({"effect.name": "slideshow"})
        click(tray, "Background", "Next")  # a slideshow steps itself
        slideshow = daemon.pipeline.effect if daemon.pipeline else None
        assert isinstance(slideshow, effects.SlideshowEffect) and slideshow.offset == 1
        click(tray, "Background", "Previous")
        assert slideshow.offset == 0
        click(tray, "Background", "Light wrap")  # on by default: off, then back on at its default
        wrap = find(menu, "Background", "Light wrap")
        assert control.settings().effect.light_wrap == 0.0 and not wrap.checked
        click(tray, "Background", "Light wrap")
        assert control.settings().effect.light_wrap == 0.6 and wrap.checked
        assert control.settings().effect.name == "slideshow"

        click(tray, "Blur strength", "Strong")
        assert (control.settings().effect.name, control.settings().effect.blur_strength) == ("blur", 90)
        assert find(menu, "Blur strength", "Strong").checked

        click(tray, "Mirror")
        assert control.settings().effect.mirror and find(menu, "Mirror").checked
        click(tray, "Auto-frame")
        assert control.settings().framing.auto and find(menu, "Auto-frame").checked
        assert "[framing]" in config_file.read_text()
        click(tray, "Auto-frame")
        assert not control.settings().framing.auto
        click(tray, "Pause camera")
        assert control.settings().daemon.privacy
        _wait("the paused icon",  # followed via subscribe
              lambda: tray.icon.icon.tobytes() == icons.icon(State.PRIVACY).tobytes())
        click(tray, "Pause camera")
        _wait("the live icon", lambda: tray.icon.icon.tobytes() == icons.icon(State.LIVE).tobytes())

        click(tray, "Start at login")  # the same code as `vcamd autostart`, in the test's private HOME
        assert autostart.is_enabled() and find(menu, "Start at login").checked
        entry = Path(os.environ["XDG_CONFIG_HOME"]) / "autostart" / "vcamd.desktop"
        assert f"--config {config_file}" in entry.read_text()  # starts with this settings file
        click(tray, "Start at login")
        assert not autostart.is_enabled()

        # a failing choice is shown, not raised: the background file has gone
        control.apply({"effect.background": str(backgrounds[1])})
        backgrounds[1].unlink()
        click(tray, "Effect", "Replace")
        assert tray.status_line().startswith("⚠ background image")
        assert control.settings().effect.name == "blur"
        click(tray, "Effect", "Off")  # the next good choice clears it
        assert not tray.status_line().startswith("⚠")
        _wait("the status line", lambda: tray.status_line().startswith("live · none"))

        # while an app reads the camera, a new size waits for it: the first line says so
        app = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'rb'); "
                                "print(1, flush=True); time.sleep(60)", str(config_file.parent / "video10")],
                               stdout=subprocess.PIPE)
        try:
            assert app.stdout is not None and app.stdout.readline()
            time.sleep(1.0)  # the daemon learns of the reader from inotify and /proc
            control.apply({"output.width": 320})
            _wait("the held format", lambda: tray.status_line().startswith(
                "live · none · 176x144 until the call ends (then 320x262) · "))
        finally:
            app.kill()
            app.wait()
        _wait("the new format", lambda: "until the call ends" not in tray.status_line())

        # Open config runs the desktop's opener on the file
        log = tmp_path / "opened"
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        opener = bin_dir / (open_command(config_file) or ["x"])[0]
        opener.write_text(f'#!/bin/sh\necho "$@" > {log}\n')
        opener.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        click(tray, "Open config")
        _wait("the opener to run", lambda: log.exists() and log.read_text().endswith("\n"))
        assert log.read_text().strip() == str(config_file)

        click(tray, "Quit")
        assert daemon.wait(0)

    run_tray(tray, drive)


def test_open_command_per_platform(tmp_path: Path) -> None:
    assert open_command(tmp_path, "linux") == ["xdg-open", str(tmp_path)]
    assert open_command(tmp_path, "darwin") == ["open", str(tmp_path)]
    assert open_command(tmp_path, "win32") is None  # os.startfile


def test_docked_icon_menu_click_changes_effect(desktop: Desktop, daemon: Daemon, config_file: Path,
                                               artifacts: Path) -> None:
    """The icon docks in trayer, a right-click opens the menu, keys pick items, the settings follow."""
    control = daemon
    tray = Tray(control)

    def drive() -> None:
        _wait("the icon to dock", lambda: desktop.icon_pixels(State.LIVE) > 200)
        desktop.screenshot().save(artifacts / "tray_docked.png")

        desktop.open_menu()
        desktop.screenshot().save(artifacts / "tray_menu.png")
        desktop.run("xdotool", "key", "Down", "Right")  # Effect -> its submenu, on Blur
        time.sleep(0.5)
        desktop.screenshot().save(artifacts / "tray_effect_menu.png")
        desktop.run("xdotool", "key", "Down", "Down", "Return")  # Desaturate
        _wait("desaturate", lambda: control.settings().effect.name == "desaturate")

        desktop.open_menu()
        desktop.run("xdotool", "key", *["Down"] * 6, "Return")  # Pause camera (after Mirror, Auto-frame)
        _wait("the paused icon", lambda: desktop.icon_pixels(State.PRIVACY) > 200)
        desktop.screenshot().save(artifacts / "tray_paused.png")

        desktop.open_menu()
        desktop.run("xdotool", "key", "Up", "Return")  # Quit
        _wait("quit", lambda: daemon.wait(0))

    run_tray(tray, drive)
    text = config_file.read_text()
    assert 'name = "desaturate"  # what I like' in text and "privacy = true" in text
    assert daemon.wait(0)


def test_menu_click_changes_the_running_daemons_effect(desktop: Desktop, tmp_path: Path,
                                                       artifacts: Path) -> None:
    """The real daemon (a video file as the webcam, a recording virtual camera) under the real tray: a click
    on Effect > Desaturate turns the background of the frames it sends grey, and Quit stops it."""
    vcam_recorder.register()
    device = tmp_path / "video10"
    device.touch()
    path = tmp_path / "vcamd.toml"
    path.write_text(textwrap.dedent(f"""\
        # my camera settings
        [camera]
        device = "{VIDEOS / 'volcomix_doctor.mp4'}"
        [output]
        backend = "recording"
        device = "{device}"
        [effect]
        name = "blur"  # what I like
        [daemon]
        pause_when_unused = false  # no app opens the stand-in device
        """))

    def grey_share(frame: np.ndarray) -> float:
        return float(((frame[..., 0] == frame[..., 1]) & (frame[..., 1] == frame[..., 2])).mean())

    daemon = Daemon(path)
    daemon.start()
    try:
        tray = Tray(daemon)
        daemon.on_stop(tray.stop)  # as `vcamd run` does
        recorder = vcam_recorder.latest()

        def drive() -> None:
            _wait("the live icon", lambda: desktop.icon_pixels(State.LIVE) > 200, timeout=20)
            _wait("frames", lambda: recorder.count > 10)
            assert grey_share(recorder.last()) < 0.1  # blur keeps the colours
            _wait("fps in the status line", lambda: " 0.0 fps" not in tray.status_line())
            time.sleep(0.2)  # the menu is rebuilt on the main loop

            desktop.open_menu()
            desktop.run("xdotool", "key", "Down", "Right")
            time.sleep(0.5)
            desktop.screenshot().save(artifacts / "tray_daemon_effect_menu.png")
            sent = recorder.count
            desktop.run("xdotool", "key", "Down", "Down", "Return")  # Desaturate
            _wait("the daemon's new effect", lambda: daemon.settings().effect.name == "desaturate")
            _wait("desaturated frames", lambda: any(grey_share(f) > 0.3 for f in recorder.since(sent)))
            assert daemon.settings().effect.name == "desaturate" == daemon.status().effect

            desktop.open_menu()
            desktop.run("xdotool", "key", "Up", "Return")  # Quit
            _wait("the daemon to stop", lambda: daemon.wait(0))

        run_tray(tray, drive)
    finally:
        daemon.close()
    assert 'name = "desaturate"  # what I like' in path.read_text()
    assert recorder.closed


# --- pystray's set-up thread: whatever fails there, run() returns ------------------------------------------


class FailingStatus:
    """The real daemon, as a Control whose status() starts failing (a daemon bug) once ``broken`` is set;
    the daemon itself goes on as it was."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.broken = False

    def status(self) -> Status:
        if self.broken:
            raise RuntimeError("status is broken")
        return self.daemon.status()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.daemon, name)


def run_with_watchdog(tray: Tray, seconds: float = 10.0) -> bool:
    """Run ``tray`` on the main thread; True if it had to be ended from outside after ``seconds``."""
    done = threading.Event()
    hung: list[bool] = []

    def watchdog() -> None:
        if not done.wait(seconds):
            hung.append(True)
            tray.icon._stop()  # pystray's own loop quit, from any thread: so a broken guard fails, not hangs

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        tray.run()
    finally:
        done.set()
    return bool(hung)


def test_a_failing_refresh_is_logged_once_and_the_tray_goes_on(
    desktop: Desktop, daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("vcamd.desktop.tray.REFRESH_SECONDS", 0.05)
    control = FailingStatus(daemon)
    tray = Tray(control)

    def drive() -> None:
        control.broken = True
        time.sleep(0.6)  # a dozen refreshes fail
        assert not tray.failed
        control.broken = False

    run_tray(tray, drive)
    failures = [r for r in caplog.records if "status refresh failed" in r.getMessage()]
    assert len(failures) == 1 and not tray.failed


def test_a_failing_setup_thread_ends_the_tray(
    desktop: Desktop, daemon: Daemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the set-up thread's own code (injected: its refresh step raises) ends the icon's loop, so
    ``run()`` returns and ``vcamd run`` goes on without a tray, instead of blocking for ever."""
    monkeypatch.setattr("vcamd.desktop.tray.REFRESH_SECONDS", 0.05)
    tray = Tray(daemon)

    def broken_refresh() -> None:
        raise RuntimeError("a bug in the refresh")

    monkeypatch.setattr(tray, "_refresh", broken_refresh)
    assert not run_with_watchdog(tray), "run() did not return after the set-up thread failed"
    assert tray.failed
    assert any("tray: the icon failed" in r.getMessage() and r.exc_info for r in caplog.records)
