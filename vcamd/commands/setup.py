"""``vcamd setup``: what the Linux desktop path needs, the tray and the PipeWire camera, installed or named.

Two kinds of pieces:
- **PyGObject in this Python** (``import gi``), built by pip against the system's GObject introspection:
  it works for whatever Python the venv was made from (Debian's ``python3-gi`` only loads in the
  distribution's own CPython minor version) and keeps the venv free of the system's site-packages. pip
  caches the wheel it builds, so only the very first build takes a while (~20 s). Building needs a C
  compiler, pkg-config and the GObject-introspection and cairo headers (and Python's, where the
  interpreter ships without them).
- **System packages**: GI typelibs for Gtk 3, AyatanaAppIndicator3, Gst, GstApp and GstVideo, the base
  GStreamer plugins, the GStreamer PipeWire plugin and ``pw-dump``; :data:`vcamd.distro.PIECES` names
  them for apt, dnf, pacman and zypper (one table: ``scripts/install-test-deps.sh`` calls ``vcamd setup``
  rather than listing them; the outputs' and doctor's fixes are made from it too).

Promises:
- The distribution comes from ``/etc/os-release`` (``ID``, then ``ID_LIKE``); what is installed from its
  package database (``dpkg-query``, ``rpm -q --whatprovides``, ``pacman -T``), so the command printed names
  exactly the missing packages.
- :func:`ensure`: as root, installs them with the package manager; otherwise prints the one command, runs it
  with ``sudo`` when the user agrees at the prompt (asked only when stdin is a terminal; ``--yes`` agrees
  beforehand) and carries on. Then, in a virtual environment, pip installs PyGObject (the ``tray`` extra's
  requirement).
- ``vcamd setup --auto`` (``make run``) and the first ``vcamd run`` do that only on a desktop (``DISPLAY``
  or ``WAYLAND_DISPLAY`` set, Linux); elsewhere they do nothing and say nothing.
- :func:`on_start`: what is still missing is one warning line at start, the same text and fix
  ``vcamd doctor`` lists (:func:`doctor_check`).

Standard library only (platformdirs for the one marker file), so it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vcamd.distro import BUILD, MANAGERS, PIECES, PYTHON_HEADERS, Piece, manager, os_release

log = logging.getLogger(__name__)

#: The fallback when the ``tray`` extra's requirement cannot be read from the installed metadata.
PYGOBJECT = "PyGObject>=3.42,<3.51"


def not_installed(mgr: str, packages: Sequence[str]) -> list[str] | None:
    """Those of ``packages`` the package database does not have (in order); None if it cannot be asked."""
    if not packages:
        return []
    tool = {"apt": "dpkg-query", "pacman": "pacman"}.get(mgr, "rpm")
    if shutil.which(tool) is None:
        return None
    if mgr == "apt":
        argv = ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages]
    elif mgr == "pacman":
        argv = ["pacman", "-T", *packages]  # deptest: prints the ones not satisfied (provides count)
    else:
        argv = ["rpm", "-q", "--whatprovides", *packages]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.splitlines()
    if mgr == "apt":
        have = {ln.split()[0].split(":")[0] for ln in lines if ln.split()[1:] == ["installed"]}
        missing = [p for p in packages if p not in have]
    elif mgr == "pacman":
        missing = [p for p in packages if p in {ln.strip() for ln in lines}]
    else:
        missing = [p for p in packages if f"no package provides {p}" in lines]
    return missing


def pygobject_requirement() -> str:
    """The ``tray`` extra's PyGObject requirement from this install's metadata (pyproject.toml)."""
    try:
        reqs = importlib.metadata.requires("vcamd") or []
    except importlib.metadata.PackageNotFoundError:
        reqs = []
    for req in reqs:
        spec, _, marker = req.partition(";")
        if spec.strip().lower().startswith("pygobject") and "tray" in marker:
            return spec.strip()
    return PYGOBJECT


def gi_problem() -> str | None:
    """Why ``import gi`` fails in this Python, or None when PyGObject is there."""
    try:
        importlib.invalidate_caches()
        importlib.import_module("gi")
    except ImportError as e:
        return str(e)
    return None


def in_venv() -> bool:
    return sys.prefix != sys.base_prefix


def pip_command(quiet: bool = False) -> list[str]:
    """The command that puts PyGObject into this Python (``pipx inject`` for a pipx install, so that
    ``pipx reinstall`` keeps it)."""
    req = pygobject_requirement()
    if (Path(sys.prefix) / "pipx_metadata.json").exists() and shutil.which("pipx"):
        return ["pipx", "inject", *(["--quiet"] if quiet else []), Path(sys.prefix).name, req]
    return [sys.executable, "-m", "pip", "install", *(["--quiet"] if quiet else []),
            *([] if in_venv() else ["--user"]), req]


def _is_root() -> bool:
    return os.geteuid() == 0


@dataclass
class Report:
    """What the desktop path lacks here, and the one command that fixes it."""

    manager: str | None
    distro: str
    missing: list[tuple[Piece, list[str]]] = field(default_factory=list)  # pieces and their packages
    gi_error: str | None = None
    unknown: bool = False  # the distribution or its package database could not be asked

    @property
    def packages(self) -> list[str]:
        """The missing system packages, each once, in table order."""
        return list(dict.fromkeys(p for _, pkgs in self.missing for p in pkgs))

    def install_argv(self) -> list[str]:
        """The package manager's command for :attr:`packages` (with ``sudo`` unless root); [] if none."""
        if not self.packages or self.manager is None:
            return []
        return [*([] if _is_root() else ["sudo"]), *MANAGERS[self.manager][0], *self.packages]

    @property
    def complete(self) -> bool:
        return not self.missing and self.gi_error is None and not self.unknown

    def fix(self) -> str:
        """One shell line: the package manager's command, then the pip one (if PyGObject is missing)."""
        steps = []
        if self.install_argv():
            steps.append(shlex.join(self.install_argv()))
        elif self.unknown:
            steps.append("install them with your distribution's package manager")
        if self.gi_error is not None:
            steps.append(shlex.join(pip_command()))
        return " && ".join(steps)

    def what(self) -> str:
        """One line naming what is missing (or present), for the start of ``vcamd run`` and the doctor."""
        if self.complete:
            return f"tray and PipeWire camera: PyGObject and the system packages ({self.manager}) are there"
        parts = []
        if self.gi_error is not None:
            parts.append(f"PyGObject in {sys.prefix} (Python bindings for the tray and the PipeWire camera)")
        uses: dict[str, list[str]] = {}
        for piece, pkgs in self.missing:
            for pkg in pkgs:
                uses.setdefault(pkg, []).append(piece.what)
        parts += [f"{pkg} ({', '.join(whats)})" for pkg, whats in uses.items()]
        if self.unknown:
            pieces = [p.what for p in (*PIECES, *(BUILD if self.gi_error else ()))]
            parts.append(f"cannot tell which packages on {self.distro or 'this system'}; it needs: "
                         + ", ".join(pieces))
        return "tray and PipeWire camera: missing " + "; ".join(parts)

    def line(self) -> str:
        return f"{self.what()}; fix: {self.fix()}"


