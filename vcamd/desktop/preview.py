"""The preview window: the frames apps receive from the running daemon, live (``vcamd preview``).

Promises:
- :class:`Stream` is the daemon's preview stream over its command socket (the ``preview`` request of
  :mod:`vcamd.service.control_socket`): it raises :class:`~vcamd.service.control_socket.NotRunning` when no
  daemon listens. While it is open the daemon counts it as an app watching; closing it is all it takes to
  stop (the daemon goes on).
- :func:`show` opens a GTK 3 window of the frames (shrunk by the daemon to the stream's width, painted with
  cairo as they come, no conversion here), the effect's name under them and, when the "fps and CPU" box is
  ticked, the daemon's frame rate and CPU. It blocks until the window is closed (the window's close button,
  Escape, Ctrl+W or q, SIGINT / SIGTERM / SIGHUP) or the stream ends (the daemon stopped), and says which.
  Frames are read on a thread of their own; the window draws only the newest, so it never lags behind.
- :func:`check_display` raises :class:`~vcamd.errors.VcamdError` (one line, the fix) where no window can be
  shown: no display, or no GTK 3 through PyGObject.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

from vcamd.errors import VcamdError
from vcamd.service import control_socket

log = logging.getLogger(__name__)

TITLE = "vcamd preview"
CLOSE_KEYS = ("Escape", "q")
MAX_HEADER = 4096


class Stream:
    """The running daemon's frames, shrunk to at most ``width`` wide (see the module's promises)."""

    def __init__(self, width: int) -> None:
        self._sock, self._file, self.status = control_socket.connect("preview", width=width)
        self._sock.settimeout(None)  # frames may be seconds apart (privacy cards); close() ends a read

    def read(self, into: bytearray) -> tuple[dict[str, Any], bytearray] | None:
        """The next frame's header and its B, G, R, X bytes (in ``into``, grown if needed, or a new buffer);
        None when the stream has ended."""
        try:
            line = self._file.readline(MAX_HEADER)
            if not line:
                return None
            head = json.loads(line)
            size = int(head["width"]) * int(head["height"]) * 4
            if len(into) != size:
                into = bytearray(size)
            if self._file.readinto(into) != size:
                return None
        except (OSError, ValueError, KeyError):
            return None
        return head, into

    def close(self) -> None:
        """End the stream (from any thread): a read in progress returns None."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._file.close()
        self._sock.close()


def check_display() -> None:
    """Raise VcamdError (one line, the fix) where no window can be shown (see the module's promises)."""
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        raise VcamdError("vcamd preview needs a graphical display (DISPLAY is not set): run it in your "
                         "desktop session")
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        from gi.repository import Gtk
    except (ImportError, ValueError):
        raise VcamdError("vcamd preview needs GTK 3 through PyGObject: vcamd setup installs it (Debian: "
                         "python3-gi gir1.2-gtk-3.0)") from None
    if not Gtk.init_check(sys.argv[:1])[0]:
        raise VcamdError(f"vcamd preview cannot open the display {os.environ.get('DISPLAY', '')!r}: run it "
                         "in your desktop session")


