"""The daemon: webcam -> pipeline -> virtual camera on threads; live settings, pausing, privacy, stats.

Promises:
- :class:`Daemon` implements :class:`~vcamd.service.control.Control`. ``start()`` raises
  :class:`VcamdError` when there is no webcam or no virtual camera (:mod:`vcamd.service.preflight`: what is
  missing, its fix, how to try the effects meanwhile); once started it never dies of a frame, a camera or
  a settings file.
- Three threads: the camera (:mod:`vcamd.service.camera`, latest frame only), the worker (pipeline, then the
  virtual camera through the output guard, :mod:`vcamd.service.guard`: contiguous BGR, at the output size
  and at most at its rate) and the monitor (:mod:`vcamd.service.monitor`: the settings file, live within a
  second, a bad one logged while the last good settings keep running; readers; stats; the heap).
- Pause when unused (where the device is a file apps open: v4l2loopback): with no other process reading the
  virtual camera, the webcam is released within 2 s and a still frame goes out at ``daemon.idle_fps`` for
  IDLE_FULL_RATE seconds, then one every IDLE_KEEPALIVE seconds; an app opening the device gets live video
  within a second. Privacy sends a card (or ``daemon.privacy_image``) and releases the webcam; a missing or
  busy camera sends a card while the camera retries.
- A camera that gives no frame for TAKE_TIMEOUT while live (opening again after a settings change, a
  hiccup) is bridged by the guard with the last treated frame (for up to a second; nothing with no effect).
- While an effect is on, no untreated camera frame goes out (the guard's rule: the last good treated frame
  for up to a second, then a safe frame); the status says so (ERROR, with why).
- Every thread's loop is guarded: an unexpected exception is logged once and the loop goes on. A camera that
  is live but gives no frame for a second, or whose thread died, is a camera fault: a card goes out while it
  retries. A worker that cannot go on stops the daemon with :attr:`Daemon.failure` set (never quietly).
- ``close()`` returns within :data:`CLOSE_BUDGET` seconds in all, whatever the threads are stuck in.
- While an app reads the virtual camera, its format (size, rate, pixel format) and its node or device stay
  whatever the settings or the camera do: frames are cover-fitted to its size and paced to its rate, and the
  status's ``note`` says what waits ("720p until the call ends (then 360p)"). The camera is opened again with
  the new settings the moment no app reads it (see :mod:`vcamd.service.output_format`).
- An output that tells who reads it (``Output.in_use()``: the PipeWire camera's links) pauses the same way.
- :meth:`Daemon.watch` opens a :class:`~vcamd.service.feed.Feed` of the frames exactly as they are sent (a
  live preview); while one is open it counts as an app reading: the camera opens for it and is released
  again, as above, when the last feed closes and no app reads. ``close()`` closes every feed.
- Idle, the whole process wakes a few times in five seconds: the monitor and the worker sleep until
  something happens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from vcamd import files, outputs
from vcamd.config import Config
from vcamd.engine import effects
from vcamd.engine.pipeline import Pipeline
from vcamd.errors import VcamdError
from vcamd.outputs import Output
from vcamd.service import camera, output_format, preflight
from vcamd.service.control import State, Status
from vcamd.service.feed import Feed, Feeds
from vcamd.service.guard import OutputGuard
from vcamd.service.loader import ThreadLoader
from vcamd.service.log_once import LogOnce
from vcamd.service.monitor import Monitor
from vcamd.service.output_format import Format, Pacer
from vcamd.service.stats import Stats

log = logging.getLogger(__name__)

TAKE_TIMEOUT = 0.1  # longest the worker waits for a camera frame before looking around
OUTPUT_RETRY = 2.0
CAMERA_SILENCE = 1.0  # seconds a live camera may give no frame before the daemon calls it a camera fault
#: While no app reads the virtual camera: cards at idle_fps for this many seconds, then one every
#: IDLE_KEEPALIVE seconds (nobody sees them; each still costs a frame's conversion, 5 ms after a sleep here).
IDLE_FULL_RATE = 2.0
IDLE_KEEPALIVE = 5.0
CLOSE_BUDGET = 1.8  # seconds close() may take in all (the promise is 2 s from the signal)
NEW_SETTINGS_FILE = "# vcamd settings; every key and its default: vcamd config show\n"


class Daemon:
    """A running webcam -> virtual camera stream (see the module's promises)."""

    def __init__(
        self, config_path: Path, *, overrides: dict[str, Any] | None = None, log_stats: bool = False
    ) -> None:
        self.config_path = Path(config_path)
        self.stats = Stats()
        self._stopping = threading.Event()
        self._wake = threading.Event()  # wakes the worker
        self._log_once = LogOnce(log)
        self._monitor = Monitor(self.config_path, overrides, self, stopping=self._stopping, stats=self.stats,
                                log_stats=log_stats, log_once=self._log_once)
        self.pipeline: Pipeline | None = None
        self.camera: camera.CameraReader | None = None
        self.output: Output | None = None
        self._threads: list[threading.Thread] = []
        self._subscribers: list[Callable[[Status], None]] = []
        self._stop_hooks: list[Callable[[], None]] = []
        self._state, self._message = State.STARTING, ""
        self._idle_since = 0.0
        self._feeds = Feeds(self._feeds_changed)
        self._guard = OutputGuard(self.stats, self._feeds, self._log_once)
        self._opened: tuple[dict[str, Any], Format] | None = None  # what the output was opened for
        # What _wanted_output worked out last, and for which settings and camera info.
        self._wanted: tuple[Config, camera.CameraInfo | None, tuple[dict[str, Any], Format]] | None = None
        self._held = ""  # what waits for no app to read the virtual camera (a format held while one reads)
        self._pacer = Pacer()
        self._output_error = ""
        self._t0 = time.monotonic()
        self._camera_fault = ""
        self.failure = ""  # why the daemon stopped by itself, if it did

    @property
    def monitor_wakes(self) -> int:
        """Turns of the monitor's loop (it sleeps until something happens)."""
        return self._monitor.wakes

    # --- life cycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Check the devices, load the model, open the camera and the virtual camera, start the threads."""
        cfg = self._monitor.settings
        preflight.check(cfg)
        self.pipeline = Pipeline(cfg, video=True, loader=ThreadLoader)
        try:
            self.camera = camera.CameraReader(cfg.camera, self.stats)
            self.camera.start(active=not cfg.daemon.privacy)
            self._open_output(cfg)
        except BaseException:
            self._release()
            raise
        self._t0 = time.monotonic()
        for name, target in (("worker", self._work), ("monitor", self._monitor.run)):
            t = threading.Thread(target=target, name=f"vcamd-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def _open_output(self, cfg: Config) -> None:
        """Open the virtual camera at the format ``output.*`` asks for (zeros: the camera's size and rate)."""
        fmt = output_format.wanted(cfg.output, cfg.camera, self.camera.info if self.camera else None)
        self.output = outputs.open_output(cfg.output, fmt.width, fmt.height, fmt.fps,
                                          on_change=self._monitor.kick)
        self._opened = (_identity(cfg), fmt)
        self._monitor.kick()  # a new output may have a new device to watch

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
        self._monitor.close()  # the monitor thread has ended or never started

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- Control -------------------------------------------------------------------------------------

    def status(self) -> Status:
        s = self.stats.snapshot()
        return Status(self._state, self._message, self._monitor.settings.effect.name, s.fps_in, s.fps_out,
                      s.stages_ms.get("total", 0.0), s.dropped, s.stages_ms, s.cpu_percent, self._held)

    def settings(self) -> Config:
        return self._monitor.settings

    def settings_path(self, create: bool = False) -> Path:
        if create and not self.config_path.exists():
            files.atomic_write(self.config_path, NEW_SETTINGS_FILE)
        return self.config_path

    def backgrounds(self) -> list[Path]:
        return effects.list_images(self._monitor.settings.effect.backgrounds_dir)

    def apply(self, changes: dict[str, Any]) -> Config:
        return self._monitor.apply(changes)

    def step_background(self, n: int) -> None:
        if self.pipeline is not None:
            self.pipeline.step(n)

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._monitor.kick()
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

    # --- what the monitor calls (monitor.Host) ------------------------------------------------------

    def current_output(self) -> tuple[Output | None, str]:
        return self.output, self._output_error

    def prepare(self, new: Config, changed: set[str]) -> None:
        if changed & {"effect", "segmentation", "framing"} and self.pipeline is not None:
            self.pipeline.update(new)

    def settings_changed(self, old: Config, changed: set[str]) -> None:
        new = self._monitor.settings
        if "camera" in changed and self.camera is not None:
            self.camera.configure(new.camera)
        if changed & {"output", "camera"}:
            self._output_due()  # the status says at once what waits for no app to read
        self._wake.set()
        if old.effect.name != new.effect.name:
            self._notify()

    def readers_changed(self) -> None:
        self._wake.set()

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

    # --- the worker thread ---------------------------------------------------------------------------

    def _decide(self) -> tuple[State, bool]:
        """What to send now, and whether the camera cannot give frames (send cards); holds the camera open
        or releases it to match."""
        assert self.camera is not None
        cfg = self._monitor.settings
        active, cards_due = False, ""
        if cfg.daemon.privacy:
            state, message = State.PRIVACY, "privacy is on: camera off"
        elif cfg.daemon.pause_when_unused and not self._monitor.in_use and not self._feeds:
            state, message = State.IDLE, f'no app reads "{cfg.output.name}": camera off'
            if self.output is not None and self.output.backend == outputs.NONE:
                message = "no preview is open (no virtual camera): camera off"
        else:
            active = True
            self._camera_fault = self._watch_camera()
            cards_due = self._output_error or self.camera.error or self._camera_fault
            message = cards_due or self._guard.effect_error
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
                    assert self.pipeline is not None
                    self._guard.live(self.output, self.pipeline, item, item.t - self._t0)
                return next_still
            if not cards_due:
                self._guard.bridge(self.output)
                return next_still
        now = time.monotonic()
        if now >= next_still:
            assert self.output is not None
            self._guard.card(self.output, state, self._message, self._monitor.settings)
            period = 1.0 / self._monitor.settings.daemon.idle_fps
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

    def _output_due(self) -> bool:
        """Whether the virtual camera must be opened (again) now: it is not open (an open failed), or the
        settings or the camera ask for another and no app reads it. While an app reads, its format is held
        (apps drop a camera that goes away) and the status says until when."""
        if self.output is None or self._opened is None:
            return True
        new = self._wanted_output()
        if new == self._opened:
            self._hold("")
            return False
        if self._monitor.in_use:
            self._hold(output_format.hold_note(self._opened[1], new[1], self._monitor.readers_known))
            return False
        return True

    def _wanted_output(self) -> tuple[dict[str, Any], Format]:
        """The virtual camera the settings in force and the camera ask for: (its identity, its format). Worked
        out again only when the settings or the camera's info are other objects (both are replaced, never
        changed in place): a model_dump every frame cost the worker 0.05 ms a frame."""
        cfg = self._monitor.settings
        info = self.camera.info if self.camera else None
        last = self._wanted
        if last is None or last[0] is not cfg or last[1] is not info:
            fmt = output_format.wanted(cfg.output, cfg.camera, info)
            last = self._wanted = (cfg, info, (_identity(cfg), fmt))
        return last[2]

    def _hold(self, note: str) -> None:
        """Say (status, tray, log) what waits for no app to read the virtual camera; "" once nothing does."""
        if note != self._held:
            self._held = note
            if note:
                log.info("virtual camera %s: %s", self._monitor.settings.output.name, note)
            self._notify()

    def _reopen_output(self) -> bool:
        """Open the virtual camera again with the settings in force; False (and ERROR) if it fails."""
        self._hold("")
        if self.output is not None:
            self.output.close()
            self.output = None
        try:
            self._open_output(self._monitor.settings)
        except VcamdError as e:
            if str(e) != self._output_error:
                log.error("%s; retrying every %.0f s", e, OUTPUT_RETRY)
            self._output_error = str(e)
            self._set_state(State.ERROR, self._output_error)
            return False
        self._output_error = ""
        return True


def _identity(cfg: Config) -> dict[str, Any]:
    """The output settings that name the virtual camera (all but its format): another one is a new camera."""
    return cfg.output.model_dump(exclude={"width", "height", "fps"})