def check() -> Report:
    """What the desktop path lacks on this machine: PyGObject in this Python and the system packages."""
    release = os_release()
    mgr = manager(release)
    gi_error = gi_problem()
    pieces = list(PIECES)
    if gi_error is not None:
        pieces += BUILD
        if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
            pieces.append(PYTHON_HEADERS)
    report = Report(mgr, release.get("ID", ""), gi_error=gi_error)
    if mgr is None:
        report.unknown = True
        return report
    wanted = [p for piece in pieces for p in piece.packages(mgr)]
    absent = not_installed(mgr, list(dict.fromkeys(wanted)))
    if absent is None:
        report.unknown = True
        return report
    report.missing = [(piece, pkgs) for piece in pieces if (pkgs := [p for p in piece.packages(mgr)
                                                                     if p in absent])]
    return report


def _install(report: Report, assume_yes: bool) -> None:
    """The system packages: as root at once; else print the command and run it with sudo if agreed."""
    argv = report.install_argv()
    if not argv:
        return
    command = shlex.join(argv)
    if _is_root():
        log.info("installing for the tray and the PipeWire camera: %s", command)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(argv, env=env).returncode != 0 and report.manager == "apt":
            subprocess.run(["apt-get", "update", "-qq"], env=env)  # stale or absent package lists
            subprocess.run(argv, env=env)
        return
    log.info("the tray and the PipeWire camera need system packages; install them with:\n  %s", command)
    if not assume_yes:
        if not sys.stdin.isatty():
            return
        try:
            answer = input("Run it now with sudo? [y/N] ")
        except EOFError:
            return
        if answer.strip().lower() not in ("y", "yes"):
            return
    subprocess.run(argv)