class _Window:
    """The GTK window, fed by a reader thread (see the module's promises)."""

    def __init__(self, stream: Stream, stats: bool) -> None:
        import cairo
        from gi.repository import GLib, Gtk

        self._cairo, self._glib, self._gtk = cairo, GLib, Gtk
        self._stream = stream
        self._lock = threading.Lock()
        self._front: bytearray | None = None  # the frame on show (guarded by _lock)
        self._head: dict[str, Any] = {}
        self._pending = False  # a redraw is queued for a newer frame
        self._sized = False  # the window has taken the first frame's size
        self.ended = False  # the daemon ended the stream

        self.window = Gtk.Window(title=TITLE)
        self.window.set_default_size(640, 400)
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL)
        self._area = Gtk.DrawingArea()
        self._area.set_size_request(160, 90)
        self._area.connect("draw", self._draw)
        box.pack_start(self._area, True, True, 0)
        bar = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12)
        bar.set_border_width(6)
        self._effect = Gtk.Label(label="Effect: …", xalign=0.0)
        self._stats = Gtk.Label(label="", xalign=1.0)
        self._stats_box = Gtk.CheckButton(label="fps and CPU")
        self._stats_box.set_active(stats)
        self._stats_box.connect("toggled", lambda _: self._show_status())
        bar.pack_start(self._effect, True, True, 0)
        bar.pack_start(self._stats, False, False, 0)
        bar.pack_start(self._stats_box, False, False, 0)
        box.pack_start(bar, False, False, 0)
        self._bar = bar
        self.window.add(box)
        self.window.connect("destroy", lambda _: Gtk.main_quit())
        self.window.connect("key-press-event", self._key)
        self._show_status()

    def run(self) -> None:
        GLib, Gtk = self._glib, self._gtk
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, self._close)
        reader = threading.Thread(target=self._read, name="vcamd-preview-reader", daemon=True)
        reader.start()
        self.window.show_all()
        Gtk.main()
        self._stream.close()
        reader.join(timeout=2.0)

    def _close(self) -> bool:
        self.window.destroy()
        return False

    def _key(self, widget: Any, event: Any) -> bool:
        from gi.repository import Gdk

        name = Gdk.keyval_name(event.keyval)
        ctrl_w = name == "w" and event.state & Gdk.ModifierType.CONTROL_MASK
        if name in CLOSE_KEYS or ctrl_w:
            self._close()
            return True
        return False

    # --- the reader thread ------------------------------------------------------------------------------

    def _read(self) -> None:
        back = bytearray()
        try:
            while True:
                got = self._stream.read(back)
                if got is None:
                    break
                head, frame = got
                with self._lock:
                    self._front, back = frame, self._front or bytearray()
                    self._head = head
                    wake = not self._pending
                    self._pending = True
                if wake:
                    self._glib.idle_add(self._arrived)
        except Exception:  # guarded: the window says the stream ended rather than hang
            log.exception("preview: reading the frames failed")
        self._glib.idle_add(self._stream_ended)

    # --- the main loop ------------------------------------------------------------------------------------

    def _arrived(self) -> bool:
        with self._lock:
            self._pending = False
            first, self._sized = not self._sized, True
        if first:  # the window takes the frame's size (the bar below it too)
            self._window_fits(int(self._head["width"]), int(self._head["height"]))
        self._show_status()
        self._area.queue_draw()
        return False

    def _window_fits(self, width: int, height: int) -> None:
        self.window.resize(width, height + self._bar.get_preferred_height()[1])

    def _stream_ended(self) -> bool:
        if self.window.get_visible():  # the daemon stopped (not our own close)
            self.ended = True
            self.window.destroy()
        return False

    def _show_status(self) -> None:
        head = self._head
        effect = head.get("effect", "…")
        state = head.get("state", "")
        text = f"Effect: {effect}" + (f" · {state}" if state and state != "live" else "")
        if self._effect.get_text() != text:
            self._effect.set_text(text)
        stats = (f"{head.get('fps', 0.0):.1f} fps · {head.get('cpu', 0.0):.0f} % CPU"
                 if self._stats_box.get_active() and head else "")
        if self._stats.get_text() != stats:
            self._stats.set_text(stats)

    def _draw(self, widget: Any, cr: Any) -> bool:
        cairo = self._cairo
        aw, ah = widget.get_allocated_width(), widget.get_allocated_height()
        cr.set_source_rgb(0, 0, 0)
        cr.paint()
        with self._lock:
            frame, head = self._front, self._head
            if frame is None:
                cr.set_source_rgb(0.8, 0.8, 0.8)
                cr.move_to(12, ah / 2)
                cr.show_text("waiting for the camera…")
                return True
            w, h = int(head["width"]), int(head["height"])
            surface = cairo.ImageSurface.create_for_data(frame, cairo.FORMAT_RGB24, w, h, w * 4)
            scale = min(aw / w, ah / h)
            cr.translate((aw - w * scale) / 2, (ah - h * scale) / 2)
            cr.scale(scale, scale)
            cr.set_source_surface(surface, 0, 0)
            if abs(scale - 1.0) < 1e-3:
                cr.get_source().set_filter(cairo.FILTER_NEAREST)
            cr.paint()
            surface.finish()
        return True


def show(stream: Stream, stats: bool = False) -> str:
    """Show the stream's frames until the window is closed (``"closed"``) or the daemon ends the stream
    (``"stopped"``); ``stats``: the "fps and CPU" box ticked from the start. Call :func:`check_display`
    first."""
    window = _Window(stream, stats)
    window.run()
    return "stopped" if window.ended else "closed"

