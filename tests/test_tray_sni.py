"""The tray on the desktops people use: a real StatusNotifierItem host (xfce4-panel) and no tray host at all.

Each test starts its own Xvfb, session D-Bus and tray host (tests/support/xsession.py) and runs ``vcamd run``
as a user does (tests/support/daemon_process.py): pystray picks its backend at import, so each choice needs a
process of its own, and the backend is never forced here: vcamd chooses it from what the desktop offers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.daemon_process import running_daemon, write_config
from support.stream_helpers import wait_for
from support.xsession import WATCHER, Session, changed_pixels, pixels_like, start_host, x_session

from vcamd.desktop import icons
from vcamd.service.control import State

pytest.importorskip("gi", reason="the tray needs PyGObject (scripts/install-test-deps.sh installs it)")

PANEL = (0, 0, 800, 33)  # xfce4-panel along the top (tests/support/xsession.py)


def grey_share(frame: np.ndarray) -> float:
    return float(((frame[..., 0] == frame[..., 1]) & (frame[..., 1] == frame[..., 2])).mean())


# --- the menu as the gtk backend builds it, and as the panel reads it over D-Bus ---------------------------

GTK_MENU = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from vcamd import config
    from vcamd.desktop.tray import Tray
    from vcamd.engine import effects
    from vcamd.service.control import State, Status

    class FileSettings:  # what the menu reads of a daemon, from the same settings file
        def __init__(self, path):
            self.path, self.cfg = path, config.load(path)
        def status(self):
            return Status(State.LIVE, effect=self.cfg.effect.name)
        def settings(self):
            return self.cfg
        def settings_path(self, create=False):
            return self.path
        def backgrounds(self):
            return effects.list_images(self.cfg.effect.backgrounds_dir)
        def subscribe(self, callback):
            pass
        def apply(self, changes):  # the menu is only built here, never clicked
            raise AssertionError(changes)
        step_background = stop = apply

    from gi.repository import Gtk

    def tree(menu):
        items = []
        for child in menu.get_children():
            if isinstance(child, Gtk.SeparatorMenuItem):
                items.append(["-", None, True, []])
                continue
            checked = child.get_active() if isinstance(child, Gtk.CheckMenuItem) else None
            sub = child.get_submenu()
            items.append([child.get_label(), checked, child.get_sensitive(), tree(sub) if sub else []])
        return items

    tray = Tray(FileSettings(Path(sys.argv[1])))
    assert type(tray.icon).__module__ == "pystray._gtk", type(tray.icon).__module__
    print(json.dumps(tree(tray.icon._create_menu(tray.icon.menu))))  # the Gtk.Menu the gtk backend shows
""")


def gtk_menu(session: Session, config: Path) -> list[Any]:
    env = {**session.env, "PYSTRAY_BACKEND": "gtk"}
    r = subprocess.run([sys.executable, "-c", GTK_MENU, str(config)], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout.splitlines()[-1]))


def registered_item(session: Session) -> tuple[str, str]:
    """(bus name, object path) of the one StatusNotifierItem registered with the panel's watcher."""
    from gi.repository import Gio, GLib

    reply = session.bus().call_sync(WATCHER, "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties",
                                    "Get", GLib.Variant("(ss)", (WATCHER, "RegisteredStatusNotifierItems")),
                                    None, Gio.DBusCallFlags.NONE, 5000, None)
    items = reply.unpack()[0]
    assert len(items) == 1, items
    name, _, path = items[0].partition("/")
    return name, "/" + path


def _menu(session: Session) -> tuple[Any, str, str]:
    """The session bus, the registered item's bus name, and its menu's object path."""
    from gi.repository import Gio, GLib

    bus = session.bus()
    name, path = registered_item(session)
    menu_path = bus.call_sync(name, path, "org.freedesktop.DBus.Properties", "Get",
                              GLib.Variant("(ss)", ("org.kde.StatusNotifierItem", "Menu")), None,
                              Gio.DBusCallFlags.NONE, 5000, None).unpack()[0]
    return bus, name, menu_path


