"""Which tray this desktop can show, and pystray loaded for it (the tray and ``vcamd doctor`` ask here).

Promises:
- :func:`choose_backend` (Linux): pystray's appindicator (a StatusNotifierItem over D-Bus) wherever a
  StatusNotifierWatcher is on the session bus (KDE, XFCE, Cinnamon, MATE, GNOME with the AppIndicator
  extension); gtk (an XEmbed icon) only where none is and an XEmbed tray owns ``_NET_SYSTEM_TRAY_S0``;
  ``PYSTRAY_BACKEND`` wins if set. Neither host: :class:`NoTrayHost`, whose one line names the fix (GNOME:
  the AppIndicator extension) and the commands that control vcamd without a tray.
- :func:`load_pystray` imports pystray with that backend (pystray is imported only here, lazily) and raises
  :class:`TrayUnavailable` (one line: what is missing, the fix) when there is no display, pystray cannot
  load, its backend has no menu (pystray's xorg backend), or the gtk / appindicator backend has no session
  D-Bus. The log says which backend.
"""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

from vcamd import distro
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

#: The StatusNotifierItem host's bus name, and the XEmbed tray's selection (screen number appended).
SNI_WATCHER = "org.kde.StatusNotifierWatcher"
XEMBED_SELECTION = "_NET_SYSTEM_TRAY_S"
#: What controls vcamd without a tray (the README's "The command line").
CLI_CONTROL = ("vcamd effect blur|image|desaturate|color|none, vcamd next, vcamd pause, vcamd resume, "
               "vcamd status, vcamd set KEY VALUE")
NO_HOST = ("no tray: this desktop shows no tray icons (no StatusNotifierWatcher on the session bus, no "
           "XEmbed tray); on GNOME install and enable the AppIndicator extension (Debian/Ubuntu: "
           f"gnome-shell-extension-appindicator), then log in again; meanwhile use {CLI_CONTROL}")


class TrayUnavailable(VcamdError):
    """No tray can be shown here; the message says what is missing and how to fix it."""


class NoTrayHost(TrayUnavailable):
    """The desktop has no tray host at all (plain GNOME, a bare Wayland compositor)."""


def sni_watcher() -> bool | None:
    """Whether a StatusNotifierWatcher owns its name on the session bus (None: no PyGObject or no bus)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not (runtime and os.path.exists(f"{runtime}/bus")):
        return None  # asking GLib now would start a bus of its own (dbus-launch)
    try:
        from gi.repository import Gio, GLib
    except ImportError:
        return None
    try:
        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "NameHasOwner", GLib.Variant("(s)", (SNI_WATCHER,)), GLib.VariantType("(b)"),
                              Gio.DBusCallFlags.NONE, 2000, None)
    except Exception:  # GLib.Error: no session bus, or it does not answer
        return None
    return bool(reply.unpack()[0])


def xembed_tray() -> bool:
    """Whether an XEmbed system tray owns ``_NET_SYSTEM_TRAY_Sn`` on the X display (False without X)."""
    if not os.environ.get("DISPLAY"):
        return False
    try:
        from Xlib import X, display
    except ImportError:  # python-xlib comes with pystray on Linux
        return False
    try:
        d = display.Display()
    except Exception:  # Xlib's errors for a display it cannot open
        return False
    try:
        atom = d.intern_atom(f"{XEMBED_SELECTION}{d.get_default_screen()}")
        owner = d.get_selection_owner(atom)
        return getattr(owner, "id", owner) != X.NONE
    finally:
        d.close()


def _appindicator_installed() -> bool:
    """Whether libayatana-appindicator's (or libappindicator's) typelib is there for pystray to use."""
    import gi

    for namespace in ("AyatanaAppIndicator3", "AppIndicator3"):
        try:
            gi.require_version(namespace, "0.1")
        except ValueError:
            continue
        return True
    return False


def choose_backend() -> tuple[str, str] | None:
    """pystray's backend for this desktop and why, or None to leave it to pystray (not Linux, no PyGObject).

    Raises :class:`NoTrayHost` where no tray host is found, TrayUnavailable where only the appindicator
    library is missing.
    """
    forced = os.environ.get("PYSTRAY_BACKEND")
    if forced:
        return forced, "PYSTRAY_BACKEND is set"
    if sys.platform in ("darwin", "win32"):
        return None
    try:
        import gi  # noqa: F401
    except ImportError:
        return None  # pystray falls back to xorg, and load_pystray says to install PyGObject
    watcher = sni_watcher()
    if watcher and _appindicator_installed():
        return "appindicator", f"{SNI_WATCHER} is on the session bus"
    if xembed_tray():
        why = "no StatusNotifierWatcher" if not watcher else "no appindicator library"
        return "gtk", f"an XEmbed tray is there ({why})"
    if watcher:
        raise TrayUnavailable("no tray: the desktop hosts StatusNotifierItems but the appindicator library "
                              f"is missing; {distro.install_hint((distro.APPINDICATOR,))}, or use --no-tray")
    raise NoTrayHost(NO_HOST)


def load_pystray() -> ModuleType:
    """Import pystray and check that its backend can show a menu; raise TrayUnavailable otherwise."""
    if sys.platform not in ("darwin", "win32") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise TrayUnavailable("no tray: no graphical display (DISPLAY is not set); "
                              "start vcamd in your desktop session, or use --no-tray")
    chosen = choose_backend() if "pystray" not in sys.modules else None  # pystray picks at import
    saved = os.environ.get("PYSTRAY_BACKEND")
    try:
        if chosen is not None:
            os.environ["PYSTRAY_BACKEND"] = chosen[0]
        import pystray
    except Exception as e:  # pystray re-raises its last backend's error, not always an ImportError
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TrayUnavailable(f"no tray: pystray cannot start ({reason}); use --no-tray") from None
    finally:
        if saved is None:
            os.environ.pop("PYSTRAY_BACKEND", None)
        else:
            os.environ["PYSTRAY_BACKEND"] = saved
    if chosen is not None:
        log.info("tray: pystray's %s backend (%s)", pystray.Icon.__module__.rsplit("._", 1)[-1], chosen[1])
    backend = pystray.Icon.__module__.rsplit("._", 1)[-1]
    if not pystray.Icon.HAS_MENU:
        raise TrayUnavailable(
            f"no tray: pystray's {backend} backend has no menu; run vcamd setup (it installs PyGObject for "
            "the gtk and appindicator backends), or use --no-tray"
        )
    if backend in ("gtk", "appindicator"):
        from gi.repository import Gio

        try:
            Gio.bus_get_sync(Gio.BusType.SESSION, None)
        except Exception:
            raise TrayUnavailable(
                f"no tray: the {backend} tray needs a session D-Bus and none was found; start vcamd in your "
                "desktop session (or under dbus-run-session), or use --no-tray"
            ) from None
    return pystray
