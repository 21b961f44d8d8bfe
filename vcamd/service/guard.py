"""The output guard: every frame the daemon sends, and the rule that no untreated camera frame goes out while
an effect is on.

Promises:
- :meth:`OutputGuard.live` sends a camera frame as the pipeline treats it. The frame itself never goes out
  while an effect is on: one the pipeline fails on is logged once per distinct error and replaced by the
  last good treated frame for up to :data:`LAST_GOOD_FOR` seconds, then by a safe frame (the camera shrunk
  to :data:`SAFE_WIDTH` pixels wide and heavily blurred, no model); :attr:`OutputGuard.effect_error` then
  says why (the status shows it), and is "" again from the next frame treated.
- A treated frame is kept as that cover (a copy at most every :data:`KEEP_GOOD_EVERY` seconds: a copy every
  frame costs 1 % CPU). A frame sent with no effect on (the room itself) is never kept, and it voids the one
  kept before: what covers a failure is always a frame that hid the room.
- :meth:`OutputGuard.bridge` covers a camera that gives no frame for a moment (opening again after a
  settings change, a hiccup) with the last good treated frame, for up to :data:`LAST_GOOD_FOR` seconds;
  otherwise it sends nothing.
- :meth:`OutputGuard.card` sends the still card of a state (privacy, idle, camera fault) at the output's
  size, built once per state, message and size; privacy shows ``daemon.privacy_image`` when set (a card,
  logged once, when it cannot be read).
- All of these send the same way: a BGRA frame is made BGR, a frame of another size than the output's is
  cover-fitted to it (never stretched: a camera of another shape under a held format fills the picture),
  then it goes to the output and, exactly as sent, to the open previews (:class:`Feeds`). An output or a
  preview failing a frame is logged once per distinct error; the stream goes on.
- Every frame sent is counted in :class:`Stats` (a camera frame with its latency and stage times, a failed
  one as failed). The safe frame and the card are let go while frames are treated: a daemon that runs for
  days stays lean.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import cv2
import numpy as np

from vcamd.config import Config
from vcamd.engine.pipeline import Pipeline
from vcamd.errors import VcamdError
from vcamd.frames import cover_fit
from vcamd.outputs import Output
from vcamd.service import cards
from vcamd.service.camera import Captured
from vcamd.service.control import State
from vcamd.service.feed import Feeds
from vcamd.service.log_once import LogOnce
from vcamd.service.stats import Stats

log = logging.getLogger(__name__)

LAST_GOOD_FOR = 1.0  # seconds a failing effect is covered by the last good treated frame, then a safe frame
KEEP_GOOD_EVERY = 0.25  # seconds between copies of a good treated frame (a copy every frame costs 1 % CPU)
SAFE_WIDTH = 24  # the safe frame is the camera at this width, blurred, scaled back up


class OutputGuard:
    """What the worker sends, and what covers a frame it cannot treat (see the module's promises)."""

    def __init__(self, stats: Stats, feeds: Feeds, log_once: LogOnce) -> None:
        self._stats = stats
        self._feeds = feeds
        self._log_once = log_once
        self.effect_error = ""  # why frames go out covered ("" while the effect works)
        self._good: np.ndarray | None = None  # the last good treated frame
        self._good_t = 0.0
        self._safe: np.ndarray | None = None
        self._still: np.ndarray | None = None
        self._still_key: tuple[Any, ...] = ()
        self._fit: np.ndarray | None = None

    def live(self, output: Output | None, pipeline: Pipeline, item: Captured, t: float) -> None:
        """Send camera frame ``item`` treated by ``pipeline`` (``t``: seconds into the stream), or what
        covers it if the pipeline fails: never the frame itself."""
        stages: dict[str, float] | None = None
        try:
            out = pipeline.process(item.frame, t)
            stages = pipeline.last_ms.as_dict()
        except Exception as e:
            self._stats.frame_failed()
            out = self._instead_of(item.frame, e)
        else:
            self._keep_good(out, pipeline.last_treated)
        self._send(output, out)
        self._stats.frame_out((time.monotonic() - item.t) * 1000.0, stages)

    def bridge(self, output: Output | None) -> None:
        """No camera frame for a moment: the last treated frame once more, so apps see no gap; for up to
        LAST_GOOD_FOR s, never the room."""
        if self._good is not None and time.monotonic() - self._good_t <= LAST_GOOD_FOR:
            self._send(output, self._good)
            self._stats.frame_out()

    def card(self, output: Output, state: State, message: str, cfg: Config) -> None:
        """Send the card for ``state`` at the output's size (``message``: the status's, for a fault)."""
        self._send(output, self._still_frame(output.size, state, message, cfg))
        self._stats.frame_out()

    def _keep_good(self, out: np.ndarray, treated: bool) -> None:
        """Remember a treated frame (one every KEEP_GOOD_EVERY s), to cover a short failure of the effect.
        A frame of no effect (``treated`` False) is the room itself: it is never kept, and it voids the one
        kept before. The safe frame and the card, needed again only after a fault, are let go."""
        if self.effect_error:
            log.info("the effect works again")
            self.effect_error = ""
        self._safe = self._still = None  # held only while needed: a daemon that runs for days stays lean
        if not treated:
            self._good_t = float("-inf")
            return
        now = time.monotonic()
        if self._good is None or self._good.shape != out.shape:
            self._good = np.empty_like(out)
        elif now - self._good_t < KEEP_GOOD_EVERY:
            return
        np.copyto(self._good, out)
        self._good_t = now

    def _instead_of(self, frame: np.ndarray, err: Exception) -> np.ndarray:
        """What goes out for a frame the pipeline failed on: never the frame itself (the room)."""
        self._log_once("a frame could not be treated", err)
        if self._good is not None and time.monotonic() - self._good_t <= LAST_GOOD_FOR:
            return self._good
        self.effect_error = f"the effect failed ({err}); sending the camera blurred"
        return self._safe_frame(frame)

    def _safe_frame(self, frame: np.ndarray) -> np.ndarray:
        """The camera so blurred that nothing of the room can be made out; needs no model."""
        h, w = frame.shape[:2]
        sh = max(1, round(h * SAFE_WIDTH / w))
        small = cv2.resize(frame, (SAFE_WIDTH, sh), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 2.0)
        if self._safe is None or self._safe.shape != frame.shape:
            self._safe = np.empty_like(frame)
        cv2.resize(small, (w, h), dst=self._safe, interpolation=cv2.INTER_LINEAR)
        return self._safe

    def _still_frame(self, size: tuple[int, int], state: State, message: str, cfg: Config) -> np.ndarray:
        """The card for ``state`` at ``size`` (built once per state, message and size)."""
        key = (state, message, size, cfg.daemon.privacy_image)
        if key != self._still_key or self._still is None:
            if state is State.PRIVACY and cfg.daemon.privacy_image:
                try:
                    self._still = cards.picture(cfg.daemon.privacy_image, size)
                except VcamdError as e:
                    self._log_once("daemon.privacy_image", e)
                    self._still = cards.card(size, "camera paused")
            elif state is State.PRIVACY:
                self._still = cards.card(size, "camera paused", "privacy is on")
            elif state is State.IDLE:
                self._still = cards.card(size, "camera starting", cfg.output.name)
            else:
                self._still = cards.card(size, "camera unavailable", message or "retrying")
            self._still_key = key
        return self._still

    def _send(self, output: Output | None, frame: np.ndarray) -> None:
        """Send a BGR (or BGRA) frame to ``output`` (nowhere while there is none) and the open previews,
        cover-fitted to the output's size if it has another."""
        if output is None:
            return
        if frame.ndim == 3 and frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)  # a camera has no alpha
        w, h = output.size
        if frame.shape[:2] != (h, w):
            shape = (h, w, *frame.shape[2:])
            if self._fit is None or self._fit.shape != shape or self._fit.dtype != frame.dtype:
                self._fit = np.empty(shape, frame.dtype)  # as the frame: resize cannot write into another
            frame = cover_fit(frame, (w, h), dst=self._fit)
        try:
            output.send(frame)
        except Exception as e:
            self._log_once(f"virtual camera {output.device}: a frame could not be sent", e)
        if self._feeds:
            try:
                self._feeds.publish(frame)
            except Exception as e:
                self._log_once("a preview: a frame could not be copied", e)
