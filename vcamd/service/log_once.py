"""Errors of a running stream, logged once each: a fault that repeats every frame fills no log.

Promise: ``LogOnce(logger)("what", err)`` logs ``what: err`` as an error the first time that exact text comes,
saying the stream goes on (with the traceback if ``trace``), and never again; at most :data:`LIMIT` distinct
texts are logged in all (errors that carry a changing detail cannot grow it for ever).
"""

from __future__ import annotations

import logging

LIMIT = 100


class LogOnce:
    """Logs each distinct error once (see the module's promise); shared by the daemon's threads."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._logged: set[str] = set()

    def __call__(self, what: str, err: BaseException, trace: bool = False) -> None:
        text = f"{what}: {err}"
        if text not in self._logged and len(self._logged) < LIMIT:
            self._logged.add(text)
            self._log.error("%s (logged once; the stream goes on)", text, exc_info=err if trace else None)
