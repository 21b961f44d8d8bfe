"""The stream counters' CPU figure: the process's CPU time over wall time, shown by --stats and the tray."""

from __future__ import annotations

import time

import pytest

from vcamd.service.control import State, Status
from vcamd.service.stats import CpuMeter, Snapshot


def test_the_cpu_meter_reads_the_process_cpu_time() -> None:
    meter = CpuMeter(window=0.5)
    meter.percent()
    w0, c0 = time.monotonic(), time.process_time()
    while time.process_time() - c0 < 0.3:  # busy: about one core
        pass
    busy = meter.percent()
    expected = 100.0 * (time.process_time() - c0) / (time.monotonic() - w0)
    assert busy == pytest.approx(expected, abs=10.0)
    time.sleep(0.6)  # idle for longer than the window: the busy part drops out
    assert meter.percent() < busy / 2


def test_the_cpu_shows_in_the_stats_and_the_status_line() -> None:
    assert "cpu 24 %" in Snapshot(30.0, 30.0, cpu_percent=24.2).line()
    line = Status(State.LIVE, "", "blur", 30.0, 30.0, 5.0, 0, {}, 24.4).line()
    assert line == "live · blur · 30.0 fps · 5.0 ms · 24 % CPU"
