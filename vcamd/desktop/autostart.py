"""Start vcamd at login: XDG autostart or a systemd user unit on Linux, a LaunchAgent on macOS, the Run key
on Windows. Shared by ``vcamd autostart`` (:mod:`vcamd.commands.autostart`) and the tray's "Start at login"
item.

Promises:
- ``enable``, ``disable`` and ``is_enabled`` are idempotent and only touch the current user's files.
- On Linux one method is active at a time: enabling XDG autostart removes the systemd unit's enablement and
  the other way round, so vcamd never starts twice; ``disable`` turns off both.
- What would be written is computed by pure functions (``desktop_entry``, ``systemd_unit``,
  ``launch_agent``, ``run_key_value``) that work on any OS, so each platform's output is testable anywhere.
- Failures raise :class:`AutostartError` with one line naming the file (or key) and the fix.
"""

from __future__ import annotations

import importlib
import logging
import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from vcamd import config
from vcamd.errors import VcamdError
from vcamd.files import atomic_write

log = logging.getLogger(__name__)

APP = "vcamd"
LABEL = "io.github.vcamd"  # macOS LaunchAgent label
UNIT = "vcamd.service"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
DESCRIPTION = "Virtual camera with background blur or replacement for video calls"


class AutostartError(VcamdError):
    """Start-at-login could not be changed; the message names the file or key and the fix."""


# --- what gets written (pure) ----------------------------------------------------------------------------


def launch_command(extra: Sequence[str] = (), platform: str = sys.platform) -> list[str]:
    """The command that starts the daemon from this installation: its ``vcamd`` script, else ``-m vcamd``.

    On Windows ``pythonw.exe`` is preferred so no console window opens at login.
    """
    exe = Path(sys.executable)
    if platform == "win32":
        pythonw = exe.with_name("pythonw.exe")
        return [str(pythonw if pythonw.exists() else exe), "-m", "vcamd", "run", *extra]
    script = exe.with_name("vcamd")
    if not script.exists():
        found = shutil.which("vcamd")
        script = Path(found) if found else script
    if script.exists():
        return [str(script), "run", *extra]
    return [str(exe), "-m", "vcamd", "run", *extra]


_DESKTOP_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')


def _desktop_exec(cmd: Sequence[str]) -> str:
    """``Exec=`` value per the Desktop Entry spec: quote arguments with reserved characters, double ``%``."""
    out = []
    for arg in cmd:
        arg = arg.replace("%", "%%")
        if arg and not _DESKTOP_RESERVED.intersection(arg):
            out.append(arg)
            continue
        inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        out.append(f'"{inner}"')
    # the whole value is a desktop-file string, where a backslash is itself escaped
    return " ".join(out).replace("\\", "\\\\")


