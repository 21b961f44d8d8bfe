"""The tray icon and its menu (pystray), on the main thread; it talks to the daemon only through Control.

Promises:
- ``Tray(control)`` raises :class:`~vcamd.desktop.tray_host.TrayUnavailable` (one line: what is missing,
  the fix) where no tray can be shown; which backend, and why, is :mod:`vcamd.desktop.tray_host`'s choice.
- The menu is the same on every backend and holds everything (appindicator has no click action); the status
  line comes first.
- ``run()`` blocks until the Quit item (which also calls ``control.stop()``) or ``stop()``; ``stop()`` may be
  called from any thread, before or during ``run()``. An exception in pystray's set-up thread is logged and
  ends the tray (``run()`` returns, :attr:`Tray.failed` is True): it never leaves ``run()`` blocked.
- Every menu choice goes through ``control.apply`` (or ``step_background`` / ``stop``) and so applies at once
  and is saved to the settings file with its comments kept. A choice that fails (a :class:`VcamdError`) is
  logged and shown in the status line; the tray keeps running.
- "Show preview..." starts ``vcamd preview`` (:mod:`vcamd.desktop.preview`) as a process of its own, one
  at a time: a crash or close of its window never touches the daemon.
- The icon (see :mod:`vcamd.desktop.icons`) follows the daemon's state from ``control.subscribe``; the status
  line (state, effect, fps, ms per frame) is refreshed every few seconds too.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any

from vcamd import effect_kinds
from vcamd.config import EffectSettings
from vcamd.desktop import autostart, icons
from vcamd.desktop.tray_host import load_pystray
from vcamd.errors import VcamdError
from vcamd.service import control as ctl
from vcamd.service.control import Control, Status

log = logging.getLogger(__name__)

#: Effect submenu: label -> ``effect.name``, the kinds with a label. "Replace" also shows as chosen for the
#: other kinds that replace the background (video, slideshow).
EFFECTS: tuple[tuple[str, str], ...] = tuple((k.label, k.name) for k in effect_kinds.KINDS if k.label)
#: Blur strength submenu: label -> ``effect.blur_strength``.
BLUR_PRESETS: tuple[tuple[str, int], ...] = (("Light", 30), ("Medium", 60), ("Strong", 90))
#: What the Background menu's Light wrap turns it back on at: the setting's default.
LIGHT_WRAP: float = EffectSettings.model_fields["light_wrap"].default
REFRESH_SECONDS = 3.0
STATUS_CHARS = 70
def open_command(path: Path, platform: str = sys.platform) -> list[str] | None:
    """The command that opens ``path`` in the user's editor (``None``: use ``os.startfile`` on Windows)."""
    if platform == "win32":
        return None
    return ["open" if platform == "darwin" else "xdg-open", str(path)]


def open_in_editor(path: Path) -> None:
    """Open ``path`` with the desktop's default application."""
    cmd = open_command(path)
    if cmd is None:
        os.startfile(path)  # type: ignore[attr-defined,unused-ignore]  # Windows only
        return
    try:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        raise VcamdError(f"cannot run {cmd[0]} to open {path}; open the file yourself") from None


