"""The daemon: webcam -> pipeline -> virtual camera on threads; live settings, pausing, privacy, stats.

Promises:
- :class:`Daemon` implements :class:`~vcamd.service.control.Control`. ``start()`` raises
  :class:`VcamdError` (what is missing and how to fix it, then how to try the effects without it: ``vcamd
  preview`` when only the virtual camera is missing) when there is no webcam or no virtual camera; once
  started it never dies of a frame, a camera or a settings file.
- Three threads: the camera (:mod:`vcamd.service.camera`, latest frame only), the worker (pipeline, then the
  virtual camera, contiguous BGR, at the output size and at most at its rate) and the monitor (settings
  file, readers, stats, and every :data:`~vcamd.service.memory.TRIM_EVERY` s the free heap pages given
  back to the system).
- The settings file is watched (inotify on its folder, else polled): a change takes effect within a
  second, between frames, all at once; a bad one is logged (file, key, value) and the last good settings
  keep running. Command-line overrides hold until that key is edited in the file or changed through
  :meth:`Daemon.apply`.
- Pause when unused (where the device is a file apps open: v4l2loopback): with no other process reading the
  virtual camera, the webcam is released within 2 s and a still frame goes out at ``daemon.idle_fps`` for
  IDLE_FULL_RATE seconds, then one every IDLE_KEEPALIVE seconds; an app opening the device gets live video
  within a second. Privacy sends a card (or ``daemon.privacy_image``) and releases the webcam; a missing or
  busy camera sends a card while the camera retries.
- A camera that gives no frame for TAKE_TIMEOUT while live (opening again after a settings change, a
  hiccup) is bridged with the last treated frame (for up to LAST_GOOD_FOR s; nothing with no effect on).
- While an effect is on, no untreated camera frame goes out: a frame the pipeline fails on is logged once
  per distinct error and replaced by the last good treated frame for up to a second, then by a safe frame
  (the camera shrunk and heavily blurred, with no model); the status says so (ERROR, with why). A frame
  sent with no effect on (the room itself) is never kept as a cover.
- Every thread's loop is guarded: an unexpected exception is logged once and the loop goes on. A camera that
  is live but gives no frame for a second, or whose thread died, is a camera fault: a card goes out while it
  retries. A worker that cannot go on stops the daemon with :attr:`Daemon.failure` set (never quietly).
- A settings file that is unreadable, not UTF-8, not TOML, invalid, or empty (0 bytes: a save in
  progress, or an accident) while running keeps the last good settings, logged in one line.
- ``close()`` returns within :data:`CLOSE_BUDGET` seconds in all, whatever the threads are stuck in.
- While an app reads the virtual camera, its format (size, rate, pixel format) and its node or device stay
  whatever the settings or the camera do: frames are cover-fitted to its size and paced to its rate, and the
  status's ``note`` says what waits ("720p until the call ends (then 360p)"). The camera is opened again with
  the new settings the moment no app reads it (see :mod:`vcamd.service.output_format`).
- An output that tells who reads it (``Output.in_use()``: the PipeWire camera's links) pauses the same way.
- :meth:`Daemon.watch` opens a :class:`~vcamd.service.feed.Feed` of the frames exactly as they are sent (a
  live preview); while one is open it counts as an app reading: the camera opens for it and is released
  again, as above, when the last feed closes and no app reads. ``close()`` closes every feed.
- The monitor sleeps until something happens: inotify on the settings file and the device, the output's
  ``on_change``, ``stop()``, or its next timed look (stats, heap trim, a settling change, at most
  MONITOR_LONGEST s). Idle, the whole process wakes a few times in five seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vcamd import config, files, outputs
from vcamd.config import Config, ConfigError
from vcamd.engine import effects
from vcamd.engine.pipeline import Pipeline
from vcamd.errors import Problems, VcamdError
from vcamd.frames import cover_fit
from vcamd.outputs import Output
from vcamd.service import camera, capture, cards, memory, output_format
from vcamd.service.control import State, Status
from vcamd.service.feed import Feed, Feeds
from vcamd.service.loader import ThreadLoader
from vcamd.service.output_format import Format, Pacer
from vcamd.service.stats import Stats
from vcamd.service.watch import FileWatcher, ReaderWatch

log = logging.getLogger(__name__)

POLL = 0.25  # seconds a settings change must hold still; between looks where nothing can wake the monitor
#: Longest the monitor sleeps when the watchers, the output and stop() can wake it.
MONITOR_LONGEST = 5.0
TAKE_TIMEOUT = 0.1  # longest the worker waits for a camera frame before looking around
STATS_EVERY = 5.0
OUTPUT_RETRY = 2.0
LAST_GOOD_FOR = 1.0  # seconds a failing effect is covered by the last good treated frame, then a safe frame
KEEP_GOOD_EVERY = 0.25  # seconds between copies of a good treated frame (a copy every frame costs 1 % CPU)
CAMERA_SILENCE = 1.0  # seconds a live camera may give no frame before the daemon calls it a camera fault
#: While no app reads the virtual camera: cards at idle_fps for this many seconds, then one every
#: IDLE_KEEPALIVE seconds (nobody sees them; each still costs a frame's conversion, 5 ms after a sleep here).
IDLE_FULL_RATE = 2.0
IDLE_KEEPALIVE = 5.0
CLOSE_BUDGET = 1.8  # seconds close() may take in all (the promise is 2 s from the signal)
SAFE_WIDTH = 24  # the safe frame is the camera at this width, blurred, scaled back up
PREVIEW_WITHOUT = ("to see yourself with the effect meanwhile: vcamd preview (it runs vcamd with no virtual "
                   "camera)")
NEW_SETTINGS_FILE = "# vcamd settings; every key and its default: vcamd config show\n"
TRY_WITHOUT = (
    "to try the effects on a video file meanwhile: vcamd process IN.mp4 -o OUT.mp4 --effect blur "
    "(vcamd doctor checks the whole set-up)"
)


class Daemon:
    """A running webcam -> virtual camera stream (see the module's promises)."""

    def __init__(
        self, config_path: Path, *, overrides: dict[str, Any] | None = None, log_stats: bool = False
    ) -> None:
        self.config_path = Path(config_path)
        file_cfg = config.load(self.config_path)
        self._overrides = dict(overrides or {})
        self._override_base = {k: config.get(file_cfg, k) for k in self._overrides}
        self._cfg = config.apply_changes(file_cfg, self._overrides) if self._overrides else file_cfg
        self._log_stats = log_stats
        self.stats = Stats()
        self.pipeline: Pipeline | None = None
        self.camera: camera.CameraReader | None = None
        self.output: Output | None = None
        self._lock = threading.RLock()  # one settings change at a time
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subscribers: list[Callable[[Status], None]] = []
        self._stop_hooks: list[Callable[[], None]] = []
        self._state, self._message = State.STARTING, ""
        self._idle_since = 0.0
        self._in_use = True
        self._feeds = Feeds(self._feeds_changed)
        self._opened: tuple[dict[str, Any], Format] | None = None  # what the output was opened for
        self._held = ""  # what waits for no app to read the virtual camera (a format held while one reads)
        self._readers_known = True
        self._pacer = Pacer()
        self._output_error = ""
        self._watcher = FileWatcher(self.config_path, settle=POLL)
        self.monitor_wakes = 0  # turns of the monitor's loop (it sleeps until something happens)
        self._kick_r, self._kick_w = socket.socketpair()  # wakes the monitor (read end: the monitor's)
        self._kick_w.setblocking(False)
        self._readers: ReaderWatch | None = None
        self._logged: set[str] = set()
        self._fit: np.ndarray | None = None
        self._still_key: tuple[Any, ...] = ()
        self._still: np.ndarray | None = None
        self._t0 = time.monotonic()
        self._good: np.ndarray | None = None  # the last good treated frame
        self._good_t = 0.0
        self._safe: np.ndarray | None = None
        self._effect_error = ""
        self._camera_fault = ""
        self.failure = ""  # why the daemon stopped by itself, if it did

    # --- life cycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Check the devices, load the model, open the camera and the virtual camera, start the threads."""
        cfg = self._cfg
        self._preflight(cfg)
        self.pipeline = Pipeline(cfg, video=True, loader=ThreadLoader)
        try:
            self.camera = camera.CameraReader(cfg.camera, self.stats)
            self.camera.start(active=not cfg.daemon.privacy)
            self._open_output(cfg)
        except BaseException:
            self._release()
            raise
        self._t0 = time.monotonic()
        for name, target in (("worker", self._work), ("monitor", self._monitor)):
            t = threading.Thread(target=target, name=f"vcamd-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    @staticmethod
    def _preflight(cfg: Config) -> None:
        """Raise one :class:`Problems` naming everything that is clearly missing, one line each with its fix:
        the webcam first (nothing works without it), then the virtual camera (v4l2loopback, then PipeWire)."""
        problems = []
        why = capture.missing_reason(cfg.camera.device, cfg.output.name)
        if why and capture.parse_source(cfg.camera.device).kind == "file":
            problems.append(f"{why}; point camera.device (or --camera) at a camera or an existing video file")
        elif why:
            problems.append(f"{why}: plug one in, or set camera.device (or --camera) to a camera or a video "
                            "file; vcamd devices lists them")
        try:
            outputs.resolve(cfg.output)
        except Problems as e:
            problems += e.lines
        except VcamdError as e:
            problems.append(str(e))
        if problems:
            raise Problems(problems, TRY_WITHOUT if why else PREVIEW_WITHOUT)

    def _open_output(self, cfg: Config) -> None:
        """Open the virtual camera at the format ``output.*`` asks for (zeros: the camera's size and rate)."""
        fmt = output_format.wanted(cfg.output, cfg.camera, self.camera.info if self.camera else None)
        self.output = outputs.open_output(cfg.output, fmt.width, fmt.height, fmt.fps, on_change=self._kick)
        self._opened = (_identity(cfg), fmt)
        self._kick()  # a new output may have a new device to watch

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the daemon is asked to stop (True) or ``timeout`` passes (False)."""
        return self._stopping.wait(timeout)

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` (from whichever thread asks the daemon to stop) when it is asked to stop."""
        self._stop_hooks.append(hook)
        if self._stopping.is_set():
            hook()

    def close(self, timeout: float = CLOSE_BUDGET) -> None:
        """Stop, join the threads, release the camera, the virtual camera and the model: all within
        ``timeout`` seconds (a thread still stuck then keeps what it uses; the process exit frees it)."""
        self.stop()
        self._feeds.close_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):  # never free what a running thread still uses
            log.warning("a thread did not stop in time; the exit releases the devices")
            if self.camera is not None:
                self.camera.stop(max(0.0, deadline - time.monotonic()))
        else:
            self._release(deadline)
        self._set_state(State.STOPPED, "")

    def _release(self, deadline: float | None = None) -> None:
        """Release what start() opened (once; safe to call again)."""
        cam, self.camera = self.camera, None
        if cam is not None:
            cam.stop(CLOSE_BUDGET if deadline is None else max(0.0, deadline - time.monotonic()))
        out, self.output = self.output, None
        if out is not None:
            out.close()
        pipe, self.pipeline = self.pipeline, None
        if pipe is not None:
            pipe.close()
        self._watcher.close()  # the monitor's, which has ended or never started
        self._kick_r.close()
        self._kick_w.close()

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- Control -------------------------------------------------------------------------------------

    def status(self) -> Status:
        s = self.stats.snapshot()
        return Status(self._state, self._message, self._cfg.effect.name, s.fps_in, s.fps_out,
                      s.stages_ms.get("total", 0.0), s.dropped, s.stages_ms, s.cpu_percent, self._held)

    def settings(self) -> Config:
        return self._cfg

    def settings_path(self, create: bool = False) -> Path:
        if create and not self.config_path.exists():
            files.atomic_write(self.config_path, NEW_SETTINGS_FILE)
        return self.config_path

    def backgrounds(self) -> list[Path]:
        return effects.list_images(self._cfg.effect.backgrounds_dir)

    def apply(self, changes: dict[str, Any]) -> Config:
        with self._lock:
            new = config.apply_changes(self._cfg, changes)
            self._switch(new)
            for key in changes:
                self._overrides.pop(key, None)
                self._override_base.pop(key, None)
            try:
                config.update_file(self.config_path, changes)
                self._watcher.mark()
            except (VcamdError, OSError) as e:
                log.warning("applied %s, but could not save it to %s: %s", changes, self.config_path, e)
            return new

    def step_background(self, n: int) -> None:
        if self.pipeline is not None:
            self.pipeline.step(n)

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._kick()
        for hook in self._stop_hooks:
            try:
                hook()
            except Exception:
                log.exception("while stopping")

    def subscribe(self, callback: Callable[[Status], None]) -> None:
        self._subscribers.append(callback)

    def watch(self, width: int) -> Feed:
        return self._feeds.open(width)

    def _feeds_changed(self, count: int) -> None:
        log.info("previews open: %d", count)
        self._wake.set()

    # --- settings ------------------------------------------------------------------------------------

    def _switch(self, new: Config) -> set[str]:
        """Put ``new`` in force between frames; raises VcamdError (nothing changed) if it cannot be built."""
        with self._lock:
            old = self._cfg
            changed = config.changed_sections(old, new)
            if changed & {"effect", "segmentation", "framing"} and self.pipeline is not None:
                self.pipeline.update(new)
            self._cfg = new
            if "camera" in changed and self.camera is not None:
                self.camera.configure(new.camera)
            if changed & {"output", "camera"}:
                self._output_due()  # the status says at once what waits for no app to read
            if "tray" in changed:
                log.info("tray.enabled takes effect at the next start")
            self._wake.set()
            if old.effect.name != new.effect.name:
                self._notify()
            return changed

    def _reload(self) -> None:
        """Read the settings file again; keep the running settings if it is bad."""
        with self._lock:
            try:
                if self.config_path.is_file() and self.config_path.stat().st_size == 0:
                    raise ConfigError(f"{self.config_path}: is empty (a save in progress, or emptied by "
                                      "mistake?); write the settings back, or: vcamd config init --force")
                file_cfg = config.load(self.config_path, missing_ok=False)
            except (ConfigError, OSError) as e:
                log.warning("%s; keeping the last good settings", e)
                return
            for key in list(self._overrides):
                if config.get(file_cfg, key) != self._override_base[key]:
                    log.info("%s now comes from %s (no longer from the command line)", key, self.config_path)
                    del self._overrides[key], self._override_base[key]
            new = config.apply_changes(file_cfg, self._overrides) if self._overrides else file_cfg
            if new == self._cfg:
                return
            try:
                changed = self._switch(new)
            except VcamdError as e:
                log.warning("%s: %s; keeping the last good settings", self.config_path, e)
                return
            log.info("settings reloaded from %s: %s", self.config_path, ", ".join(sorted(changed)))

    # --- state ---------------------------------------------------------------------------------------

    def _set_state(self, state: State, message: str) -> None:
        if (state, message) == (self._state, self._message):
            return
        if state is State.IDLE and self._state is not State.IDLE:
            self._idle_since = time.monotonic()
        self._state, self._message = state, message
        log.info("%s", self.status().line())
        self._notify()

    def _notify(self) -> None:
        status = self.status()
        for callback in list(self._subscribers):
            try:
                callback(status)
            except Exception:
                log.exception("a status subscriber failed")

    def _log_once(self, what: str, err: BaseException, trace: bool = False) -> None:
        text = f"{what}: {err}"
        if text not in self._logged and len(self._logged) < 100:
            self._logged.add(text)
            log.error("%s (logged once; the stream goes on)", text, exc_info=err if trace else None)

    # --- the worker thread ---------------------------------------------------------------------------

    def _decide(self) -> tuple[State, bool]:
        """What to send now, and whether the camera cannot give frames (send cards); holds the camera open
        or releases it to match."""
        assert self.camera is not None
        cfg = self._cfg
        active, cards_due = False, ""
        if cfg.daemon.privacy:
            state, message = State.PRIVACY, "privacy is on: camera off"
        elif cfg.daemon.pause_when_unused and not self._in_use and not self._feeds:
            state, message = State.IDLE, f'no app reads "{cfg.output.name}": camera off'
            if self.output is not None and self.output.backend == outputs.NONE:
                message = "no preview is open (no virtual camera): camera off"
        else:
            active = True
            self._camera_fault = self._watch_camera()
            cards_due = self._output_error or self.camera.error or self._camera_fault
            message = cards_due or self._effect_error
            state = State.ERROR if message else State.LIVE
        self.camera.set_active(active)
        self._set_state(state, message)
        return state, not active or bool(cards_due)

    def _watch_camera(self) -> str:
        """A camera fault the camera thread cannot report itself: its thread died, or a live camera went
        silent (a read that hangs). "" if none."""
        assert self.camera is not None
        if not self.camera.alive:
            self._log_once("the camera thread", RuntimeError("it stopped; starting it again"))
            self.camera.revive()
            return f"camera {self.camera.source.spec}: its reader stopped; restarting it"
        if not self.camera.error and self.camera.silent_for() > CAMERA_SILENCE:
            return f"camera {self.camera.source.spec}: no frame for {CAMERA_SILENCE:g} s; waiting for it"
        return ""

    def _work(self) -> None:
        cv2.setNumThreads(1)
        next_still = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    next_still = self._work_once(next_still)
                except Exception as e:  # guarded: log once, say so, go on
                    self._log_once("the worker", e, trace=True)
                    self._set_state(State.ERROR, f"internal error: {e}")
                    self._stopping.wait(TAKE_TIMEOUT)
        except BaseException as e:
            self.failure = f"the worker thread failed: {e!r}"
            log.exception("%s; stopping", self.failure)
            self.stop()

    def _work_once(self, next_still: float) -> float:
        """One turn of the worker: a live frame, or a card when one is due; returns when the next card is."""
        if self._output_due() and not self._reopen_output():
            self._stopping.wait(OUTPUT_RETRY)
            return next_still
        state, cards_due = self._decide()
        if state in (State.LIVE, State.ERROR):
            assert self.camera is not None
            item = self.camera.slot.take(TAKE_TIMEOUT)
            if item is not None:
                if self.output is None or self._pacer.due(item.t, self.output.fps):
                    self._send_live(item)
                return next_still
            if not cards_due:
                self._bridge()
                return next_still
        now = time.monotonic()
        if now >= next_still:
            self._send(self._still_frame(state))
            self.stats.frame_out()
            period = 1.0 / self._cfg.daemon.idle_fps
            if state is State.IDLE and now - self._idle_since >= IDLE_FULL_RATE:
                period = max(period, IDLE_KEEPALIVE)
            return now + period
        # Paused or private, the camera is off: nothing to look at until the next card or a wake (settings,
        # readers, stop), so an idle daemon wakes only for its cards, not ten times a second.
        paused = state in (State.IDLE, State.PRIVACY)
        if self._wake.wait(next_still - now if paused else min(TAKE_TIMEOUT, next_still - now)):
            self._wake.clear()
            return now  # something changed: a card now if one is still due, at the new state's rate
        return next_still

    def _send_live(self, item: camera.Captured) -> None:
        assert self.pipeline is not None
        stages: dict[str, float] | None = None
        try:
            out = self.pipeline.process(item.frame, item.t - self._t0)
            stages = self.pipeline.last_ms.as_dict()
        except Exception as e:
            self.stats.frame_failed()
            out = self._instead_of(item.frame, e)
        else:
            self._keep_good(out)
        self._send(out)
        self.stats.frame_out((time.monotonic() - item.t) * 1000.0, stages)

    def _keep_good(self, out: np.ndarray) -> None:
        """Remember a treated frame (one every KEEP_GOOD_EVERY s), to cover a short failure of the effect.
        A frame of no effect is the room itself: it is never kept, and it voids the one kept before. The
        safe frame and the card, needed again only after a fault, are let go."""
        if self._effect_error:
            log.info("the effect works again")
            self._effect_error = ""
        self._safe = self._still = None  # held only while needed: a daemon that runs for days stays lean
        assert self.pipeline is not None
        if not self.pipeline.last_treated:
            self._good_t = float("-inf")
            return
        now = time.monotonic()
        if self._good is None or self._good.shape != out.shape:
            self._good = np.empty_like(out)
        elif now - self._good_t < KEEP_GOOD_EVERY:
            return
        np.copyto(self._good, out)
        self._good_t = now

    def _bridge(self) -> None:
        """No camera frame for TAKE_TIMEOUT (the camera opening again after a settings change, or a hiccup):
        the last treated frame once more, so apps see no gap; for up to LAST_GOOD_FOR s, never the room."""
        if self._good is not None and time.monotonic() - self._good_t <= LAST_GOOD_FOR:
            self._send(self._good)
            self.stats.frame_out()

    def _instead_of(self, frame: np.ndarray, err: Exception) -> np.ndarray:
        """What goes out for a frame the pipeline failed on: never the frame itself (the room)."""
        self._log_once("a frame could not be treated", err)
        if self._good is not None and time.monotonic() - self._good_t <= LAST_GOOD_FOR:
            return self._good
        self._effect_error = f"the effect failed ({err}); sending the camera blurred"
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

    def _send(self, frame: np.ndarray) -> None:
        """Send a BGR (or BGRA) frame, cover-fitted to the output's size if it has another (never stretched:
        a camera of another size or shape under a held format fills the picture)."""
        if self.output is None:
            return
        if frame.ndim == 3 and frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)  # a camera has no alpha
        w, h = self.output.size
        if frame.shape[:2] != (h, w):
            shape = (h, w, *frame.shape[2:])
            if self._fit is None or self._fit.shape != shape or self._fit.dtype != frame.dtype:
                self._fit = np.empty(shape, frame.dtype)  # as the frame: resize cannot write into another
            frame = cover_fit(frame, (w, h), dst=self._fit)
        try:
            self.output.send(frame)
        except Exception as e:
            self._log_once(f"virtual camera {self.output.device}: a frame could not be sent", e)
        if self._feeds:
            try:
                self._feeds.publish(frame)
            except Exception as e:
                self._log_once("a preview: a frame could not be copied", e)

    def _still_frame(self, state: State) -> np.ndarray:
        """The card for ``state`` at the output size (built once per state, message and size)."""
        assert self.output is not None
        cfg = self._cfg.daemon
        key = (state, self._message, self.output.size, cfg.privacy_image)
        if key != self._still_key or self._still is None:
            size = self.output.size
            if state is State.PRIVACY and cfg.privacy_image:
                try:
                    self._still = cards.picture(cfg.privacy_image, size)
                except VcamdError as e:
                    self._log_once("daemon.privacy_image", e)
                    self._still = cards.card(size, "camera paused")
            elif state is State.PRIVACY:
                self._still = cards.card(size, "camera paused", "privacy is on")
            elif state is State.IDLE:
                self._still = cards.card(size, "camera starting", self._cfg.output.name)
            else:
                self._still = cards.card(size, "camera unavailable", self._message or "retrying")
            self._still_key = key
        return self._still

    def _output_due(self) -> bool:
        """Whether the virtual camera must be opened (again) now: it is not open (an open failed), or the
        settings or the camera ask for another and no app reads it. While an app reads, its format is held
        (apps drop a camera that goes away) and the status says until when."""
        if self.output is None or self._opened is None:
            return True
        cfg = self._cfg
        new = (_identity(cfg), output_format.wanted(cfg.output, cfg.camera,
                                                   self.camera.info if self.camera else None))
        if new == self._opened:
            self._hold("")
            return False
        if self._in_use:
            self._hold(output_format.hold_note(self._opened[1], new[1], self._readers_known))
            return False
        return True

    def _hold(self, note: str) -> None:
        """Say (status, tray, log) what waits for no app to read the virtual camera; "" once nothing does."""
        if note != self._held:
            self._held = note
            if note:
                log.info("virtual camera %s: %s", self._cfg.output.name, note)
            self._notify()

    def _reopen_output(self) -> bool:
        """Open the virtual camera again with the settings in force; False (and ERROR) if it fails."""
        self._hold("")
        if self.output is not None:
            self.output.close()
            self.output = None
        try:
            self._open_output(self._cfg)
        except VcamdError as e:
            if str(e) != self._output_error:
                log.error("%s; retrying every %.0f s", e, OUTPUT_RETRY)
            self._output_error = str(e)
            self._set_state(State.ERROR, self._output_error)
            return False
        self._output_error = ""
        return True

    # --- the monitor thread --------------------------------------------------------------------------

    def _kick(self) -> None:
        """Wake the monitor (from any thread)."""
        with contextlib.suppress(OSError):  # full (a wake is pending anyway) or closed (the monitor ended)
            self._kick_w.send(b"k")

    def _monitor(self) -> None:
        next_stats = time.monotonic() + STATS_EVERY
        next_trim = time.monotonic() + memory.TRIM_EVERY
        try:
            while not self._stopping.is_set():
                if time.monotonic() >= next_trim:
                    next_trim = time.monotonic() + memory.TRIM_EVERY
                    log.debug("free heap pages given back in %.1f ms", memory.give_back() * 1000)
                failed = False
                for step in (self._watch_readers, self._watch_settings):
                    try:
                        step()
                    except Exception as e:  # guarded: log once, go on watching
                        self._log_once("the monitor", e, trace=True)
                        failed = True
                stats = self._log_stats or self._cfg.daemon.stats
                if stats and time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + STATS_EVERY
                    log.info("stats: %s", self.stats.snapshot().line())
                self.monitor_wakes += 1
                self._monitor_sleep(POLL if failed else min(next_trim, next_stats if stats else next_trim)
                                    - time.monotonic())
        finally:
            if self._readers is not None:
                self._readers.close()

    def _monitor_sleep(self, longest: float) -> None:
        """Sleep until a watcher, the output or stop() has news, or the first timed look is due."""
        now = time.monotonic()
        watchers = [w for w in (self._readers, self._watcher) if w is not None]
        fds = [self._kick_r.fileno(), *(fd for w in watchers if (fd := w.fileno()) is not None)]
        wait = min([longest, MONITOR_LONGEST, *(w.due(now) for w in watchers)])
        readable, _, _ = select.select(fds, [], [], max(0.0, wait))
        if fds[0] in readable:  # the watchers' own news is read by their next look
            with contextlib.suppress(BlockingIOError):
                while self._kick_r.recv(64, socket.MSG_DONTWAIT):
                    pass

    def _watch_readers(self) -> None:
        """Look (without waiting) whether apps opened or closed the virtual camera."""
        output = self.output
        if output is None and not self._output_error:  # being opened again: nobody can read it yet
            return
        path = output.reader_path if output is not None else ""
        watch = self._readers
        if (watch.path if watch else "") != (os.path.realpath(path) if path else ""):
            self._readers = None
            if watch is not None:
                watch.close()
            self._readers = watch = ReaderWatch(path) if path else None
        in_use = watch.poll() if watch is not None else True
        said = output.in_use() if output is not None else None
        self._readers_known = said is not None or bool(watch is not None and watch.supported)
        if said is not None:  # the output knows (a PipeWire node's links); device readers count too
            in_use = said or bool(watch is not None and watch.supported and in_use)
        if in_use != self._in_use:
            self._readers_changed(in_use)

    def _watch_settings(self) -> None:
        if self._watcher.changed():
            self._reload()

    def _readers_changed(self, in_use: bool) -> None:
        self._in_use = in_use
        name = self._cfg.output.name
        level = logging.INFO if self._cfg.daemon.pause_when_unused else logging.DEBUG
        log.log(level, '%s "%s"', "an app opened" if in_use else "no app reads", name)
        self._wake.set()


def _identity(cfg: Config) -> dict[str, Any]:
    """The output settings that name the virtual camera (all but its format): another one is a new camera."""
    return cfg.output.model_dump(exclude={"width", "height", "fps"})
