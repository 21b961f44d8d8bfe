"""``vcamd setup`` / ``vcamd doctor`` on apt, dnf, pacman and zypper systems, with packages absent.

The distribution and its package database are stand-ins the test controls: an os-release file, and fake
``dpkg-query`` / ``rpm`` / ``pacman`` (speaking the real tools' output formats) reading a list of installed
packages; fake ``apt-get`` / ``dnf`` / ``pacman -S`` / ``zypper`` and ``sudo`` log their command line and
"install" into that list. Nothing on this machine is uninstalled or installed. The expected package names
are written out here, not taken from vcamd's table.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

from vcamd import cli
from vcamd import distro as distro_mod
from vcamd.commands import setup


@dataclass(frozen=True)
class Distro:
    os_release: str
    install: str  # the install command, without sudo and packages
    runtime: tuple[str, ...]  # every run-time package, in the order vcamd lists them
    absent: tuple[str, ...]  # of those, the ones the fake database lacks
    build: tuple[str, ...]  # what building PyGObject takes (all absent), Python's headers last
    python_headers: str


DISTROS = {
    "debian": Distro(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', "apt-get install -y",
        ("gir1.2-gtk-3.0", "gir1.2-ayatanaappindicator3-0.1", "gir1.2-gstreamer-1.0",
         "gir1.2-gst-plugins-base-1.0", "gstreamer1.0-plugins-base", "gstreamer1.0-pipewire", "pipewire-bin"),
        ("gir1.2-ayatanaappindicator3-0.1", "gstreamer1.0-pipewire"),
        ("gcc", "pkg-config", "libgirepository1.0-dev", "libcairo2-dev"), "python3-dev"),
    "ubuntu": Distro(
        'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "apt-get install -y",
        ("gir1.2-gtk-3.0", "gir1.2-ayatanaappindicator3-0.1", "gir1.2-gstreamer-1.0",
         "gir1.2-gst-plugins-base-1.0", "gstreamer1.0-plugins-base", "gstreamer1.0-pipewire", "pipewire-bin"),
        ("gir1.2-gtk-3.0",),
        ("gcc", "pkg-config", "libgirepository1.0-dev", "libcairo2-dev"), "python3-dev"),
    "fedora": Distro(
        'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=41\n', "dnf install -y",
        ("gtk3", "libayatana-appindicator-gtk3", "gstreamer1", "gstreamer1-plugins-base",
         "pipewire-gstreamer", "pipewire-utils"),
        ("libayatana-appindicator-gtk3", "gstreamer1-plugins-base", "pipewire-gstreamer"),
        ("gcc", "pkgconf-pkg-config", "gobject-introspection-devel", "cairo-devel"), "python3-devel"),
    "manjaro": Distro(
        'NAME="Manjaro Linux"\nID=manjaro\nID_LIKE=arch\n', "pacman -S --needed --noconfirm",
        ("gtk3", "libayatana-appindicator", "gstreamer", "gst-plugins-base-libs", "gst-plugins-base",
         "gst-plugin-pipewire", "pipewire"),
        ("gst-plugin-pipewire", "pipewire"),
        ("gcc", "pkgconf", "gobject-introspection", "cairo"), "python"),
    "opensuse": Distro(
        'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n',
        "zypper --non-interactive install",
        ("typelib-1_0-Gtk-3_0", "typelib-1_0-AyatanaAppIndicator3-0_1", "typelib-1_0-Gst-1_0",
         "typelib-1_0-GstApp-1_0", "typelib-1_0-GstVideo-1_0", "gstreamer-plugins-base",
         "gstreamer-plugin-pipewire", "pipewire-tools"),
        ("typelib-1_0-AyatanaAppIndicator3-0_1", "typelib-1_0-GstVideo-1_0"),
        ("gcc", "pkg-config", "gobject-introspection-devel", "cairo-devel"), "python3-devel"),
}

FAKES = {
    # dpkg-query -W -f '${Package} ${db:Status-Status}\n' NAME...
    "dpkg-query": """
        echo "dpkg-query $*" >> "$QUERIES"; rc=0
        for p in "$@"; do case "$p" in -*|*'$'*) continue;; esac
          if grep -qx "$p" "$DB"; then echo "$p installed"
          else echo "dpkg-query: no packages found matching $p" >&2; rc=1; fi
        done; exit $rc""",
    # rpm -q --whatprovides NAME...
    "rpm": """
        echo "rpm $*" >> "$QUERIES"; rc=0
        for p in "$@"; do case "$p" in -*) continue;; esac
          if grep -qx "$p" "$DB"; then echo "$p-1.0-1.x86_64"
          else echo "no package provides $p"; rc=$((rc+1)); fi
        done; exit $rc""",
    # pacman -T NAME... (prints the unsatisfied ones), pacman -S --needed --noconfirm NAME...
    "pacman": """
        if [ "$1" = -T ]; then echo "pacman $*" >> "$QUERIES"; shift; rc=0
          for p in "$@"; do grep -qx "$p" "$DB" || { echo "$p"; rc=127; }; done; exit $rc
        fi
        echo "pacman $*" >> "$LOG"
        for p in "$@"; do case "$p" in -*) ;; *) echo "$p" >> "$DB";; esac; done""",
    "sudo": 'echo "sudo $*" >> "$LOG"; exec "$@"',
}
for _pm, _skip in (("apt-get", 2), ("dnf", 2), ("zypper", 2)):
    FAKES[_pm] = f"""
        echo "{_pm} $*" >> "$LOG"
        for p in "$@"; do case "$p" in -*|install|update) ;; *) echo "$p" >> "$DB";; esac; done"""


@dataclass
class FakeSystem:
    distro: Distro
    root: Path
    db: Path
    log: Path
    os_release: Path
    env: dict[str, str]

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def queries(self) -> int:
        """How many times the package database was asked."""
        path = self.root / "queries.log"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def installed(self) -> list[str]:
        return self.db.read_text().split()


def fake_system(tmp: Path, name: str, installed: list[str]) -> FakeSystem:
    """A bin folder of stand-ins first on PATH, a package database holding ``installed``, an os-release."""
    distro = DISTROS[name]
    bin_dir = tmp / "bin"
    bin_dir.mkdir(parents=True)
    for tool, body in FAKES.items():
        (bin_dir / tool).write_text("#!/bin/sh\n" + textwrap.dedent(body).strip() + "\n")
        (bin_dir / tool).chmod(0o755)
    db, log, release = tmp / "installed", tmp / "calls.log", tmp / "os-release"
    db.write_text("".join(f"{p}\n" for p in ["bash", "coreutils", *installed]))
    release.write_text(distro.os_release)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "DB": str(db), "LOG": str(log),
           "QUERIES": str(tmp / "queries.log")}
    return FakeSystem(distro, tmp, db, log, release, env)


@pytest.fixture(params=sorted(DISTROS))
def system(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystem:
    """This process on a fake distribution: run-time packages installed except ``absent``, none to build."""
    distro = DISTROS[request.param]
    fake = fake_system(tmp_path, request.param, [p for p in distro.runtime if p not in distro.absent])
    for key, value in fake.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(distro_mod, "OS_RELEASE", (fake.os_release,))
    return fake


def desktop_line(out: str) -> tuple[str, str]:
    """The doctor's desktop line and the fix under it."""
    lines = out.splitlines()
    [i] = [n for n, line in enumerate(lines) if "tray and PipeWire camera" in line]
    fix = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].strip().startswith("fix:") else ""
    return lines[i], fix.removeprefix("fix: ")