class Tray:
    """The tray icon of a running daemon."""

    def __init__(self, control: Control) -> None:
        self._pystray = load_pystray()
        self._backend = self._pystray.Icon.__module__.rsplit("._", 1)[-1]
        self._control = control
        self._stopping = threading.Event()
        self.failed = False  # the set-up thread failed and ended the tray
        self._error = ""
        self._refresh_error = ""
        self._interrupted = False
        self._status = control.status()
        self._preview: subprocess.Popen[bytes] | None = None
        self.icon: Any = self._pystray.Icon(
            "vcamd", icon=icons.icon(self._status.state), title=self._title(), menu=self._menu()
        )
        control.subscribe(self._on_status)

    # --- life cycle ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Show the icon and handle its events until Quit or :meth:`stop`; call on the main thread."""
        if self._stopping.is_set():
            return
        restore_sigint = self._keep_sigint_handler()
        try:
            self.icon.run(setup=self._setup)
        except Exception:
            if not self._stopping.is_set():
                raise
            # pystray's gtk and appindicator backends close a notification they never opened, which fails
            # on desktops without a notification service; the tray is already gone, so that is harmless
            log.debug("tray: error while closing (ignored)", exc_info=True)
        finally:
            restore_sigint()
        if self._interrupted:
            raise KeyboardInterrupt

    def _keep_sigint_handler(self) -> Callable[[], None]:
        """pystray's gtk backends reset SIGINT to "kill"; give Ctrl+C back to the caller.

        Python's default handler becomes: stop the tray, then ``run`` raises KeyboardInterrupt. Returns the
        function that puts the caller's handler back.
        """
        handler = signal.getsignal(signal.SIGINT)
        if self._backend not in ("gtk", "appindicator") or handler is None:
            return lambda: None
        from gi.repository import GLib

        def on_sigint(signum: int, frame: object) -> None:
            self._interrupted = True
            self.stop()

        def take_over() -> bool:
            signal.signal(signal.SIGINT, on_sigint if handler is signal.default_int_handler else handler)
            return False

        def give_back() -> None:
            signal.signal(signal.SIGINT, handler)

        GLib.idle_add(take_over)  # runs on the main loop, after pystray's set-up
        return give_back

    def stop(self) -> None:
        """Hide the icon and make :meth:`run` return; safe from any thread, and before ``run``."""
        self._stopping.set()  # _setup wakes up and ends the loop

    def _setup(self, icon: Any) -> None:
        """pystray's setup thread: show the icon, keep the status line fresh, and end the loop on stop.

        Whatever fails here, the loop is ended, so ``run()`` returns: a failed refresh is logged (once per
        distinct error) and the tray goes on; a failure outside the refresh ends the tray.
        """
        try:
            icon.visible = True
            while not self._stopping.wait(REFRESH_SECONDS):
                self._refresh()
        except Exception:
            log.exception("tray: the icon failed; going on without a tray")
            self.failed = True
            self._stopping.set()
        finally:
            try:
                icon.visible = False  # queued before the loop's end, so the icon leaves the tray
            except Exception:
                log.debug("tray: hiding the icon failed", exc_info=True)
            icon.stop()

    def _refresh(self) -> None:
        """The periodic status refresh; an error is logged once and the next refresh tries again."""
        try:
            self._on_status(self._control.status())
        except Exception as e:
            if repr(e) != self._refresh_error:
                self._refresh_error = repr(e)
                log.exception("tray: the status refresh failed (logged once; the tray goes on)")

    # --- state shown ---------------------------------------------------------------------------------

    def _on_status(self, status: Status) -> None:
        """Follow the daemon: new icon on a state change, fresh tooltip and status line always."""
        old, self._status = self._status, status
        if status.state is not old.state:
            self.icon.icon = icons.icon(status.state)
        self.icon.title = self._title()
        self.icon.update_menu()

    def status_line(self) -> str:
        """What the first menu line says: the daemon's status, or the last failed choice."""
        text = f"⚠ {self._error}" if self._error else self._status.line()
        return text if len(text) <= STATUS_CHARS else text[: STATUS_CHARS - 1] + "…"

    def _title(self) -> str:
        return f"vcamd: {self._error or self._status.line()}"

    # --- actions -------------------------------------------------------------------------------------

    def _do(self, action: Callable[..., object], *args: Any) -> None:
        """Run a menu action; a VcamdError is logged and shown, never raised into the GUI loop."""
        try:
            action(*args)
        except VcamdError as e:
            log.warning("tray: %s", e)
            self._error = str(e)
        else:
            self._error = ""
        self.icon.title = self._title()

    def _backgrounds(self) -> list[Path]:
        return self._control.backgrounds()

    def choose_effect(self, name: str) -> None:
        """Switch effect; Replace with no background set takes the first image of the backgrounds folder."""
        self._control.apply(ctl.effect_changes(self._control.settings(), name, self._backgrounds()))

    def step_background(self, n: int) -> None:
        """The slideshow's ``n``-th next (negative: previous) image, or else the one ``n`` after the current
        image in the backgrounds folder."""
        ctl.step_background(self._control, n)

    def toggle_autostart(self) -> None:
        """Start at login on or off, with the same code as ``vcamd autostart``."""
        if autostart.is_enabled():
            autostart.disable()
        else:
            autostart.enable(extra=autostart.config_args(self._control.settings_path()))

    def show_preview(self) -> None:
        """Open the preview window (``vcamd preview`` as a child process), unless one is open already."""
        if self._preview is not None and self._preview.poll() is None:
            return
        try:
            self._preview = subprocess.Popen([sys.executable, "-m", "vcamd", "preview"],
                                             stdin=subprocess.DEVNULL)
        except OSError as e:
            why = e.strerror or e
            raise VcamdError(f"cannot start vcamd preview ({why}); run it in a terminal") from None
        threading.Thread(target=self._preview.wait, name="vcamd-preview-wait", daemon=True).start()

    def quit(self) -> None:
        """Stop the daemon and the tray."""
        self._control.stop()
        self.stop()

    # --- menu ----------------------------------------------------------------------------------------

    def _menu(self) -> Any:
        ps = self._pystray
        item, sep = ps.MenuItem, ps.Menu.SEPARATOR

        def act(action: Callable[..., object], *args: Any) -> Callable[[], None]:
            return lambda: self._do(action, *args)

        def setting(dotted: str) -> Any:
            return attrgetter(dotted)(self._control.settings())

        def radio(label: str, dotted: str, value: Any, extra: dict[str, Any] | None = None) -> Any:
            return item(label, act(self._control.apply, {**(extra or {}), dotted: value}),
                        checked=lambda _: setting(dotted) == value, radio=True)

        def toggle(label: str, dotted: str) -> Any:
            return item(label, act(lambda: self._control.apply({dotted: not setting(dotted)})),
                        checked=lambda _: bool(setting(dotted)))

        def effect_item(label: str, name: str) -> Any:
            names = effect_kinds.REPLACING if name == "image" else (name,)
            return item(label, act(self.choose_effect, name),
                        checked=lambda _: setting("effect.name") in names, radio=True)

        def background_items() -> Iterator[Any]:
            images = self._backgrounds()
            for p in images:
                yield radio(p.stem, "effect.background", str(p), {"effect.name": "image"})
            if not images:
                yield item("No images: set effect.backgrounds_dir", None, enabled=False)
            yield sep
            yield item("Previous", act(self.step_background, -1))
            yield item("Next", act(self.step_background, 1))
            yield sep
            wrap = "effect.light_wrap"  # off, or back on at its default strength
            flip = act(lambda: self._control.apply({wrap: 0.0 if setting(wrap) else LIGHT_WRAP}))
            yield item("Light wrap", flip, checked=lambda _: setting(wrap) > 0)

        return ps.Menu(
            item(lambda _: self.status_line(), None, enabled=False),
            sep,
            item("Effect", ps.Menu(*(effect_item(label, name) for label, name in EFFECTS))),
            item("Background", ps.Menu(background_items)),
            item("Blur strength", ps.Menu(*(radio(label, "effect.blur_strength", v, {"effect.name": "blur"})
                                            for label, v in BLUR_PRESETS))),
            toggle("Mirror", "effect.mirror"),
            toggle("Auto-frame", "framing.auto"),
            toggle("Pause camera", "daemon.privacy"),
            sep,
            item("Show preview...", act(self.show_preview)),
            item("Start at login", act(self.toggle_autostart), checked=lambda _: autostart.is_enabled()),
            item("Open config", act(lambda: open_in_editor(self._control.settings_path(create=True)))),
            sep,
            item("Quit", self.quit),
        )
