"""What PipeWire has now: this user's daemon, its camera nodes, and the links that leave our node.

Promises:
- ``socket_path()`` is this user's PipeWire socket; ``daemon_running()`` whether the daemon accepts
  connections on it; ``socket_stamp()`` changes when the daemon made its socket again (a restart).
- ``camera_nodes()`` lists the ``Video/Source`` nodes PipeWire has now (for ``vcamd devices`` and ``vcamd
  doctor``); [] when PipeWire does not run or ``pw-dump`` is missing.
- ``GraphWatch(node_name, on_change)`` follows PipeWire's own events (``pw-dump --monitor``) from a thread:
  ``node_id`` is the id of the node named ``node_name``, ``in_use`` whether some link leaves it, ``alive``
  whether the watcher still runs (it exits when the daemon goes away). ``on_change`` is called from the
  watching thread when ``in_use`` changes and when the watcher ends. The ``pw-dump`` it starts ends with
  vcamd, even when vcamd is killed; ``close()`` ends it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

log = logging.getLogger(__name__)


def socket_path() -> str:
    """The PipeWire daemon's socket for this user (``PIPEWIRE_REMOTE`` or ``$XDG_RUNTIME_DIR/pipewire-0``)."""
    remote = os.environ.get("PIPEWIRE_REMOTE", "pipewire-0")
    if os.path.isabs(remote):
        return remote
    runtime = os.environ.get("PIPEWIRE_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR") or ""
    return os.path.join(runtime, remote) if runtime else ""


def daemon_running() -> bool:
    """True when this user's PipeWire daemon accepts connections."""
    path = socket_path()
    if not path:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def socket_stamp() -> tuple[int, int] | None:
    """The socket's (inode, mtime): another value once the daemon made it again; None when there is none."""
    try:
        st = os.stat(socket_path())
    except (OSError, ValueError):
        return None
    return (st.st_ino, st.st_mtime_ns)


@dataclass(frozen=True)
class Node:
    """One PipeWire ``Video/Source`` node."""

    id: int
    name: str
    description: str


def _kind(obj: dict[str, Any]) -> str:
    return str(obj.get("type", "")).rsplit(":", 1)[-1]


def _props(obj: dict[str, Any]) -> dict[str, Any]:
    return (obj.get("info") or {}).get("props") or {}


def camera_nodes() -> list[Node]:
    """The Video/Source nodes PipeWire has now; [] when it does not run or ``pw-dump`` is missing."""
    if shutil.which("pw-dump") is None or not daemon_running():
        return []
    try:
        out = subprocess.run(["pw-dump", "-N"], capture_output=True, text=True, timeout=5)
        objects = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else []
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return []
    return [Node(int(o["id"]), str(_props(o).get("node.name", "")),
                 str(_props(o).get("node.description", "")))
            for o in objects if _kind(o) == "Node" and _props(o).get("media.class") == "Video/Source"]


def _documents(stream: IO[str]) -> Any:
    """The JSON arrays ``pw-dump --monitor`` prints one after another (each opens with "[" on a line)."""
    lines: list[str] = []
    for line in stream:
        lines.append(line)
        if line.rstrip() == "]":
            try:
                yield json.loads("".join(lines))
            except json.JSONDecodeError:
                log.debug("pw-dump printed something that is not JSON; skipped")
            lines = []


def _ended_with_vcamd(argv: list[str]) -> list[str]:
    """``argv`` run so that the kernel ends it when vcamd dies, even by SIGKILL (PR_SET_PDEATHSIG, through
    util-linux's ``setpriv``); as it is where there is no setpriv (it then ends at the next graph event, when
    its output pipe has no reader).

    No Python function runs in the child: Python code between fork and exec may free objects whose native
    locks belonged to threads the child no longer has (a video decoder's, the model runtime's) and wait
    forever, and the thread that started the child with it (the worker).
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


class GraphWatch:
    """Follows PipeWire's graph through ``pw-dump --monitor``: our node's id and the links leaving it."""

    def __init__(self, name: str, on_change: Callable[[], None]) -> None:
        self.name = name
        self.node_id: int | None = None
        self._nodes: dict[int, str] = {}  # node id -> node.name, of every node
        self._links: dict[int, int] = {}  # link id -> output node id
        self._on_change = on_change
        self._in_use = False
        self._proc = subprocess.Popen(
            _ended_with_vcamd(["pw-dump", "--monitor", "-N"]), stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
        )
        self._thread = threading.Thread(target=self._run, name="vcamd-pipewire-watch", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def in_use(self) -> bool:
        return self._in_use and self.alive

    def _run(self) -> None:
        assert self._proc.stdout is not None
        try:
            for doc in _documents(self._proc.stdout):
                self._update(doc)
        except (OSError, ValueError):
            pass
        self._proc.wait()
        self._on_change()  # the daemon went away (or close() stopped us)

    def _update(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            oid, info = int(obj.get("id", -1)), obj.get("info")
            if info is None:  # removed
                self._nodes.pop(oid, None)
                self._links.pop(oid, None)
                continue
            kind = _kind(obj)
            if kind == "Node" and "node.name" in _props(obj):
                self._nodes[oid] = str(_props(obj)["node.name"])
            elif kind == "Link" and "output-node-id" in info:
                self._links[oid] = int(info["output-node-id"])
        ours = [i for i, n in self._nodes.items() if n == self.name]
        self.node_id = min(ours) if ours else None
        in_use = self.node_id is not None and self.node_id in self._links.values()
        if in_use != self._in_use:
            self._in_use = in_use
            self._on_change()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._thread.join(2.0)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
