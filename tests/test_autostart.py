"""Start at login: Linux for real in the test's private HOME, macOS and Windows on what they would write."""

from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.validators import desktop_validate, systemd_verify

from vcamd import cli
from vcamd.desktop import autostart


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["autostart", *args]) == 0
    return capsys.readouterr().out


def config_home() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux start-at-login")
def test_linux_xdg_autostart_enable_status_disable(capsys: pytest.CaptureFixture[str]) -> None:
    entry = config_home() / "autostart" / "vcamd.desktop"
    assert "xdg-autostart: disabled" in run_cli("status", capsys=capsys)
    assert not autostart.is_enabled()

    out = run_cli("enable", capsys=capsys)
    assert f"autostart enabled (xdg-autostart): {entry}" in out
    assert entry.is_file() and autostart.is_enabled()
    desktop_validate(entry)
    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    argv = shlex.split(exec_line[len("Exec="):])
    assert argv[-1] == "run" and os.access(argv[0], os.X_OK), argv  # runs this installation's vcamd
    assert "X-GNOME-Autostart-enabled=true" in text

    mtime = entry.stat().st_mtime_ns
    run_cli("enable", capsys=capsys)  # idempotent: same file, not rewritten
    assert entry.read_text() == text and entry.stat().st_mtime_ns == mtime
    assert "xdg-autostart: enabled" in run_cli("status", capsys=capsys)

    out = run_cli("disable", capsys=capsys)
    assert "removed" in out and not entry.exists() and not autostart.is_enabled()
    assert run_cli("disable", capsys=capsys) == "autostart was already disabled\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux start-at-login")
def test_linux_systemd_unit_replaces_xdg_and_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    unit_dir = config_home() / "systemd" / "user"
    unit, wants = unit_dir / "vcamd.service", unit_dir / "default.target.wants" / "vcamd.service"
    entry = config_home() / "autostart" / "vcamd.desktop"
    cfg = config_home() / "my vcamd.toml"  # a space, to exercise the quoting

    run_cli("enable", capsys=capsys)
    out = run_cli("--config", str(cfg), "enable", "--systemd", capsys=capsys)
    assert f"autostart enabled (systemd): {unit}" in out
    assert not entry.exists(), "enabling the systemd unit turns XDG autostart off (never start twice)"
    assert wants.is_symlink() and wants.resolve() == unit.resolve()
    text = unit.read_text()
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert f' run --config "{cfg}" --no-tray' in text
    systemd_verify(unit)
    status = run_cli("status", capsys=capsys)
    assert "systemd: enabled" in status and "xdg-autostart: disabled" in status

    run_cli("disable", capsys=capsys)
    assert not unit.exists() and not wants.is_symlink() and not autostart.is_enabled()


def test_desktop_exec_quoting_round_trips_through_gio(tmp_path: Path) -> None:
    """Arguments with spaces, quotes, ``$`` and ``%`` come back unchanged from GLib's own parser."""
    gio = pytest.importorskip("gi.repository.Gio", reason="PyGObject (the tray extra) is not installed")
    from gi.repository import GLib

    exe = tmp_path / "my apps" / "vcamd"  # Gio only loads entries whose program exists
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    cmd = [str(exe), "run", "--config", '/home/a "b"/50%$x\\y.toml']
    path = tmp_path / "t.desktop"
    path.write_text(autostart.desktop_entry(cmd))
    desktop_validate(path)
    info = gio.DesktopAppInfo.new_from_filename(str(path))
    ok, argv = GLib.shell_parse_argv(info.get_commandline().replace("%%", "%"))
    assert ok and argv == cmd


def test_systemd_exec_quoting_verifies(tmp_path: Path) -> None:
    """A command whose path has a space passes ``systemd-analyze verify`` (it checks the file is there)."""
    exe = tmp_path / "with space" / "vcamd"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = tmp_path / "vcamd.service"
    unit.write_text(autostart.systemd_unit([str(exe), "run", "--config", "/a b/50%.toml"]))
    systemd_verify(unit)
    assert 'ExecStart="' + str(exe) + '" run --config "/a b/50%%.toml"' in unit.read_text()


def test_macos_launch_agent_written_in_home() -> None:
    home = Path.home()
    method = autostart.enable(platform="darwin")
    assert method.path == home / "Library" / "LaunchAgents" / "io.github.vcamd.plist"
    agent = plistlib.loads(Path(method.path).read_bytes())
    assert agent["Label"] == autostart.LABEL
    assert agent["ProgramArguments"] == autostart.launch_command(platform="darwin")
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["StandardErrorPath"] == str(home / "Library" / "Logs" / "vcamd.log")  # absolute: no ~
    assert autostart.is_enabled(platform="darwin")
    assert autostart.disable(platform="darwin") and not Path(method.path).exists()
    assert not autostart.is_enabled(platform="darwin")


def test_windows_run_key_value() -> None:
    [method] = autostart.methods(["--config", r"C:\Users\Ann Lee\vcamd.toml"], platform="win32").values()
    assert method.path == r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run\vcamd"
    assert isinstance(method, autostart._RunKey)
    cmd = autostart.launch_command(["--config", r"C:\Users\Ann Lee\vcamd.toml"], platform="win32")
    assert cmd[1:4] == ["-m", "vcamd", "run"]
    assert method.value == subprocess.list2cmdline(cmd)
    assert autostart.run_key_value([r"C:\Program Files\Python\pythonw.exe", "-m", "vcamd", "run"]) == (
        r'"C:\Program Files\Python\pythonw.exe" -m vcamd run'
    )
