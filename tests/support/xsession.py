"""A private X desktop for tray tests: Xvfb (-displayfd), its own session D-Bus, and a real tray host.

``x_session(host)`` starts them (``host``: ``"xfce4-panel"`` with xfwm4, a StatusNotifierItem host that is
an XEmbed tray too; ``"trayer"``, XEmbed only; ``None``, no tray and no window manager), yields a
:class:`Session` whose ``env`` runs programs on that desktop, and ends every process it started, by pid. The
caller's HOME / XDG dirs (private: conftest sets them) hold the panel's settings, so nothing of the real
user's is read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import daemon_harness as harness
import numpy as np
import pytest
from PIL import Image, ImageGrab

from support.stream_helpers import wait_for

WATCHER = "org.kde.StatusNotifierWatcher"

#: xfce4-panel's settings: one panel along the top holding only the Status Tray plugin ("systray"), which in
#: xfce4-panel 4.18 hosts StatusNotifierItems (it is the watcher) and XEmbed icons.
XFCE_PANEL_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="icon-size" type="uint" value="24"/>
      <property name="size" type="uint" value="32"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
"""


@dataclass
class Session:
    display: str
    bus_address: str
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log(self, program: str) -> Path:
        """Where the output of ``program`` started by :func:`start_host` goes."""
        return Path(self.env["XDG_RUNTIME_DIR"]) / f"{program}.log"

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, env=self.env, check=check, capture_output=True, text=True, timeout=20)

    def screenshot(self) -> Image.Image:
        return ImageGrab.grab(xdisplay=self.display).convert("RGB")

    def bus(self) -> Any:
        """A private connection to this session's bus (not Gio's per-process session bus)."""
        from gi.repository import Gio

        flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                 | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
        return Gio.DBusConnection.new_for_address_sync(self.bus_address, flags, None, None)

    def has_name(self, name: str) -> bool:
        out = self.run("dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                       "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}").stdout
        return "boolean true" in out


def pixels_like(img: Image.Image, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> int:
    """How many pixels of ``box`` (x0, y0, x1, y1) are within 40 of ``colour`` (RGB)."""
    a = np.asarray(img.crop(box)).astype(int)
    return int((np.abs(a - np.array(colour)).sum(axis=2) < 40).sum())


def changed_pixels(a: Image.Image, b: Image.Image) -> int:
    return int((np.abs(np.asarray(a, int) - np.asarray(b, int)).sum(axis=2) > 30).sum())


def _start(s: Session, *cmd: str) -> subprocess.Popen[bytes]:
    with s.log(cmd[0]).open("w") as log:
        p = subprocess.Popen(cmd, env=s.env, stdout=log, stderr=subprocess.STDOUT)
    s.procs.append(p)
    return p


def _start_until(s: Session, ready: Callable[[], bool], *cmd: str) -> None:
    """Start ``cmd`` and wait until ``ready()``; again (up to 3 times) if it exits first: now and then a
    program gives up on a display that has only just come up ("cannot open display")."""
    for _ in range(3):
        p = _start(s, *cmd)
        wait_for(lambda p=p: p.poll() is not None or ready(), what=cmd[0])
        if p.poll() is None:
            return
    raise AssertionError(f"{cmd[0]} did not start: {s.log(cmd[0]).read_text()}")


def start_host(s: Session, host: str) -> None:
    """Start the tray host ``host`` on ``s`` (ended with the session) and wait until it hosts."""
    if host == "xfce4-panel":
        # XFCE's window manager first: without one the panel waits 5 s for it
        _start_until(s, lambda: "window id" in s.run("xprop", "-root", "_NET_SUPPORTING_WM_CHECK",
                                                     check=False).stdout,
                     "xfwm4", "--compositor=off", "--sm-client-disable")
        xml = Path(s.env["XDG_CONFIG_HOME"], "xfce4", "xfconf", "xfce-perchannel-xml", "xfce4-panel.xml")
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_text(XFCE_PANEL_XML)
        _start_until(s, lambda: s.has_name(WATCHER), "xfce4-panel")
    elif host == "trayer":
        _start_until(s, lambda: s.run("xdotool", "search", "--name", "^panel$", check=False).returncode == 0,
                     "trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                     "--height", "32", "--SetDockType", "true")
    else:
        raise ValueError(host)


@contextmanager
def x_session(host: str | None, size: str = "800x600x24") -> Iterator[Session]:
    """Xvfb + a session bus + ``host`` (see the module's doc); every process ended by pid afterwards."""
    needed = ["Xvfb", "dbus-daemon", "dbus-send", "xdotool", "xprop", *([host] if host else []),
              *(["xfwm4"] if host == "xfce4-panel" else [])]
    missing = [c for c in needed if not shutil.which(c)]
    if "Xvfb" in missing:
        pytest.skip("Xvfb is missing (Debian: xvfb; scripts/install-test-deps.sh installs it)")
    assert not missing, f"missing {missing}: run scripts/install-test-deps.sh"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        read_fd, write_fd = os.pipe()
        procs.append(subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size,
                                       "-nolisten", "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL))
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            display = ":" + f.readline().strip()
        env = {k: v for k, v in os.environ.items() if k not in ("SESSION_MANAGER", "PYSTRAY_BACKEND")}
        env.update(DISPLAY=display, NO_AT_BRIDGE="1")
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        s = Session(display, address, env, procs)
        wait_for(lambda: s.run("xdotool", "getdisplaygeometry", check=False).returncode == 0,
                 what="Xvfb to accept clients")
        if host:
            start_host(s, host)
        yield s
    finally:
        for p in reversed(procs):
            harness.stop(p)
