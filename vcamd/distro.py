"""Linux distributions: who this one is, and the one table of the system packages vcamd's desktop path needs.

Promises:
- :data:`PIECES`, :data:`BUILD`, :data:`PYTHON_HEADERS` and :data:`PIPEWIRE_DAEMON` are the only place a
  distribution's package name is written: ``vcamd setup`` installs from them, ``vcamd doctor`` and the
  outputs' error messages name them (:func:`install_hint`).
- :func:`manager` is apt, dnf, pacman or zypper from ``/etc/os-release`` (``ID``, then each of ``ID_LIKE``),
  else None.
- :func:`install_hint` is the one command that installs some pieces here, or, on a distribution it does not
  know, the command for each it does.

Standard library only: ``vcamd setup`` runs it before anything else is installed.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Where the distribution says who it is (the first that exists).
OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))


@dataclass(frozen=True)
class Piece:
    """One thing the desktop path needs, what it is for, and its package name(s) per package manager."""

    what: str
    apt: tuple[str, ...]
    dnf: tuple[str, ...]
    pacman: tuple[str, ...]
    zypper: tuple[str, ...]

    def packages(self, manager: str) -> tuple[str, ...]:
        return tuple(getattr(self, manager))


def _p(what: str, apt: str, dnf: str, pacman: str, zypper: str) -> Piece:
    return Piece(what, *(tuple(names.split()) for names in (apt, dnf, pacman, zypper)))


GTK = _p("Gtk 3 typelib for the tray", "gir1.2-gtk-3.0", "gtk3", "gtk3", "typelib-1_0-Gtk-3_0")
APPINDICATOR = _p("AyatanaAppIndicator3 typelib for the tray", "gir1.2-ayatanaappindicator3-0.1",
                  "libayatana-appindicator-gtk3", "libayatana-appindicator",
                  "typelib-1_0-AyatanaAppIndicator3-0_1")
GST = _p("Gst typelib for the PipeWire camera", "gir1.2-gstreamer-1.0", "gstreamer1", "gstreamer",
         "typelib-1_0-Gst-1_0")
GST_APP = _p("GstApp and GstVideo typelibs for the PipeWire camera", "gir1.2-gst-plugins-base-1.0",
             "gstreamer1-plugins-base", "gst-plugins-base-libs",
             "typelib-1_0-GstApp-1_0 typelib-1_0-GstVideo-1_0")
GST_BASE = _p("GStreamer base plugins for the PipeWire camera", "gstreamer1.0-plugins-base",
              "gstreamer1-plugins-base", "gst-plugins-base", "gstreamer-plugins-base")
GST_PIPEWIRE = _p("GStreamer PipeWire plugin for the PipeWire camera", "gstreamer1.0-pipewire",
                  "pipewire-gstreamer", "gst-plugin-pipewire", "gstreamer-plugin-pipewire")
PW_DUMP = _p("pw-dump, to see when an app opens the PipeWire camera", "pipewire-bin", "pipewire-utils",
             "pipewire", "pipewire-tools")
#: What the tray and the PipeWire camera need at run time.
PIECES = (GTK, APPINDICATOR, GST, GST_APP, GST_BASE, GST_PIPEWIRE, PW_DUMP)
#: What pip needs to build PyGObject (and its pycairo), only while ``import gi`` fails.
BUILD = (
    _p("C compiler to build PyGObject", "gcc", "gcc", "gcc", "gcc"),
    _p("pkg-config to build PyGObject", "pkg-config", "pkgconf-pkg-config", "pkgconf", "pkg-config"),
    _p("GObject-introspection headers to build PyGObject", "libgirepository1.0-dev",
       "gobject-introspection-devel", "gobject-introspection", "gobject-introspection-devel"),
    _p("cairo headers to build PyGObject", "libcairo2-dev", "cairo-devel", "cairo", "cairo-devel"),
)
#: Only when this interpreter has no Python.h (a distribution's Python without its -dev package).
PYTHON_HEADERS = _p("Python headers to build PyGObject", "python3-dev", "python3-devel", "python",
                    "python3-devel")
#: The v4l2loopback kernel module (built for the running kernel by DKMS or akmods).
V4L2LOOPBACK = _p("v4l2loopback kernel module", "v4l2loopback-dkms", "akmod-v4l2loopback",
                  "v4l2loopback-dkms", "v4l2loopback-kmp-default")
#: The PipeWire daemon itself (a desktop has it; a server may not).
PIPEWIRE_DAEMON = _p("PipeWire and its session manager", "pipewire wireplumber", "pipewire wireplumber",
                     "pipewire wireplumber", "pipewire wireplumber")

#: Package manager -> (install command, distribution IDs it serves, the name people know them by).
MANAGERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "apt": (("apt-get", "install", "-y"), ("debian", "ubuntu"), "Debian/Ubuntu"),
    "dnf": (("dnf", "install", "-y"), ("fedora", "rhel", "centos"), "Fedora"),
    "pacman": (("pacman", "-S", "--needed", "--noconfirm"), ("arch",), "Arch"),
    "zypper": (("zypper", "--non-interactive", "install"), ("suse", "opensuse", "sles"), "openSUSE"),
}
#: What a person types (the interactive form of each manager's install).
TYPED = {"apt": "sudo apt install", "dnf": "sudo dnf install", "pacman": "sudo pacman -S",
         "zypper": "sudo zypper install"}


def os_release() -> dict[str, str]:
    """The first readable os-release file as a dict ({} if none)."""
    for path in OS_RELEASE:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        out = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.startswith("#"):
                parts = shlex.split(value, posix=True)
                out[key.strip()] = parts[0] if parts else ""
        return out
    return {}


def manager(release: dict[str, str] | None = None) -> str | None:
    """apt, dnf, pacman or zypper for this distribution (``ID``, then each of ``ID_LIKE``), else None."""
    release = os_release() if release is None else release
    for ident in [release.get("ID", ""), *release.get("ID_LIKE", "").split()]:
        for name, (_, ids, _) in MANAGERS.items():
            if ident in ids or any(ident.startswith(f"{i}-") for i in ids):
                return name
    return None


def install_hint(pieces: Iterable[Piece], mgr: str | None = None) -> str:
    """The command that installs ``pieces`` with this distribution's package manager (or ``mgr``); where it
    is not known, each distribution's command, ``Debian/Ubuntu: sudo apt install ...; Fedora: ...``."""
    pieces = tuple(pieces)

    def command(m: str) -> str:
        names = dict.fromkeys(n for p in pieces for n in p.packages(m))
        return f"{TYPED[m]} {' '.join(names)}"

    mgr = mgr or manager()
    if mgr:
        return command(mgr)
    return "; ".join(f"{MANAGERS[m][2]}: {command(m)}" for m in MANAGERS)
