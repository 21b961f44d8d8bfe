"""The physical camera on its own thread: keep the latest frame; reconnect. (Opening it: :mod:`.capture`.)

Promises:
- ``CameraReader`` reads ``camera.device`` (an index, a ``/dev/videoN`` path, or a video file / URL standing
  in for a camera) on a thread of its own and puts each frame in a one-frame :class:`FrameSlot`: a frame the
  worker has not taken yet is replaced by the newer one and counted as dropped; nothing queues up.
- It asks the camera for width, height, fps and fourcc, and logs what the camera really gave.
- A video file is paced at its own frame rate and loops, like a camera that never ends.
- A camera that cannot be opened, stops giving frames, or vanishes (its device node or file is gone: seen
  within GONE_CHECK seconds) is released and retried with backoff (0.5 s doubling to 5 s, never a busy
  loop); ``error`` says why meanwhile, and the reader recovers by itself.
- Frames are read into FRAME_BUFFERS reused buffers (a :class:`vcamd.frames.BufferPool`): a buffer is read
  into again only once nothing else holds it (the slot, the worker, a view of it), so a frame handed out
  never changes. Under the daemon's heap policy (:mod:`vcamd.service.memory`) a new frame each time would
  be a new mapping: 3.8 instead of 2.7 ms of CPU per 720p MJPEG frame here, and memory that comes and goes.
- MJPEG frames (the usual webcam format at 720p and 1080p) are decoded by :mod:`vcamd.service.mjpeg` into
  those buffers; if a camera's first frame does not decode there, OpenCV decodes its frames instead. A frame
  that does not decode is dropped (counted as the camera's drop); if none decodes for STALL_SECONDS, the
  camera is reopened like a stalled one, with the decoder's reason as its error.
- ``set_active(False)`` releases the camera (its light goes off) within a frame period; ``set_active(True)``
  opens it again at once. ``stop()`` ends the thread within a frame period.
- The thread's loop is guarded: an unexpected exception (a ``cv2.error``, say) is logged once, the camera
  is released and retried with the same backoff, and the loop goes on. ``alive`` and ``silent_for()`` let
  the daemon notice what the thread cannot report itself (it died; a read hangs), and ``revive()`` starts
  a dead thread again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from vcamd.config import CameraSettings
from vcamd.frames import BufferPool
from vcamd.service.capture import CameraError, CameraInfo, Source, gone, open_capture, parse_source
from vcamd.service.mjpeg import Capture, JpegCapture
from vcamd.service.stats import Stats

log = logging.getLogger(__name__)

#: Frame buffers the camera reads into: the one in the slot, the worker's, the one being read, and a spare.
FRAME_BUFFERS = 4
STALL_SECONDS = 2.0  # no frame from an open camera for this long: treat it as gone
#: Seconds between two looks whether the camera's device node or file is still there (a look every frame,
#: a stat that gives the GIL up and waits for it again, cost the camera thread 0.04 ms a frame here).
GONE_CHECK = 0.25
PACE_SLEEP = 0.05  # longest sleep of a file's pacing: stop() waits no longer than this for it
BACKOFF_FIRST, BACKOFF_CAP = 0.5, 5.0


@dataclass(frozen=True)
class Captured:
    """A frame and the monotonic time it was captured (or, for a file, due)."""

    frame: np.ndarray
    t: float


class FrameSlot:
    """Holds the latest frame only; a newer frame replaces an untaken one, which counts as dropped."""

    def __init__(self, stats: Stats) -> None:
        self._cond = threading.Condition()
        self._item: Captured | None = None
        self._stats = stats

    def put(self, item: Captured) -> None:
        with self._cond:
            if self._item is not None:
                self._stats.frame_dropped()
            self._item = item
            self._cond.notify()
        self._stats.frame_in()

    def take(self, timeout: float) -> Captured | None:
        """The newest frame not taken yet, waiting up to ``timeout`` seconds; None if none came."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        with self._cond:
            self._item = None


class Backoff:
    """Retry delays: 0.5 s, doubling, at most 5 s."""

    def __init__(self, first: float = BACKOFF_FIRST, cap: float = BACKOFF_CAP) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first


