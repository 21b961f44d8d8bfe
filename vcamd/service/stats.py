"""Counters of a running stream: fps in and out, per-stage ms, latency, dropped (by us or the camera), failed,
and the process's CPU.

Promises: every method may be called from any thread; ``snapshot()`` describes the last couple of seconds
(rates over a sliding window, milliseconds as running averages, CPU as % of one core over at least the
last WINDOW seconds, every thread of the process counted), and ``latencies_ms()`` keeps the
capture-to-send times of the last 2000 frames sent, for benchmarks.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

WINDOW = 2.0  # seconds of history behind the fps figures
EMA = 0.1  # weight of the newest frame in the averaged milliseconds


class RateMeter:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._times: deque[float] = deque(maxlen=1024)

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        recent = [t for t in list(self._times) if now - t <= self.window]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)


class CpuMeter:
    """The process's CPU time (all threads) as % of one core, over at least the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque([(time.monotonic(), time.process_time())])
        self._last = 0.0

    def percent(self) -> float:
        """% of one core since the oldest kept sample (the newest one at least ``window`` old)."""
        now, cpu = time.monotonic(), time.process_time()
        samples = self._samples
        while len(samples) > 1 and now - samples[1][0] >= self.window:
            samples.popleft()
        t0, c0 = samples[0]
        if now - t0 >= 0.2:
            self._last = 100.0 * (cpu - c0) / (now - t0)
        if now - samples[-1][0] >= 0.2:
            samples.append((now, cpu))
        return self._last


@dataclass(frozen=True)
class Snapshot:
    """What the stream did lately."""

    fps_in: float = 0.0
    fps_out: float = 0.0
    dropped: int = 0
    failed: int = 0
    camera_dropped: int = 0
    latency_ms: float = 0.0
    stages_ms: dict[str, float] = field(default_factory=dict)
    cpu_percent: float = 0.0  # the whole process, % of one core

    def line(self) -> str:
        """``in 30.0 fps · out 30.0 fps · cpu 24 % · latency 9.1 ms · dropped 0 · segment 2.4 · ... ms``."""
        stages = " ".join(f"{k} {v:.1f}" for k, v in self.stages_ms.items())
        failed = f" · failed {self.failed}" if self.failed else ""
        own = f" (+{self.camera_dropped} by the camera)" if self.camera_dropped else ""
        return (
            f"in {self.fps_in:.1f} fps · out {self.fps_out:.1f} fps · cpu {self.cpu_percent:.0f} % · "
            f"latency {self.latency_ms:.1f} ms · "
            f"dropped {self.dropped}{own}{failed} · {stages or 'no frames treated'} ms"
        )


class Stats:
    """Shared by the camera thread (frames in, dropped) and the worker (frames out, timings)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in = RateMeter()
        self._out = RateMeter()
        self._stages: dict[str, float] = {}
        self._latency = 0.0
        self._latencies: deque[float] = deque(maxlen=2000)
        self.dropped = 0
        self.failed = 0
        self.dropped_by_camera = 0
        self._cpu = CpuMeter()

    def frame_in(self) -> None:
        """The camera delivered a frame."""
        self._in.tick()

    def frame_dropped(self) -> None:
        """A frame was replaced by a newer one before the worker took it."""
        with self._lock:
            self.dropped += 1

    def camera_dropped(self) -> None:
        """The camera itself skipped a frame (a file standing in for it fell behind its clock)."""
        with self._lock:
            self.dropped_by_camera += 1

    def frame_failed(self) -> None:
        """The pipeline raised on a frame (the guard sent a cover instead: never the frame itself)."""
        with self._lock:
            self.failed += 1

    def frame_out(self, latency_ms: float | None = None, stages_ms: dict[str, float] | None = None) -> None:
        """A frame was sent; camera frames bring their capture-to-send time and the pipeline's stage times."""
        self._out.tick()
        with self._lock:
            if latency_ms is not None:
                first = not self._latencies
                self._latencies.append(latency_ms)
                self._latency = latency_ms if first else self._ema(self._latency, latency_ms)
            for name, ms in (stages_ms or {}).items():
                self._stages[name] = self._ema(self._stages.get(name, ms), ms)

    @staticmethod
    def _ema(old: float, new: float) -> float:
        return old + EMA * (new - old)

    def snapshot(self) -> Snapshot:
        with self._lock:
            stages = {k: round(v, 2) for k, v in self._stages.items()}
            return Snapshot(self._in.rate(), self._out.rate(), self.dropped, self.failed,
                            self.dropped_by_camera, round(self._latency, 2), stages,
                            round(self._cpu.percent(), 1))

    def latencies_ms(self) -> list[float]:
        """Capture-to-send milliseconds of the most recent camera frames sent."""
        with self._lock:
            return list(self._latencies)
