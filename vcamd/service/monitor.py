"""The settings monitor: the settings in force kept current with their file, and who reads the virtual camera.

Promises:
- :attr:`Monitor.settings` are the settings in force: the file's, with the command-line overrides over it.
  An override holds until that key is edited in the file or changed through :meth:`Monitor.apply`.
- The file is watched (inotify on its folder, else polled): a change takes effect within a second, between
  frames, all at once (:meth:`Monitor.switch`, one change at a time). A file that is unreadable, not UTF-8,
  not TOML, invalid, or empty (0 bytes: a save in progress, or an accident), or settings that cannot be
  built, are logged in one line (file, key, value) and the last good settings keep running.
- :meth:`Monitor.apply` puts changes in force, then saves them to the file (tomlkit: comments kept); a change
  that cannot be saved stays in force, logged.
- :meth:`Monitor.run` is the monitor thread. It sleeps until something happens: inotify on the settings
  file and on the virtual camera's device, :meth:`Monitor.kick` (the output's ``on_change``, ``stop()``),
  or its next timed look (stats every STATS_EVERY s when asked for, giving free heap pages back every
  :data:`~vcamd.service.memory.TRIM_EVERY` s, a settling change, at most MONITOR_LONGEST s). Idle, it wakes
  a few times in five seconds. Each turn looks whether apps opened or closed the virtual camera
  (:attr:`Monitor.in_use`; :attr:`Monitor.readers_known` is False where that cannot be told), then at the
  file. A look that raises is logged once and the loop goes on (looking again after POLL s).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from vcamd import config
from vcamd.config import Config, ConfigError
from vcamd.errors import VcamdError
from vcamd.outputs import Output
from vcamd.service import memory
from vcamd.service.log_once import LogOnce
from vcamd.service.stats import Stats
from vcamd.service.watch import FileWatcher, ReaderWatch

log = logging.getLogger(__name__)

POLL = 0.25  # seconds a settings change must hold still; between looks where nothing can wake the monitor
#: Longest the monitor sleeps when the watchers, the output and stop() can wake it.
MONITOR_LONGEST = 5.0
STATS_EVERY = 5.0


class Host(Protocol):
    """What the monitor serves: the daemon, which owns the pipeline, the camera and the output."""

    def current_output(self) -> tuple[Output | None, str]:
        """The virtual camera open now (None while it is opened again, or if opening it failed) and why it
        failed ("" if it did not)."""
        ...

    def prepare(self, new: Config, changed: set[str]) -> None:
        """Build what settings ``new`` (``changed``: its sections that differ) need, off the worker; raise
        :class:`VcamdError` if they cannot be, having changed nothing."""
        ...

    def settings_changed(self, old: Config, changed: set[str]) -> None:
        """The settings in force changed from ``old``: follow them (camera, output, status)."""
        ...

    def readers_changed(self) -> None:
        """Apps opened the virtual camera, or the last one closed it (:attr:`Monitor.in_use`)."""
        ...


class Monitor:
    """The settings in force and the monitor thread (see the module's promises)."""

    def __init__(self, path: Path, overrides: dict[str, Any] | None, host: Host, *, stopping: threading.Event,
                 stats: Stats, log_stats: bool, log_once: LogOnce) -> None:
        """Load the settings from ``path`` with ``overrides`` over them (raises :class:`ConfigError`)."""
        self.path = Path(path)
        file_cfg = config.load(self.path)
        self._overrides = dict(overrides or {})
        self._override_base = {k: config.get(file_cfg, k) for k in self._overrides}
        self.settings = config.apply_changes(file_cfg, self._overrides) if self._overrides else file_cfg
        self._host = host
        self._stopping = stopping
        self._stats = stats
        self._log_stats = log_stats
        self._log_once = log_once
        self._lock = threading.RLock()  # one settings change at a time
        self.in_use = True  # whether some app reads the virtual camera
        self.readers_known = True  # whether that can be told here
        self.wakes = 0  # turns of the loop (it sleeps until something happens)
        self._watcher = FileWatcher(self.path, settle=POLL)
        self._readers: ReaderWatch | None = None
        self._kick_r, self._kick_w = socket.socketpair()  # wakes the loop (read end: the monitor's)
        self._kick_w.setblocking(False)

    # --- the settings in force ------------------------------------------------------------------------

    def apply(self, changes: dict[str, Any]) -> Config:
        """Put ``changes`` (dotted keys) in force and save them to the file; raises VcamdError (nothing
        changed) if they are invalid or cannot be built."""
        with self._lock:
            new = config.apply_changes(self.settings, changes)
            self.switch(new)
            for key in changes:
                self._overrides.pop(key, None)
                self._override_base.pop(key, None)
            try:
                config.update_file(self.path, changes)
                self._watcher.mark()
            except (VcamdError, OSError) as e:
                log.warning("applied %s, but could not save it to %s: %s", changes, self.path, e)
            return new

    def switch(self, new: Config) -> set[str]:
        """Put ``new`` in force between frames; raises VcamdError (nothing changed) if it cannot be built.
        Returns the sections that changed."""
        with self._lock:
            old = self.settings
            changed = config.changed_sections(old, new)
            self._host.prepare(new, changed)
            self.settings = new
            self._host.settings_changed(old, changed)
            if "tray" in changed:
                log.info("tray.enabled takes effect at the next start")
            return changed

    def _reload(self) -> None:
        """Read the settings file again; keep the running settings if it is bad."""
        with self._lock:
            try:
                if self.path.is_file() and self.path.stat().st_size == 0:
                    raise ConfigError(f"{self.path}: is empty (a save in progress, or emptied by "
                                      "mistake?); write the settings back, or: vcamd config init --force")
                file_cfg = config.load(self.path, missing_ok=False)
            except (ConfigError, OSError) as e:
                log.warning("%s; keeping the last good settings", e)
                return
            for key in list(self._overrides):
                if config.get(file_cfg, key) != self._override_base[key]:
                    log.info("%s now comes from %s (no longer from the command line)", key, self.path)
                    del self._overrides[key], self._override_base[key]
            new = config.apply_changes(file_cfg, self._overrides) if self._overrides else file_cfg
            if new == self.settings:
                return
            try:
                changed = self.switch(new)
            except VcamdError as e:
                log.warning("%s: %s; keeping the last good settings", self.path, e)
                return
            log.info("settings reloaded from %s: %s", self.path, ", ".join(sorted(changed)))

    # --- the thread -----------------------------------------------------------------------------------

    def kick(self) -> None:
        """Wake the loop (from any thread)."""
        with contextlib.suppress(OSError):  # full (a wake is pending anyway) or closed (the loop ended)
            self._kick_w.send(b"k")

    def run(self) -> None:
        """The monitor thread's loop, until ``stopping`` is set (:meth:`kick` then wakes it)."""
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
                stats = self._log_stats or self.settings.daemon.stats
                if stats and time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + STATS_EVERY
                    log.info("stats: %s", self._stats.snapshot().line())
                self.wakes += 1
                self._sleep(POLL if failed else min(next_trim, next_stats if stats else next_trim)
                            - time.monotonic())
        finally:
            if self._readers is not None:
                self._readers.close()

    def _sleep(self, longest: float) -> None:
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
        output, error = self._host.current_output()
        if output is None and not error:  # being opened again: nobody can read it yet
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
        self.readers_known = said is not None or bool(watch is not None and watch.supported)
        if said is not None:  # the output knows (a PipeWire node's links); device readers count too
            in_use = said or bool(watch is not None and watch.supported and in_use)
        if in_use != self.in_use:
            self.in_use = in_use
            name = self.settings.output.name
            level = logging.INFO if self.settings.daemon.pause_when_unused else logging.DEBUG
            log.log(level, '%s "%s"', "an app opened" if in_use else "no app reads", name)
            self._host.readers_changed()

    def _watch_settings(self) -> None:
        if self._watcher.changed():
            self._reload()

    def close(self) -> None:
        """Release the watchers and the wake-up socket (after :meth:`run` ended, or if it never ran)."""
        self._watcher.close()
        self._kick_r.close()
        self._kick_w.close()
