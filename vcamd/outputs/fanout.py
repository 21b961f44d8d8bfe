"""One treated frame to several outputs at once (``output.backend = "auto"`` on Linux: v4l2loopback and
PipeWire).

Promises: ``FanOut(outputs)`` is an :class:`~vcamd.outputs.base.Output` of the first output's size and
rate; ``send`` hands each frame to every output, and one output failing does not keep the frame from the
others (the first failure is raised after all were tried). ``reader_path`` is the first output's device file
that apps open; ``in_use()`` is True when any output that can tell says so, None when none can tell.
``close`` closes every output, each once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vcamd.outputs.base import Output


class FanOut:
    """Several open outputs fed the same frames (see the module's promises)."""

    def __init__(self, outputs: Sequence[Output]) -> None:
        self.outputs = list(outputs)
        self.backend = "+".join(o.backend for o in self.outputs)
        self.device = " and ".join(o.device for o in self.outputs)
        self.size = self.outputs[0].size
        self.fps = self.outputs[0].fps

    @property
    def reader_path(self) -> str:
        return next((o.reader_path for o in self.outputs if o.reader_path), "")

    def in_use(self) -> bool | None:
        known = [u for u in (o.in_use() for o in self.outputs) if u is not None]
        return any(known) if known else None

    def send(self, frame: np.ndarray) -> None:
        failed: Exception | None = None
        for output in self.outputs:
            try:
                output.send(frame)
            except Exception as e:  # one output's failure must not starve the others
                failed = failed or e
        if failed is not None:
            raise failed

    def close(self) -> None:
        outputs, self.outputs = self.outputs, []
        for output in outputs:
            output.close()