def test_doctor_names_exactly_the_missing_packages(
    system: FakeSystem, capsys: pytest.CaptureFixture[str]
) -> None:
    d = system.distro
    cli.main(["doctor"])
    line, fix = desktop_line(capsys.readouterr().out)
    assert line.startswith("FAIL  tray and PipeWire camera: missing")
    assert fix == f"{d.install} {' '.join(d.absent)}"  # root: no sudo
    assert system.calls() == []  # the doctor installs nothing


def test_setup_as_root_installs_them_then_doctor_is_content(
    system: FakeSystem, capsys: pytest.CaptureFixture[str]
) -> None:
    d = system.distro
    assert cli.main(["setup"]) == 0
    assert system.calls() == [f"{d.install} {' '.join(d.absent)}"]
    assert set(d.runtime) <= set(system.installed())
    cli.main(["doctor"])
    line, fix = desktop_line(capsys.readouterr().out)
    assert line.startswith("ok    tray and PipeWire camera:") and fix == ""


def test_without_pygobject_the_fix_adds_the_build_packages_and_pip(
    system: FakeSystem, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    d = system.distro
    monkeypatch.setitem(sys.modules, "gi", None)  # `import gi` fails as where PyGObject is absent
    headers = () if Path(sysconfig.get_paths()["include"], "Python.h").exists() else (d.python_headers,)
    cli.main(["doctor"])
    line, fix = desktop_line(capsys.readouterr().out)
    assert f"PyGObject in {sys.prefix}" in line
    packages = " ".join((*d.absent, *d.build, *headers))
    assert fix == f"{d.install} {packages} && {sys.executable} -m pip install 'PyGObject<3.51,>=3.42'"


def run_setup(fake: FakeSystem, *args: str, uid: int = 1000, stdin: int | None = subprocess.DEVNULL,
              extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``vcamd setup ARGS`` in a fresh process on the fake system, as a user that is not root."""
    code = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        import vcamd.distro
        vcamd.distro.OS_RELEASE = (Path({str(fake.os_release)!r}),)
        os.geteuid = lambda: {uid}  # the user is not root; everything else is as it is
        from vcamd.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    env = {**os.environ, **fake.env, **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", code, "setup", *args], env=env, stdin=stdin,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("name", ["debian", "fedora"])
def test_as_a_user_it_prints_the_sudo_command_and_carries_on(tmp_path: Path, name: str) -> None:
    d = DISTROS[name]
    fake = fake_system(tmp_path, name, [p for p in d.runtime if p not in d.absent])
    r = run_setup(fake)  # stdin is no terminal: nothing is asked, nothing run
    command = f"sudo {d.install} {' '.join(d.absent)}"
    assert command in r.stderr.splitlines()[1]
    assert r.stderr.splitlines()[-1].endswith(f"; fix: {command}")
    assert r.returncode == 1 and fake.calls() == []
    r = run_setup(fake, "--yes")
    assert r.returncode == 0, r.stderr
    assert fake.calls() == [command, f"{d.install} {' '.join(d.absent)}"]  # sudo, then the manager


def test_at_a_terminal_it_asks_and_runs_sudo_on_yes(tmp_path: Path) -> None:
    d = DISTROS["debian"]
    fake = fake_system(tmp_path, "debian", [p for p in d.runtime if p not in d.absent])
    master, slave = pty.openpty()
    try:
        os.write(master, b"n\n")
        r = run_setup(fake, stdin=slave)
        assert "Run it now with sudo? [y/N]" in r.stdout and fake.calls() == [] and r.returncode == 1
        os.write(master, b"y\n")
        r = run_setup(fake, stdin=slave)
    finally:
        os.close(master)
        os.close(slave)
    assert r.returncode == 0, r.stderr
    assert fake.calls()[0] == f"sudo {d.install} {' '.join(d.absent)}"


def test_no_desktop_no_setup_and_not_a_word(tmp_path: Path) -> None:
    d = DISTROS["debian"]
    fake = fake_system(tmp_path, "debian", [])
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code = textwrap.dedent(f"""
        import logging, sys
        from pathlib import Path
        import vcamd.distro
        from vcamd.commands import setup
        vcamd.distro.OS_RELEASE = (Path({str(fake.os_release)!r}),)
        from vcamd.cli import main, setup_logging
        setup_logging(0)
        setup.on_start()  # what vcamd run does first
        sys.exit(main(["setup", "--auto"]))
    """)
    r = subprocess.run([sys.executable, "-c", code], env={**env, **fake.env}, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert fake.calls() == [] and d.runtime  # everything was missing, and nothing was done


def test_first_run_on_a_desktop_offers_once_then_starts_no_program(
    system: FakeSystem, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    d = system.distro
    monkeypatch.setenv("DISPLAY", ":99")
    setup.on_start()  # first run: as root, installs
    assert system.calls() == [f"{d.install} {' '.join(d.absent)}"]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    asked = system.queries()
    setup.on_start()  # later runs, all there (this machine has it all): nothing asked, nothing said
    assert system.queries() == asked and len(system.calls()) == 1
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_later_run_without_pygobject_says_one_line_with_the_fix(
    system: FakeSystem, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    d = system.distro
    monkeypatch.setenv("DISPLAY", ":99")
    setup._offered_marker().parent.mkdir(parents=True)
    setup._offered_marker().touch()  # the first run was earlier
    monkeypatch.setitem(sys.modules, "gi", None)  # `import gi` fails as where PyGObject is absent
    setup.on_start()
    assert system.calls() == []  # offered once already: no install now
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(f"tray and PipeWire camera: missing PyGObject in {sys.prefix} ")
    headers = () if Path(sysconfig.get_paths()["include"], "Python.h").exists() else (d.python_headers,)
    packages = " ".join((*d.absent, *d.build, *headers))
    assert warning.endswith(f"; fix: {d.install} {packages} && {sys.executable} -m pip install "
                            "'PyGObject<3.51,>=3.42'")


def test_unknown_distribution_says_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = tmp_path / "os-release"
    release.write_text('ID=gentoo\n')
    monkeypatch.setattr(distro_mod, "OS_RELEASE", (release,))
    ok, what, _ = setup.doctor_check()
    assert ok is None and "cannot tell which packages on gentoo" in what
    assert "GStreamer PipeWire plugin" in what


def test_one_table_names_the_packages_for_the_distribution_or_for_each(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The outputs' fixes come from the table setup installs from: this distribution's command where it is
    known, every distribution's where it is not."""
    plugin = (distro_mod.GST_PIPEWIRE,)
    release = tmp_path / "os-release"
    release.write_text('ID=fedora\n')
    monkeypatch.setattr(distro_mod, "OS_RELEASE", (release,))
    assert distro_mod.install_hint(plugin) == "sudo dnf install pipewire-gstreamer"
    release.write_text('ID=pop\nID_LIKE="ubuntu debian"\n')
    assert distro_mod.install_hint(plugin) == "sudo apt install gstreamer1.0-pipewire"
    release.write_text("ID=nixos\n")
    assert distro_mod.install_hint(plugin) == (
        "Debian/Ubuntu: sudo apt install gstreamer1.0-pipewire; Fedora: sudo dnf install pipewire-gstreamer; "
        "Arch: sudo pacman -S gst-plugin-pipewire; openSUSE: sudo zypper install gstreamer-plugin-pipewire")
    assert all(p in distro_mod.PIECES for p in (*plugin, distro_mod.GST, distro_mod.PW_DUMP))