def dbus_menu(session: Session) -> list[Any]:
    """The item's menu through com.canonical.dbusmenu GetLayout, as the panel reads it."""
    from gi.repository import Gio, GLib

    bus, name, menu_path = _menu(session)
    _, layout = bus.call_sync(name, menu_path, "com.canonical.dbusmenu", "GetLayout",
                              GLib.Variant("(iias)", (0, -1, [])), None, Gio.DBusCallFlags.NONE, 5000,
                              None).unpack()

    def tree(nodes: list[Any]) -> list[Any]:
        items = []
        for _, props, children in nodes:
            if not props.get("visible", True):
                continue
            if props.get("type") == "separator":
                items.append(["-", None, True, []])
                continue
            toggle = props.get("toggle-type", "")
            checked = bool(props.get("toggle-state", 0) == 1) if toggle else None
            items.append([props.get("label", ""), checked, props.get("enabled", True), tree(children)])
        return items

    return tree(layout[2])


def dbus_menu_click(session: Session, label: str) -> None:
    """Activate the top-level item ``label`` as a panel does: com.canonical.dbusmenu Event "clicked"."""
    from gi.repository import Gio, GLib

    bus, name, menu_path = _menu(session)
    _, layout = bus.call_sync(name, menu_path, "com.canonical.dbusmenu", "GetLayout",
                              GLib.Variant("(iias)", (0, 1, [])), None, Gio.DBusCallFlags.NONE, 5000,
                              None).unpack()
    ids = [item_id for item_id, props, _ in layout[2] if props.get("label") == label]
    assert ids, f"no menu item {label!r}"
    bus.call_sync(name, menu_path, "com.canonical.dbusmenu", "Event",
                  GLib.Variant("(isvu)", (ids[0], "clicked", GLib.Variant("i", 0), 0)), None,
                  Gio.DBusCallFlags.NONE, 5000, None)


def without_status_text(menu: list[Any]) -> list[Any]:
    """The menu with the first line's text blanked (its fps and ms differ from moment to moment)."""
    assert menu[0][2] is False, menu[0]  # the status line: first, and not a choice
    return [["<status>", *menu[0][1:]], *menu[1:]]


# --- tests ------------------------------------------------------------------------------------------------

CHOOSE = textwrap.dedent("""
    from vcamd.desktop.tray_host import NoTrayHost, choose_backend
    try:
        print(choose_backend())
    except NoTrayHost as e:
        print("NoTrayHost:", e)
""")


