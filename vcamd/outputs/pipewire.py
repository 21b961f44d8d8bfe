"""The PipeWire camera: a ``Video/Source`` node apps pick like a webcam, needing no kernel module and no root.

Promises:
- ``unavailable()`` is "" when a PipeWire camera can be made here, else one line naming what is missing
  (PyGObject, the GStreamer PipeWire plugin, the PipeWire daemon) and the fix, with packages per distro.
- ``PipeWireCamera(name, width, height, fps)`` provides a node with ``media.class = Video/Source``,
  ``media.role = Camera``, ``media.type = Video`` and ``node.description = name`` through GStreamer
  (``appsrc ! identity drop-allocation=true ! pipewiresink mode=provide``); ``send`` takes (h, w, 3) uint8
  BGR frames and hands them on as I420 (what every PipeWire camera client takes; cv2 converts it: 2.2 ms
  CPU a 720p frame against videoconvert's 3.7) without blocking: a frame no app takes is dropped.
- ``in_use()`` says whether some app is linked to the node, learnt from PipeWire's own events (``pw-dump
  --monitor``: links whose output is our node, see :mod:`.pipewire_graph`), False while PipeWire is down;
  None when it cannot tell (``pw-dump`` missing). ``on_change`` (if given) is called from the watching
  thread when that changes.
- The PipeWire daemon going away (crash, ``systemctl --user restart pipewire``, log out and in) is noticed by
  the watcher exiting or the socket changing; ``send`` then rebuilds the node with backoff (0.5 s doubling up
  to 5 s) and it comes back by itself once the daemon runs again. ``close()`` is safe to call twice.
- ``load_gst()`` is GStreamer, initialised once (for ``vcamd doctor`` too); the ``*_FIX`` lines name the fix
  for each missing piece.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import shutil
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from vcamd import distro
from vcamd.errors import VcamdError
from vcamd.outputs.pipewire_graph import GraphWatch, daemon_running, socket_path, socket_stamp

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 5.0
SOCKET_CHECK = 1.0  # seconds between looks at the daemon's socket while it runs

GI_FIX = ("run vcamd setup (it installs GStreamer's introspection data, then PyGObject into this Python; by "
          f"hand: {distro.install_hint((distro.GST, distro.GST_APP, *distro.BUILD))}, then pip install "
          "'vcamd[tray]')")
PLUGIN_FIX = f"install the GStreamer PipeWire plugin: {distro.install_hint((distro.GST_PIPEWIRE,))}"
DAEMON_FIX = ("start PipeWire for your user: systemctl --user enable --now pipewire wireplumber "
              f"(installed by: {distro.install_hint((distro.PIPEWIRE_DAEMON,))})")
BASE_FIX = f"install GStreamer's base plugins: {distro.install_hint((distro.GST_BASE,))}"
MONITOR_FIX = (f"install pw-dump ({distro.install_hint((distro.PW_DUMP,))}) so vcamd sees when an app opens "
               "the camera")

_gst: Any = None


def load_gst() -> Any:
    """GStreamer, initialised once; raises VcamdError (with the fix) when PyGObject or Gst is missing."""
    global _gst
    if _gst is None:
        _keep_cxx_unwinding()
        try:
            import gi

            gi.require_version("Gst", "1.0")
            from gi.repository import Gst
        except (ImportError, ValueError) as e:
            raise VcamdError(f"PipeWire camera: no GStreamer for Python ({e}): {GI_FIX}") from None
        Gst.init(None)
        _gst = Gst
    return _gst


def _keep_cxx_unwinding() -> None:
    """Load libgcc_s globally before GStreamer.

    libgstreamer links libunwind, and PyGObject opens it with global symbols: a C++ extension loaded later
    (matplotlib's ft2font, which MediaPipe imports) then unwinds its exceptions through libunwind's
    ``_Unwind_Resume`` and crashes (SIGSEGV, measured with GStreamer 1.22 on Debian 12). With libgcc_s first
    in the global scope, its ``_Unwind_*`` win.
    """
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError):
        ctypes.CDLL(ctypes.util.find_library("gcc_s") or "libgcc_s.so.1", mode=ctypes.RTLD_GLOBAL)


def unavailable() -> str:
    """"" when a PipeWire camera can be made now, else one line: what is missing and the fix."""
    try:
        gst = load_gst()
    except VcamdError as e:
        return str(e)
    if gst.ElementFactory.find("pipewiresink") is None:
        return f"PipeWire camera: GStreamer has no pipewiresink: {PLUGIN_FIX}"
    if not daemon_running():
        where = socket_path() or "XDG_RUNTIME_DIR is not set"
        return f"PipeWire camera: no PipeWire daemon runs for this user ({where}): {DAEMON_FIX}"
    return ""


def node_name(name: str) -> str:
    """The ``node.name`` of our node for ``output.name`` (apps show ``node.description``, the name itself)."""
    return "vcamd-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "camera")


class PipeWireCamera:
    """A PipeWire camera node named ``name`` taking BGR frames of one size (see the module's promises)."""

    backend = "pipewire"
    reader_path = ""  # no device file: in_use() says whether an app reads it

    def __init__(
        self, name: str, width: int, height: int, fps: float, *, on_change: Callable[[], None] | None = None
    ) -> None:
        why = unavailable()
        if why:
            raise VcamdError(why)
        self.name = name
        self.device = f'PipeWire node "{name}"'
        self.size = (width, height)
        self.fps = fps
        self._on_change = on_change or (lambda: None)
        self._gst = load_gst()
        self._pipeline: Any = None
        self._src: Any = None
        self._watch: GraphWatch | None = None
        self._stamp: tuple[int, int] | None = None
        self._next_socket_check = 0.0
        self._retry_at = 0.0
        self._backoff = BACKOFF_FIRST
        self._closed = False
        self._can_tell = shutil.which("pw-dump") is not None
        self._i420 = np.empty((height * 3 // 2, width), np.uint8)
        self._start()
        log.info('PipeWire camera "%s": node %s, %dx%d @ %g fps', name, node_name(name), width, height, fps)

    # --- life of the node ------------------------------------------------------------------------------

    def _start(self) -> None:
        """Build the pipeline and the watcher; raises VcamdError when PipeWire refuses."""
        gst = self._gst
        w, h = self.size
        pipeline = gst.Pipeline.new("vcamd-pipewire")
        src = gst.ElementFactory.make("appsrc", "src")
        # pipewiresink 0.3.65 mishandles buffers from its own pool once upstream negotiated it (frames
        # never reach the app, GStreamer-CRITICALs): with no allocation query it copies into its pool, which
        # works (measured). The copy costs less than a videoconvert, so cv2 makes the I420.
        copy = gst.ElementFactory.make("identity", "copy")
        sink = gst.ElementFactory.make("pipewiresink", "sink")
        if src is None or copy is None:
            raise VcamdError(f"PipeWire camera: GStreamer has no appsrc or identity: {BASE_FIX}")
        copy.set_property("drop-allocation", True)
        num, den = _fraction(self.fps)
        src.set_property("caps", gst.Caps.from_string(
            f"video/x-raw,format=I420,width={w},height={h},framerate={num}/{den}"))
        for prop, value in (("is-live", True), ("format", gst.Format.TIME), ("do-timestamp", True),
                            ("block", False), ("max-bytes", 0), ("max-buffers", 2), ("leaky-type", 2)):
            src.set_property(prop, value)
        props = gst.Structure.new_empty("props")
        for key, value in (("media.class", "Video/Source"), ("media.role", "Camera"), ("media.type", "Video"),
                           ("node.name", node_name(self.name)), ("node.description", self.name)):
            props.set_value(key, value)
        sink.set_property("mode", "provide")
        sink.set_property("stream-properties", props)
        sink.set_property("client-name", "vcamd")
        sink.set_property("sync", False)
        chain = (src, copy, sink)
        for element in chain:
            pipeline.add(element)
        for a, b in itertools.pairwise(chain):
            a.link(b)
        self._stamp = socket_stamp()
        if pipeline.set_state(gst.State.PLAYING) == gst.StateChangeReturn.FAILURE:
            pipeline.set_state(gst.State.NULL)
            raise VcamdError(f"PipeWire camera: PipeWire refused the node ({socket_path()}): {DAEMON_FIX}")
        self._pipeline, self._src = pipeline, src
        # The node exists from here; a first frame now readies the sink's pool before an app can link (an
        # app linking first got no frames, measured on 0.3.65).
        self._i420[: h] = 16
        self._i420[h:] = 128
        self._push()
        if self._can_tell:
            self._watch = GraphWatch(node_name(self.name), self._changed)
        else:
            log.warning("PipeWire camera: no pw-dump, so it never pauses: %s", MONITOR_FIX)

    def _stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()
        pipeline, self._pipeline, self._src = self._pipeline, None, None
        if pipeline is not None:
            pipeline.set_state(self._gst.State.NULL)

    def _changed(self) -> None:
        if not self._closed:
            self._on_change()

    def _healthy(self, now: float) -> bool:
        """Whether the node stands; notices the daemon going away and rebuilds with backoff."""
        if self._pipeline is not None:
            gone = self._watch is not None and not self._watch.alive
            if not gone and now >= self._next_socket_check:
                self._next_socket_check = now + SOCKET_CHECK
                gone = socket_stamp() != self._stamp
            if not gone and self._pipeline.get_bus().pop_filtered(self._gst.MessageType.ERROR) is not None:
                gone = True
            if not gone:
                return True
            log.warning('PipeWire camera "%s": PipeWire went away; making the node again when it is back',
                        self.name)
            self._stop()
            self._retry_at, self._backoff = now + BACKOFF_FIRST, BACKOFF_FIRST
            self._on_change()
            return False
        if now < self._retry_at:
            return False
        try:
            if not daemon_running():
                raise VcamdError("no daemon yet")
            self._start()
        except VcamdError:
            self._backoff = min(BACKOFF_MAX, self._backoff * 2)
            self._retry_at = now + self._backoff
            return False
        log.info('PipeWire camera "%s": back on PipeWire', self.name)
        return True

    # --- Output ------------------------------------------------------------------------------------------

    def in_use(self) -> bool | None:
        """Whether an app is linked to the node now (False while PipeWire is down; None: cannot tell)."""
        if not self._can_tell:
            return None
        watch = self._watch  # None while the node is being made or removed: nobody can read it then
        return watch is not None and self._pipeline is not None and watch.in_use

    def send(self, frame: np.ndarray) -> None:
        """Send one BGR frame of this output's size (dropped while PipeWire is down)."""
        if self._closed or not self._healthy(time.monotonic()):
            return
        cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420, dst=self._i420)
        self._push()

    def _push(self) -> None:
        self._src.emit("push-buffer", self._gst.Buffer.new_wrapped(self._i420.tobytes()))

    def close(self) -> None:
        """Remove the node (safe to call twice)."""
        self._closed = True
        self._stop()


def _fraction(fps: float) -> tuple[int, int]:
    """``fps`` as a GStreamer fraction (29.97 -> 30000/1001)."""
    if abs(fps - round(fps)) < 1e-6:
        return max(1, round(fps)), 1
    return round(fps * 1001), 1001
