"""A private desktop session for the PipeWire tests: session D-Bus, pipewire, wireplumber, and on demand
Xvfb + xdg-desktop-portal(-gtk) with the camera granted. Every process it starts it ends, by pid.

``PipeWireSession(runtime_dir)`` starts D-Bus, pipewire and wireplumber with ``XDG_RUNTIME_DIR`` = a private
folder; ``env`` is the environment a client of that session needs. ``restart_pipewire()`` kills pipewire
and wireplumber (SIGKILL, as a crash) and starts them again; ``start_portal()`` adds the display and the
Camera portal. ``objects()`` is ``pw-dump``'s list, ``camera_nodes(description)`` the ids of the camera nodes
of that name; ``close()`` (or leaving ``with``) ends everything, youngest first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO, Any

TOOLS = ("dbus-daemon", "pipewire", "wireplumber", "pw-dump")
PORTAL_DIRS = ("/usr/libexec", "/usr/lib/xdg-desktop-portal", "/usr/lib")


def missing_tools(*extra: str) -> list[str]:
    """The commands of ``TOOLS`` and ``extra`` that are not installed."""
    return [t for t in (*TOOLS, *extra) if shutil.which(t) is None and _libexec(t) is None]


def _libexec(name: str) -> str | None:
    return next((str(Path(d) / name) for d in PORTAL_DIRS if (Path(d) / name).is_file()), None)


def _end(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 3.0) -> None:
    """End one process we started (by its pid), harder if it does not go."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
    except ProcessLookupError:
        pass