@pytest.mark.parametrize(("host", "expected"), [
    ("xfce4-panel", "('appindicator', 'org.kde.StatusNotifierWatcher is on the session bus')"),
    ("trayer", "('gtk', 'an XEmbed tray is there (no StatusNotifierWatcher)')"),
    (None, "NoTrayHost: no tray: this desktop shows no tray icons"),
])
def test_backend_follows_the_desktop(host: str | None, expected: str) -> None:
    """appindicator where a StatusNotifierWatcher is (xfce4-panel is an XEmbed tray too), gtk where only an
    XEmbed tray is, NoTrayHost where neither."""
    with x_session(host) as session:
        r = subprocess.run([sys.executable, "-c", CHOOSE], env=session.env, capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(expected), r.stdout


def test_appindicator_icon_in_xfce_panel_drives_the_daemon(tmp_path: Path, artifacts: Path) -> None:
    """xfce4-panel hosts vcamd's StatusNotifierItem; a click opens its menu, Effect > Desaturate turns the
    running daemon's frames grey; the menu read over D-Bus is the gtk backend's menu; Quit stops vcamd."""
    config = write_config(tmp_path)
    with x_session("xfce4-panel") as session, running_daemon(tmp_path, config, env=session.env, args=()) as d:
        wait_for(lambda: "tray: pystray's appindicator backend" in d.log(), what="the tray")
        live = icons.COLORS[State.LIVE]
        wait_for(lambda: pixels_like(session.screenshot(), live, PANEL) > 100, what="the icon in the panel")
        shot = session.screenshot()
        shot.save(artifacts / "tray_sni_panel.png")
        registered_item(session)  # registered with the panel's watcher: a StatusNotifierItem, not XEmbed
        frame = d.last_frame()
        assert frame is not None and grey_share(frame) < 0.1  # blur keeps the colours

        # the icon's place: the middle of its green disc
        a = np.asarray(shot.crop(PANEL)).astype(int)
        ys, xs = np.nonzero(np.abs(a - np.array(live)).sum(axis=2) < 40)
        x, y = int(xs.mean()), int(ys.mean())
        wait_for(lambda: " 0.0 fps" not in d.vcamd("status").stdout, what="fps in the status line")

        def open_menu() -> None:
            """Click the icon until its menu shows (a click on a loaded machine can be lost)."""
            for attempt in range(3):
                before = session.screenshot()
                session.run("xdotool", "mousemove", str(x), str(y), "click", "1")
                try:
                    wait_for(lambda b=before: changed_pixels(session.screenshot(), b) > 5000, timeout=5,
                             what="the menu to open")
                except AssertionError:
                    if attempt == 2:
                        raise
                    session.run("xdotool", "key", "Escape")
                    continue
                time.sleep(0.5)
                return

        open_menu()
        session.screenshot().save(artifacts / "tray_sni_menu.png")
        session.run("xdotool", "key", "Down", "Right")  # Effect -> its submenu, on Blur
        time.sleep(0.5)
        session.screenshot().save(artifacts / "tray_sni_effect_menu.png")
        sent = d.count()
        session.run("xdotool", "key", "Down", "Down", "Return")  # Desaturate
        wait_for(lambda: d.count() > sent and grey_share(d.last_frame()) > 0.3, what="desaturated frames")
        assert 'name = "desaturate"  # what I like' in config.read_text()
        assert d.vcamd("status").stdout.startswith("live · desaturate")

        # the same menu over D-Bus as the gtk backend builds it: every item, its checks and what is greyed
        over_dbus = dbus_menu(session)
        labels = [item[0] for item in over_dbus]
        assert labels[1:] == ["-", "Effect", "Background", "Blur strength", "Mirror", "Auto-frame",
                              "Pause camera", "-", "Show preview...", "Start at login", "Open config", "-",
                              "Quit"], labels
        assert labels[0].startswith("live · desaturate · ")
        assert without_status_text(over_dbus) == without_status_text(gtk_menu(session, config))
        effect = dict((i[0], i[1]) for i in over_dbus[2][3])
        assert effect == {"Blur": False, "Replace": False, "Desaturate": True, "Colour": False, "Off": False}

        # Quit, sent as the panel sends a menu click (dbusmenu Event), stops the daemon (exit 0, checked when
        # the block ends); the keyboard path through the panel's menu is the Desaturate choice above.
        dbus_menu_click(session, "Quit")
        d.proc.wait(timeout=10)
    assert ("tray: pystray's appindicator backend (org.kde.StatusNotifierWatcher is on the session bus)"
            in d.log())


def test_no_tray_host_runs_without_a_tray_and_says_how(tmp_path: Path) -> None:
    """No watcher on the bus and no XEmbed tray (plain GNOME, a bare compositor): the daemon runs, frames
    flow, and one log line names the fix and the commands; vcamd doctor reports it. A panel that comes up
    later (login) still gets the icon."""
    config = write_config(tmp_path)
    with x_session(None) as session, running_daemon(tmp_path, config, env=session.env, args=()) as d:
        sent = d.count()
        wait_for(lambda: d.count() > sent + 10, what="frames without a tray")
        hint = [line for line in d.log().splitlines() if "no tray" in line]
        assert len(hint) == 1, d.log()
        for words in ("AppIndicator extension", "gnome-shell-extension-appindicator", "vcamd effect blur",
                      "vcamd next", "vcamd pause", "vcamd status", "vcamd set KEY VALUE",
                      "running without a tray"):
            assert words in hint[0], (words, hint[0])
        assert d.vcamd("status").stdout.startswith("live · blur")
        doctor = d.vcamd("doctor", "--config", str(config)).stdout
        assert "FAIL  no tray: this desktop shows no tray icons" in doctor, doctor
        assert "fix: on GNOME install and enable the AppIndicator extension" in doctor, doctor

        start_host(session, "xfce4-panel")
        wait_for(lambda: "a tray host has come up" in d.log(), what="the tray, once a host is there")
        live = icons.COLORS[State.LIVE]
        wait_for(lambda: pixels_like(session.screenshot(), live, PANEL) > 100, what="the icon in the panel")
        assert len([line for line in d.log().splitlines() if "no tray" in line]) == 1  # said once
