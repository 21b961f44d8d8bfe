"""Headless Chromium driven over the DevTools protocol (websocket-client): the browser test's web page.

``Chromium(binary, profile, env, flags)`` starts the browser with ``--remote-debugging-port=0`` (the port it
picks is read from ``DevToolsActivePort``), ``open(url)`` loads a page in its tab and ``evaluate(js)`` runs an
async function body there and returns its JSON-able result. ``close()`` ends the browser by its pid.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket


class Chromium:
    """One headless Chromium with one tab (see the module's promises)."""

    def __init__(self, binary: str, profile: Path, env: dict[str, str], flags: list[str], log: Path) -> None:
        self.profile = profile
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(
                [binary, f"--user-data-dir={profile}", "--remote-debugging-port=0", *flags, "about:blank"],
                env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        self._ids = itertools.count(1)
        self.ws: Any = None
        try:
            port = self._port()
            pages: list[dict[str, Any]] = []
            deadline = time.monotonic() + 20
            while not pages and time.monotonic() < deadline:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                time.sleep(0.1)
            if not pages:
                raise RuntimeError("Chromium opened no page")
            self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60,
                                                  suppress_origin=True)
        except BaseException:
            self.close()
            raise

    def _port(self) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Chromium exited ({self.proc.returncode})")
            try:
                return int(active.read_text().split()[0])
            except (OSError, IndexError, ValueError):
                time.sleep(0.1)
        raise RuntimeError("Chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (events meanwhile are skipped)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    def open(self, url: str) -> None:
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = self.call("Runtime.evaluate", expression="document.readyState", returnByValue=True)
            if state["result"].get("value") == "complete":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not load")

    def evaluate(self, body: str) -> Any:
        """Run ``body`` as an async function in the page; what it returns (thrown errors raise)."""
        out = self.call("Runtime.evaluate", expression=f"(async () => {{ {body} }})()", awaitPromise=True,
                        returnByValue=True)
        if "exceptionDetails" in out:
            details = out["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details.get("text"))
        return out["result"].get("value")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