def _build_ready(report: Report) -> bool:
    return not any(piece in (*BUILD, PYTHON_HEADERS) for piece, _ in report.missing)


def ensure(assume_yes: bool = False) -> Report:
    """Install what is missing (see the module's promises) and return what still is."""
    report = check()
    if report.complete:
        return report
    _install(report, assume_yes)
    report = check() if report.install_argv() else report
    if report.gi_error is not None and in_venv() and _build_ready(report):
        log.info("installing PyGObject into %s (built once against the system's GObject introspection)",
                 sys.prefix)
        if subprocess.run(pip_command(quiet=True)).returncode == 0:
            report = check()
    return report


def has_desktop() -> bool:
    """Linux with a display to show a tray on (``DISPLAY`` or ``WAYLAND_DISPLAY``)."""
    return sys.platform.startswith("linux") and bool(os.environ.get("DISPLAY") or
                                                     os.environ.get("WAYLAND_DISPLAY"))


def _offered_marker() -> Path:
    import platformdirs  # a vcamd dependency; kept out of the imports the bare set-up needs

    return Path(platformdirs.user_state_dir("vcamd")) / "desktop-setup-offered"


def offer(assume_yes: bool = False) -> Report:
    """:func:`ensure` on a desktop, noting that it was offered (the first ``vcamd run`` offers only once)."""
    report = ensure(assume_yes)
    marker = _offered_marker()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as e:
        log.debug("cannot note that the set-up was offered: %s", e)
    return report


#: What :func:`looks_complete` asks GObject introspection for (typelib lookups; no library is loaded).
TYPELIBS = (("Gtk", "3.0"), ("AyatanaAppIndicator3", "0.1"), ("Gst", "1.0"), ("GstApp", "1.0"),
            ("GstVideo", "1.0"))


def _gst_plugin_dirs() -> list[Path]:
    dirs = [Path(d) for var in ("GST_PLUGIN_SYSTEM_PATH_1_0", "GST_PLUGIN_SYSTEM_PATH", "GST_PLUGIN_PATH_1_0",
                                "GST_PLUGIN_PATH") for d in os.environ.get(var, "").split(os.pathsep) if d]
    for pattern in ("/usr/lib*/gstreamer-1.0", "/usr/lib/*/gstreamer-1.0", "/usr/local/lib*/gstreamer-1.0"):
        dirs += sorted(Path("/").glob(pattern.lstrip("/")))
    return dirs


def looks_complete() -> bool:
    """In this process, without starting a program: PyGObject imports, the typelibs are found, pw-dump and
    the GStreamer PipeWire plugin are there. False only hints that :func:`check` should look closer."""
    if gi_problem() is not None:
        return False
    import gi

    try:
        for namespace, version in TYPELIBS:
            gi.require_version(namespace, version)
    except ValueError:
        return False
    return shutil.which("pw-dump") is not None and any(
        (d / "libgstpipewire.so").exists() for d in _gst_plugin_dirs())


def on_start() -> None:
    """``vcamd run``: on a desktop, set up once (the first run), then say in one line what still lacks.

    After the first run it starts no program when all looks there (:func:`looks_complete`): the package
    database is asked only to name what is missing.
    """
    if not has_desktop():
        return
    if not _offered_marker().exists():
        report = offer()
    elif looks_complete():
        return
    else:
        report = check()
    if not report.complete:
        log.warning("%s", report.line())


def doctor_check() -> tuple[bool | None, str, str]:
    """(ok, what, fix) for ``vcamd doctor``: the same text and fix as the line at start."""
    report = check()
    if report.complete:
        return True, report.what(), ""
    if report.unknown and not report.missing and report.gi_error is None:
        return None, report.what(), ""
    return False, report.what(), report.fix()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--auto", action="store_true", help="only on a desktop, quietly (make run uses it)")
    parser.add_argument("--yes", action="store_true", help="run the package manager with sudo without asking")


def main(args: argparse.Namespace) -> int:
    """``vcamd setup``: 0 when everything is there afterwards, else 1; ``--auto`` (``make run``): off a
    desktop nothing at all, and always 0 (``vcamd run``, next, says in one line what still lacks)."""
    if args.auto:
        if has_desktop():
            offer(args.yes)
        return 0
    if not sys.platform.startswith("linux"):
        log.info("nothing to set up on %s", sys.platform)
        return 0
    report = ensure(assume_yes=args.yes)
    if report.complete:
        log.info("%s", report.what())
        return 0
    log.warning("%s", report.line())
    return 1