class CameraReader:
    """The camera thread (see the module's promises)."""

    def __init__(self, settings: CameraSettings, stats: Stats) -> None:
        self.slot = FrameSlot(stats)
        self._stats = stats
        self._settings = settings
        self._pending: CameraSettings | None = None
        self._cap: Capture | None = None
        self._src = parse_source(settings.device)
        self.info: CameraInfo | None = None
        self.error = ""
        self._active = True
        self._poke = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = Backoff()
        self._retry_at = 0.0
        self._last_frame = 0.0
        self._since = time.monotonic()  # when frames were last asked for (start, activation, new settings)
        self._logged: set[str] = set()
        self._pace_start = 0.0
        self._paced = 0
        self._pool = BufferPool(FRAME_BUFFERS)
        self._shape: tuple[int, ...] | None = None  # of the last frame read
        self._next_look = 0.0  # when to look again whether the device node or file is there

    # --- control, from any thread --------------------------------------------------------------------

    def start(self, active: bool = True) -> None:
        """Open the camera now if ``active`` (so its real size is known), then read on a thread."""
        self._active = active
        self._since = time.monotonic()
        if active:
            self._try_open()
        self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vcamd-camera", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the camera thread runs (always, between ``start()`` and ``stop()``, unless a bug)."""
        return self._thread is not None and self._thread.is_alive()

    def revive(self) -> None:
        """Start the camera thread again if it died."""
        if not self.alive and not self._stopping.is_set():
            self._release()
            self._start_thread()

    def silent_for(self) -> float:
        """Seconds since the last frame (or since frames were asked for, if later); 0 while inactive."""
        if not self._active:
            return 0.0
        return time.monotonic() - max(self._last_frame, self._since)

    def set_active(self, active: bool) -> None:
        """Hold the camera open (True) or release it (False)."""
        if active != self._active:
            if active:  # an app is waiting: try at once, whatever the backoff said
                self._retry_at = 0.0
                self._backoff.reset()
                self._since = time.monotonic()
            self._active = active
            self._poke.set()

    def configure(self, settings: CameraSettings) -> None:
        """Reopen with new settings (between frames); ``info`` is None until the camera opened with them."""
        self.info = None
        self._pending = settings
        self._since = time.monotonic()
        self._poke.set()

    def stop(self, timeout: float = 1.5) -> None:
        """End the thread and release the camera."""
        self._stopping.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._release()

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    @property
    def source(self) -> Source:
        return self._src

    # --- the thread ----------------------------------------------------------------------------------

    def _wait(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until poked), or less if poked (settings, activity, stop)."""
        if (seconds is None or seconds > 0) and self._poke.wait(seconds):
            self._poke.clear()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._run_once()
            except Exception as e:  # guarded: log once, release, retry with backoff, go on
                text = f"camera {self._src.spec}: unexpected error: {e}"
                if text not in self._logged and len(self._logged) < 100:
                    self._logged.add(text)
                    log.error("%s (logged once; retrying)", text, exc_info=True)
                self._fail(text)
        self._release()

    def _run_once(self) -> None:
        """One turn of the camera thread: settings, activity, (re)opening, or one frame."""
        if self._pending is not None:
            self._settings, self._pending = self._pending, None
            self._src = parse_source(self._settings.device)
            self._release()
            self.error, self._retry_at = "", 0.0
            self._backoff.reset()
        if not self._active:
            self._release()
            self.slot.clear()
            self._wait(None)  # set_active(), configure() and stop() poke
            return
        if self._cap is None:
            delay = self._retry_at - time.monotonic()
            if delay > 0:
                self._wait(min(delay, 0.5))
                return
            self._try_open()
            return
        self._read_one()

    def _try_open(self, looping: bool = False) -> None:
        """Open the camera and deliver its first frame; ``looping``: a file starting again, same clock."""
        try:
            self._cap, first, self.info = open_capture(self._settings, quiet=looping)
        except CameraError as e:
            self._fail(str(e))
            return
        if self.error:
            log.info("camera %s is back", self._src.spec)
        self.error = ""
        self._backoff.reset()
        if not looping:
            self._pace_start, self._paced = time.monotonic(), 0
        self._deliver(first)

    def _fail(self, reason: str) -> None:
        """Release, remember why, and schedule the next try."""
        try:
            self._release()
        except Exception:  # a capture that fails even to close: drop it
            self._cap = None
        delay = self._backoff.next()
        self._retry_at = time.monotonic() + delay
        if reason != self.error:
            log.warning("%s; retrying (placeholder frames meanwhile)", reason)
        else:
            log.debug("%s; next try in %.1f s", reason, delay)
        self.error = reason

    def _read_one(self) -> None:
        assert self._cap is not None
        src = self._src
        now = time.monotonic()
        if src.path and now >= self._next_look:
            self._next_look = now + GONE_CHECK
            if not os.path.exists(src.path):
                self._fail(gone(src))
                return
        ok, frame = self._cap.read(self._pool.buffer(self._shape))
        if frame is None:
            if not ok and src.kind == "file":  # the end of the file: start again, as a camera never ends
                self._release()
                self._try_open(looping=True)
                return
            if ok:  # a frame that does not decode: lost, like one the camera dropped
                self._stats.camera_dropped()
            if time.monotonic() - self._last_frame > STALL_SECONDS:
                bad = isinstance(self._cap, JpegCapture) and self._cap.error
                self._fail(f"camera {src.spec}: {bad}" if bad else
                           f"camera {src.spec}: stopped giving frames (unplugged, or used by another app?)")
            elif not ok:
                self._wait(0.05)
            return
        self._shape = frame.shape
        self._deliver(frame)

    def _deliver(self, frame: np.ndarray) -> None:
        info = self.info  # None once configure() was called from another thread
        if not self._src.live and info is not None and not self._pace(info.fps):
            self._stats.camera_dropped()
            return
        self._last_frame = time.monotonic()
        self.slot.put(Captured(frame, self._last_frame))

    def _pace(self, fps: float) -> bool:
        """Hold a file's frame until its time, so a file plays like a camera at its own frame rate.

        False: the frame is more than a frame period late; like a real camera, the file reader then drops
        it itself rather than deliver a burst (counted as the camera's own drop).
        """
        period = 1.0 / fps
        due = self._pace_start + self._paced * period
        self._paced += 1
        delay = due - time.monotonic()
        if delay > 0:
            # Plain sleeps, as the benchmark's decode-only floor paces (Event.wait's condition and lock cost
            # the camera thread 0.05 ms more a frame here), short enough for stop() to be seen at once.
            left = delay
            while left > 0 and not self._stopping.is_set():
                time.sleep(min(left, PACE_SLEEP))
                left = due - time.monotonic()
        elif delay < -1.0:  # far behind (the machine was busy or asleep): start the clock again
            self._pace_start, self._paced = time.monotonic(), 1
        elif delay < -period:
            return False
        return True

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
