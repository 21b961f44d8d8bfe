"""Copies of the frames the daemon sends, for live previews (``vcamd preview``).

Promises:
- :class:`Feeds` is the daemon's set of open :class:`Feed` s. The worker calls :meth:`Feeds.publish` with each
  frame exactly as it goes to the virtual camera (after effect, framing and mirror); with no feed open that
  is one length check, nothing more. An open feed counts as an app watching (the daemon keeps the camera on).
- A :class:`Feed` holds only the newest frame, shrunk (area filter) to at most ``width`` pixels wide with the
  aspect kept, as 4 bytes a pixel B, G, R, 255 (cairo's RGB24 on little-endian machines: a window paints it
  with no conversion). :meth:`Feed.take` copies the newest frame not yet taken into the caller's buffer
  (reused from frame to frame: no allocation, no page faults); the worker never waits for a reader, and a
  slow reader skips frames.
- ``close()`` (the reader done, or the daemon stopping) wakes a waiting ``take`` at once, which then returns
  None for ever; the feed leaves its :class:`Feeds` and the daemon is told (``on_change``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np

DEFAULT_WIDTH = 640
MIN_WIDTH = 32
MAX_WIDTH = 3840


class Feed:
    """One preview's newest frame (see the module's promises)."""

    def __init__(self, width: int, on_close: Callable[[Feed], None]) -> None:
        self.width = max(MIN_WIDTH, min(MAX_WIDTH, int(width)))
        self._on_close = on_close
        self._cond = threading.Condition()
        self._small: np.ndarray | None = None  # the frame shrunk, BGR (the worker's)
        self._back: np.ndarray | None = None  # BGRX being written (the worker's)
        self._front: np.ndarray | None = None  # BGRX ready for take()
        self._seq = 0
        self._taken = 0
        self.closed = False

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The size a ``width`` x ``height`` frame is shown at: at most :attr:`width` wide, aspect kept."""
        if width <= self.width:
            return width, height
        return self.width, max(1, round(height * self.width / width))

    def publish(self, frame: np.ndarray) -> None:
        """Keep a shrunk BGRX copy of ``frame`` (h, w, 3 BGR) as the newest; called by the daemon's worker."""
        h, w = frame.shape[:2]
        tw, th = self.size_for(w, h)
        if self._back is None or self._back.shape[:2] != (th, tw):
            self._back = np.empty((th, tw, 4), np.uint8)
            self._small = np.empty((th, tw, 3), np.uint8) if (tw, th) != (w, h) else None
        src = frame
        if self._small is not None:
            cv2.resize(frame, (tw, th), dst=self._small, interpolation=cv2.INTER_AREA)
            src = self._small
        cv2.cvtColor(src, cv2.COLOR_BGR2BGRA, dst=self._back)
        with self._cond:
            self._front, self._back = self._back, self._front
            self._seq += 1
            self._cond.notify_all()

    def take(self, timeout: float, out: np.ndarray | None = None) -> np.ndarray | None:
        """The newest frame not taken yet (h, w, 4 uint8) copied into ``out`` (or a new array when ``out`` is
        None or of another shape), waiting up to ``timeout`` s; None if none came or the feed is closed."""
        with self._cond:
            if self._seq == self._taken and not self.closed:
                self._cond.wait(timeout)
            if self.closed or self._seq == self._taken or self._front is None:
                return None
            self._taken = self._seq
            if out is None or out.shape != self._front.shape:
                out = np.empty_like(self._front)
            np.copyto(out, self._front)
            return out

    def close(self) -> None:
        """Stop this feed (safe twice, from any thread)."""
        with self._cond:
            if self.closed:
                return
            self.closed = True
            self._cond.notify_all()
        self._on_close(self)


class Feeds:
    """The daemon's open feeds (see the module's promises)."""

    def __init__(self, on_change: Callable[[int], None]) -> None:
        self._lock = threading.Lock()
        self._feeds: list[Feed] = []
        self._on_change = on_change

    def __len__(self) -> int:
        return len(self._feeds)

    def open(self, width: int) -> Feed:
        """A new feed of frames at most ``width`` wide; it counts as a watcher until closed."""
        feed = Feed(width, self._remove)
        with self._lock:
            self._feeds = [*self._feeds, feed]
            count = len(self._feeds)
        self._on_change(count)
        return feed

    def _remove(self, feed: Feed) -> None:
        with self._lock:
            if feed not in self._feeds:
                return
            self._feeds = [f for f in self._feeds if f is not feed]
            count = len(self._feeds)
        self._on_change(count)

    def publish(self, frame: np.ndarray) -> None:
        """Hand ``frame`` to every open feed (the worker's; a no-op with none open)."""
        for feed in self._feeds:  # the list is replaced, never changed in place
            feed.publish(frame)

    def close_all(self) -> None:
        """Close every feed (the daemon stopping): their readers end."""
        for feed in list(self._feeds):
            feed.close()
