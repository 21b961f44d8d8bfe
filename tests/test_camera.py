"""The camera thread, with real video files standing in for a webcam."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from support.stream_helpers import CARPHONE, holds_open, mjpeg_clip, short_clip, wait_for

from vcamd.config import CameraSettings
from vcamd.frames import BufferPool
from vcamd.service import camera, capture
from vcamd.service.camera import (
    FRAME_BUFFERS,
    Backoff,
    CameraReader,
    Captured,
    FrameSlot,
)
from vcamd.service.capture import missing_reason, parse_source
from vcamd.service.mjpeg import JpegCapture
from vcamd.service.stats import Stats


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


def test_the_frame_pool_reuses_only_buffers_nobody_holds() -> None:
    pool = BufferPool(FRAME_BUFFERS)
    assert pool.buffer(None) is None  # the first frame's size is not known yet
    held = [pool.buffer((4, 4, 3)) for _ in range(FRAME_BUFFERS)]
    assert len({id(b) for b in held}) == FRAME_BUFFERS  # each one held: a new one each time
    assert pool.buffer((4, 4, 3)) is None  # all held and the pool full: the reader allocates
    view = held[1][1:3]  # a view holds its buffer too
    first, second = id(held[0]), id(held[1])
    del held[:2]
    again = pool.buffer((4, 4, 3))
    assert again is not None and id(again) == first
    assert pool.buffer((4, 4, 3)) is None  # ``again`` is held now, the others still are
    del again
    del view
    assert id(pool.buffer((4, 4, 3))) in (first, second)
    bigger = pool.buffer((8, 8, 3))  # a new size: buffers of the old one are dropped
    assert bigger is not None and bigger.shape == (8, 8, 3)


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
    # frames are read into reused buffers, but never into one still held: what was handed out stays
    assert len({id(c.frame) for c in got}) == len(got)
    kept = [c.frame.copy() for c in got]
    wait_for(collect(40), what="20 more frames")
    assert all(np.array_equal(c.frame, k) for c, k in zip(got, kept, strict=False))
    assert all(b.t > a.t for a, b in itertools.pairwise(got))
    # paced at the file's own rate, never faster (a file read as fast as it decodes would come in bursts)
    assert got[-1].t - got[0].t >= 0.9 * (len(got) - 1) / reader.info.fps
    # at each loop the file is closed and opened again, so "held open" is looked for, not sampled once
    wait_for(lambda: holds_open(clip), what="the file held open while active")

    reader.set_active(False)
    wait_for(lambda: not holds_open(clip) and not reader.is_open, what="the file released")
    reader.slot.take(0.05)
    assert reader.slot.take(0.3) is None  # nothing read while inactive
    reader.set_active(True)
    wait_for(lambda: reader.slot.take(0.05) is not None, what="frames again")
    wait_for(lambda: holds_open(clip), what="the file held open again")


def test_a_vanished_camera_is_retried_with_backoff_and_recovers(
    tmp_path: Path, reader_for: Callable[[Path], CameraReader], monkeypatch: pytest.MonkeyPatch
) -> None:
    opens: list[float] = []  # when the camera thread tried to open the camera
    real_open = camera.open_capture

    def open_capture(*args: Any, **kw: Any) -> Any:
        opens.append(time.monotonic())
        return real_open(*args, **kw)

    monkeypatch.setattr(camera, "open_capture", open_capture)
    clip = tmp_path / "clip.mp4"
    shutil.copy(CARPHONE, clip)
    reader = reader_for(clip)
    reader.start()
    wait_for(lambda: reader.slot.take(0.05) is not None, what="a first frame")
    clip.rename(tmp_path / "away.mp4")
    wait_for(lambda: reader.error, what="the camera noticed as gone")
    gone = time.monotonic()
    assert str(clip) in reader.error and "not there" in reader.error
    assert not reader.is_open
    time.sleep(0.3)
    reader.slot.clear()
    assert reader.slot.take(0.2) is None
    time.sleep(3.5)
    tries = [t - gone for t in opens if t > gone]
    # backoff 0.5, 1, 2 s: tries near 0.5, 1.5 and 3.5 s; a busy loop would try hundreds of times
    assert 2 <= len(tries) <= 4, tries
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(tries)), tries
    (tmp_path / "away.mp4").rename(clip)
    wait_for(lambda: reader.slot.take(0.05) is not None, what="frames after the file came back")
    assert reader.error == ""


def test_mjpeg_frames_are_decoded_into_the_reused_buffers_as_opencv_decodes_them(
    tmp_path: Path, reader_for: Callable[[Path], CameraReader]
) -> None:
    clip = mjpeg_clip(tmp_path / "webcam.avi")
    cap, first, info = capture.open_capture(CameraSettings(device=str(clip)))
    cap.release()
    assert isinstance(cap, JpegCapture) and info.fourcc == "MJPG"
    opencv = cv2.VideoCapture(str(clip))
    theirs = [opencv.read()[1] for _ in range(10)]
    opencv.release()
    assert np.abs(first.astype(np.int16) - theirs[0]).mean() < 2.0  # rounding: libjpeg and FFmpeg

    reader = reader_for(clip)
    reader.start()
    bases: list[int | None] = []  # the pooled buffer each frame is a view of (the frames are let go)
    diffs: list[float] = []

    def more() -> bool:
        item = reader.slot.take(0.05)
        if item is not None:
            f = item.frame
            pooled = isinstance(f.base, np.ndarray) and f.base.shape == f.shape
            bases.append(id(f.base) if pooled else None)
            diffs.append(min(float(np.abs(f.astype(np.int16) - t).mean()) for t in theirs))
        return len(bases) >= 30

    wait_for(more, what="30 frames")
    # decoded straight into the camera's pooled buffers, but for the first frame of each opening (the file
    # loops every 10 frames)
    assert bases.count(None) <= 4 and len(set(bases) - {None}) <= FRAME_BUFFERS
    assert max(diffs) < 2.0
    assert reader.error == ""


def test_mjpeg_frames_that_do_not_decode_are_dropped_and_the_rest_flow(
    tmp_path: Path, reader_for: Callable[[Path], CameraReader]
) -> None:
    clip = mjpeg_clip(tmp_path / "webcam.avi", corrupt=(3, 4))
    reader = reader_for(clip)
    reader.start()
    assert isinstance(reader._cap, JpegCapture)
    frames = 0

    def more() -> bool:
        nonlocal frames
        frames += reader.slot.take(0.05) is not None
        return frames >= 25

    wait_for(more, what="25 frames from a 10-frame clip with 2 bad ones (it loops)")
    assert reader._stats.dropped_by_camera >= 4  # two a loop, and it looped at least twice
    assert reader.error == ""


def test_a_camera_whose_first_mjpeg_frame_does_not_decode_is_decoded_by_opencv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip = mjpeg_clip(tmp_path / "webcam.avi", corrupt=(0,))
    cap, first, _ = capture.open_capture(CameraSettings(device=str(clip)))
    try:
        assert not isinstance(cap, JpegCapture) and first.shape == (144, 176, 3)
        assert cap.read()[1].shape == (144, 176, 3)
    finally:
        cap.release()
    assert f"camera {clip}: a frame does not decode as JPEG" in caplog.text
    assert "OpenCV decodes its frames instead" in caplog.text


def test_v4l2loopback_devices_are_found_by_label(tmp_path: Path) -> None:
    """sysfs as the kernel lays it out: v4l2loopback adds max_openers to the devices it makes."""
    from vcamd.outputs import v4l2loopback

    for n, label, loopback in ((0, "Integrated Camera: Integrated C", False), (10, "VBG Camera", True),
                               (11, "OBS Cam", True)):
        d = tmp_path / f"video{n}"
        d.mkdir()
        (d / "name").write_text(label + "\n")
        if loopback:
            (d / "max_openers").write_text("10\n")
    (tmp_path / "v4l-subdev0").mkdir()
    found = v4l2loopback.devices(tmp_path)
    assert [(d.path, d.loopback) for d in found] == [
        ("/dev/video0", False), ("/dev/video10", True), ("/dev/video11", True)
    ]
    dev = v4l2loopback.find_loopback("VBG Camera", tmp_path)
    assert dev is not None and dev.path == "/dev/video10"
    assert v4l2loopback.find_loopback("Integrated Camera: Integrated C", tmp_path) is None  # not a loopback
    assert v4l2loopback.devices(tmp_path / "absent") == []