class PipeWireSession:
    """A session D-Bus, pipewire and wireplumber of our own (see the module's promises)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runtime = self.root / "run"
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self.logs = self.root / "logs"
        self.logs.mkdir(exist_ok=True)
        self._procs: list[subprocess.Popen[Any]] = []
        self._pipewire: subprocess.Popen[Any] | None = None
        self._wireplumber: subprocess.Popen[Any] | None = None
        self.display = ""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PIPEWIRE_", "DBUS_", "WAYLAND_", "DISPLAY"))}
        home = self.root / "home"
        for sub in (".config", ".cache", ".local/state", ".local/share"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env.update(XDG_RUNTIME_DIR=str(self.runtime), HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_CACHE_HOME=str(home / ".cache"), XDG_STATE_HOME=str(home / ".local/state"),
                   XDG_DATA_HOME=str(home / ".local/share"), NO_AT_BRIDGE="1")
        self.env = env
        try:
            self._start_dbus()
            self.start_pipewire()
        except BaseException:
            self.close()
            raise

    # --- processes -----------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the process's life)
        kw.setdefault("stdout", log)
        kw.setdefault("env", self.env)
        proc = subprocess.Popen(argv, stderr=log, stdin=subprocess.DEVNULL, **kw)
        log.close()
        self._procs.append(proc)
        return proc

    def _start_dbus(self) -> None:
        argv = ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"]
        proc = self._spawn("dbus", argv, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        address = _readline(proc.stdout, 10.0)
        if not address:
            raise RuntimeError("dbus-daemon printed no address")
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address.strip()

    def start_pipewire(self) -> None:
        """Start pipewire, wait for its socket, then wireplumber (and wait until it manages the graph)."""
        sock = self.runtime / "pipewire-0"
        self._pipewire = self._spawn("pipewire", ["pipewire"])
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline or self._pipewire.poll() is not None:
                raise RuntimeError(f"pipewire did not start (see {self.logs / 'pipewire.log'})")
            time.sleep(0.05)
        self._wireplumber = self._spawn("wireplumber", ["wireplumber"])
        deadline = time.monotonic() + 10
        while not any(o.get("type", "").endswith(":Client") and _props(o).get("application.name") ==
                      "WirePlumber" for o in self.objects()):
            if time.monotonic() > deadline or self._wireplumber.poll() is not None:
                raise RuntimeError(f"wireplumber did not start (see {self.logs / 'wireplumber.log'})")
            time.sleep(0.1)

    def kill_pipewire(self) -> None:
        """Kill pipewire and wireplumber as a crash would (SIGKILL), and wait for them to go."""
        for proc in (self._wireplumber, self._pipewire):
            if proc is not None:
                _end(proc, signal.SIGKILL)
        (self.runtime / "pipewire-0").unlink(missing_ok=True)
        (self.runtime / "pipewire-0.lock").unlink(missing_ok=True)

    def restart_pipewire(self) -> None:
        self.kill_pipewire()
        self.start_pipewire()

    def start_portal(self) -> None:
        """Xvfb, then xdg-desktop-portal-gtk, then xdg-desktop-portal, and the camera granted to host apps."""
        read, write = os.pipe()
        xvfb = self._spawn("xvfb", ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24",
                                    "-nolisten", "tcp"], pass_fds=(write,))
        os.close(write)
        with os.fdopen(read) as f:
            number = _readline(f, 10.0).strip()
        if not number or xvfb.poll() is not None:
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        self.env.update(DISPLAY=self.display, XDG_CURRENT_DESKTOP="GNOME", GDK_BACKEND="x11")
        gtk = _libexec("xdg-desktop-portal-gtk")
        portal = _libexec("xdg-desktop-portal")
        if gtk is None or portal is None:
            raise RuntimeError("xdg-desktop-portal or xdg-desktop-portal-gtk is not installed")
        self._spawn("portal-gtk", [gtk, "--replace"])
        self._wait_bus_name("org.freedesktop.impl.portal.desktop.gtk")
        self._spawn("portal", [portal, "--replace"])
        self._wait_bus_name("org.freedesktop.portal.Desktop")
        self._gdbus("call", "--session", "--dest", "org.freedesktop.impl.portal.PermissionStore",
                    "--object-path", "/org/freedesktop/impl/portal/PermissionStore",
                    "--method", "org.freedesktop.impl.portal.PermissionStore.SetPermission",
                    "devices", "true", "camera", "", "['yes']")

    def _gdbus(self, *args: str) -> str:
        return subprocess.run(["gdbus", *args], env=self.env, capture_output=True, text=True, check=True,
                              timeout=10).stdout

    def _wait_bus_name(self, name: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self._gdbus("call", "--session", "--dest", "org.freedesktop.DBus", "--object-path",
                              "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.NameHasOwner", name)
            if "true" in out:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not appear on the session bus (see {self.logs})")

    # --- looking ---------------------------------------------------------------------------------------

    def objects(self) -> list[dict[str, Any]]:
        """Everything pipewire knows (pw-dump), or [] when it does not answer."""
        try:
            out = subprocess.run(["pw-dump", "-N"], env=self.env, capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            return []
        try:
            return list(json.loads(out.stdout)) if out.returncode == 0 and out.stdout.strip() else []
        except json.JSONDecodeError:
            return []

    def camera_nodes(self, description: str) -> list[int]:
        """Ids of the Video/Source nodes whose node.description is ``description``."""
        return [o["id"] for o in self.objects() if o.get("type", "").endswith(":Node")
                and _props(o).get("media.class") == "Video/Source"
                and _props(o).get("node.description") == description]

    def wait_camera_node(self, description: str, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.camera_nodes(description)
            if ids:
                return ids[0]
            time.sleep(0.1)
        raise AssertionError(f'no PipeWire node "{description}" within {timeout} s')

    def close(self) -> None:
        """End every process this session started, youngest first, by pid."""
        for proc in reversed(self._procs):
            _end(proc)
        self._procs.clear()

    def __enter__(self) -> PipeWireSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _props(obj: dict[str, Any]) -> dict[str, Any]:
    info = obj.get("info") or {}
    return info.get("props") or {}


def _readline(stream: IO[str], timeout: float) -> str:
    """One line from a pipe, or "" if none comes within ``timeout``."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return ""
        return stream.readline()
    finally:
        sel.close()