def desktop_entry(cmd: Sequence[str], *, autostart: bool = True) -> str:
    """A ``.desktop`` file that runs ``cmd``; ``autostart=False`` gives the application-menu variant."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=vcamd",
        "GenericName=Virtual camera",
        f"Comment={DESCRIPTION}",
        f"Exec={_desktop_exec(cmd)}",
        "Icon=camera-web",
        "Terminal=false",
        "Categories=AudioVideo;Video;",
        "Keywords=webcam;camera;background;blur;zoom;meet;teams;",
    ]
    if autostart:
        lines += ["X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-Delay=5"]
    return "\n".join(lines) + "\n"


def _systemd_arg(arg: str) -> str:
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in ' \t"\'\\;'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(cmd: Sequence[str]) -> str:
    """A systemd user unit that runs ``cmd`` when the user's session starts and restarts it if it fails
    (five failures within two minutes, e.g. no virtual camera device, and it gives up)."""
    return (
        "[Unit]\n"
        f"Description=vcamd: {DESCRIPTION.lower()}\n"
        "StartLimitIntervalSec=120\n"
        "StartLimitBurst=5\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(_systemd_arg(a) for a in cmd)}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launch_agent(cmd: Sequence[str], log_path: str | None = None) -> bytes:
    """A macOS LaunchAgent plist that runs ``cmd`` at login and again if it exits with an error.

    ``log_path`` must be absolute (launchd does not expand ``~``); ``None`` leaves output to launchd.
    """
    agent: dict[str, Any] = {
        "Label": LABEL,
        "ProgramArguments": list(cmd),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Interactive",
    }
    if log_path:
        agent["StandardOutPath"] = agent["StandardErrorPath"] = log_path
    return plistlib.dumps(agent)


def run_key_value(cmd: Sequence[str]) -> str:
    """The data of the Windows ``HKCU\\...\\Run`` value named ``vcamd``: one quoted command line."""
    return subprocess.list2cmdline(list(cmd))


# --- where it goes (per platform) ------------------------------------------------------------------------


@dataclass
class _File:
    """A start-at-login method that is one file (plus, for systemd, a ``wants`` link)."""

    name: str
    path: Path
    content: bytes
    wants: Path | None = None  # systemd: the enablement symlink

    def is_enabled(self) -> bool:
        return (self.wants or self.path).exists() and self.path.exists()

    def enable(self) -> None:
        try:
            if not self.path.exists() or self.path.read_bytes() != self.content:
                atomic_write(self.path, self.content)
            if self.wants is not None and not self.wants.is_symlink():
                self.wants.parent.mkdir(parents=True, exist_ok=True)
                self.wants.symlink_to(Path("..") / self.path.name)
        except OSError as e:
            raise AutostartError(f"{e.filename or self.path}: cannot write it ({e.strerror}); "
                                 "check the folder's permissions") from None
        if self.wants is not None:
            _systemctl("daemon-reload")

    def disable(self) -> None:
        try:
            for p in (self.wants, self.path):
                if p is not None and (p.exists() or p.is_symlink()):
                    p.unlink()
        except OSError as e:
            raise AutostartError(f"{e.filename}: cannot remove it ({e.strerror}); remove it by hand") \
                from None
        if self.wants is not None:
            _systemctl("daemon-reload")


def _systemctl(*args: str) -> None:
    """Tell a running systemd user manager about unit changes; harmless when there is none."""
    if shutil.which("systemctl") and (os.environ.get("DBUS_SESSION_BUS_ADDRESS") or _user_bus().exists()):
        subprocess.run(["systemctl", "--user", *args], capture_output=True, timeout=10, check=False)


def _user_bus() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")) / "bus"


@dataclass
class _RunKey:
    """Windows: the per-user Run key value."""

    value: str
    name: str = "windows-run-key"
    path: str = "HKCU\\" + RUN_KEY + "\\" + APP

    def is_enabled(self) -> bool:
        reg = _winreg()
        with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY) as key:
            try:
                return bool(reg.QueryValueEx(key, APP)[0])
            except FileNotFoundError:
                return False

    def enable(self) -> None:
        reg = _winreg()
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key:
            reg.SetValueEx(key, APP, 0, reg.REG_SZ, self.value)

    def disable(self) -> None:
        reg = _winreg()
        with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key, suppress(
            FileNotFoundError
        ):
            reg.DeleteValue(key, APP)


def _winreg() -> Any:
    """The ``winreg`` module (Windows only), imported when used."""
    return importlib.import_module("winreg")


Method = _File | _RunKey


def methods(extra: Sequence[str] = (), platform: str = sys.platform) -> dict[str, Method]:
    """The start-at-login methods of ``platform``, by name; the first is the default."""
    cmd = launch_command(extra, platform)
    if platform == "win32":
        return {"windows-run-key": _RunKey(run_key_value(cmd))}
    if platform == "darwin":
        lib = Path.home() / "Library"
        agent = launch_agent(cmd, str(lib / "Logs" / "vcamd.log"))
        return {"launch-agent": _File("launch-agent", lib / "LaunchAgents" / f"{LABEL}.plist", agent)}
    conf = Path(platformdirs.user_config_dir())
    unit = conf / "systemd" / "user" / UNIT
    return {
        "xdg-autostart": _File("xdg-autostart", conf / "autostart" / f"{APP}.desktop",
                               desktop_entry(cmd).encode()),
        "systemd": _File("systemd", unit, systemd_unit([*cmd, "--no-tray"]).encode(),
                         wants=unit.parent / "default.target.wants" / UNIT),
    }


def enable(*, systemd: bool = False, extra: Sequence[str] = (), platform: str = sys.platform) -> Method:
    """Start at login from now on (the systemd unit if asked, on Linux); returns the method enabled."""
    all_methods = methods(extra, platform)
    name = "systemd" if systemd and "systemd" in all_methods else next(iter(all_methods))
    for other, method in all_methods.items():
        if other != name and method.is_enabled():
            method.disable()
    chosen = all_methods[name]
    chosen.enable()
    log.debug("autostart enabled: %s", chosen.path)
    return chosen


def disable(platform: str = sys.platform) -> list[Method]:
    """Do not start at login (every method); returns the methods that were on."""
    was_on = [m for m in methods(platform=platform).values() if m.is_enabled()]
    for m in was_on:
        m.disable()
    return was_on


def is_enabled(platform: str = sys.platform) -> bool:
    """Whether any start-at-login method is on."""
    return any(m.is_enabled() for m in methods(platform=platform).values())


def config_args(path: Path) -> list[str]:
    """``--config PATH`` for the login command when ``path`` is not the user's default settings file."""
    return [] if Path(path) == config.default_path() else ["--config", str(path)]
