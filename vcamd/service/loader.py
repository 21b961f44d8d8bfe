"""The daemon's loader of background files: decoding on a helper thread, so the worker never waits for one.

Promises: ``ThreadLoader`` is an :class:`vcamd.engine.effects.Loader` whose jobs run on a thread of its own
(started at the first request): a one-job slot, where a newer request replaces one not started yet, and a
one-result slot the effect takes from (it shows the previous picture until then). A job's failure is a
result, never the thread's end. ``close(then)`` returns at once; the thread finishes the job it is in, runs
``then()`` (closing the files the jobs read) and ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

from vcamd.engine.effects.base import Job, Loaded, Loader, run_job

log = logging.getLogger(__name__)


class ThreadLoader(Loader):
    """A :class:`Loader` running its jobs on a helper thread (see the module's promises)."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._cond = threading.Condition()
        self._job: tuple[Hashable, Job] | None = None
        self._result: Loaded | None = None
        self._closing = False
        self._then: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    def request(self, key: Hashable, job: Job) -> None:
        with self._cond:
            if self._closing:
                return
            self._job = (key, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"vcamd-load-{self.name}", daemon=True)
                self._thread.start()
            self._cond.notify()

    def take(self) -> Loaded | None:
        with self._cond:
            done, self._result = self._result, None
            return done

    def close(self, then: Callable[[], None] | None = None) -> None:
        with self._cond:
            self._closing, self._then, self._job = True, then, None
            running = self._thread is not None
            self._cond.notify()
        if not running and then is not None:
            then()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    then = self._then
                    break
                key, job = self._job  # type: ignore[misc]
                self._job = None
            done = run_job(key, job)  # never raises
            with self._cond:
                self._result = done
        if then is not None:
            try:
                then()
            except Exception:
                log.exception("closing a background file")
