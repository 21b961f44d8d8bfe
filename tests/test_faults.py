"""Single faults a daemon left running all day meets: none may freeze the call, stop live settings, end the
daemon quietly, or send the room the user chose to hide.

Faults are real where they can be (corrupt and deleted files, undecodable settings, a broken TOML file);
where only a bug would cause them (an exception deep in OpenCV, a read that hangs), the test injects it into
the real camera thread by wrapping its method.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from support import vcam_recorder
from support.stream_helpers import CARPHONE, short_clip, wait_for
from test_daemon import GREEN, STILL, Setup, frames_where, make_setup, running, share

from vcamd import config, media
from vcamd.config import ConfigError
from vcamd.service import camera, cards
from vcamd.service.control import State

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="readers are found in /proc")


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return make_setup(tmp_path)


def camera_digests(clip: Path) -> set[bytes]:
    """The fingerprints of every frame of ``clip`` as the camera thread decodes it (untreated)."""
    cap = cv2.VideoCapture(str(clip))
    seen = set()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        seen.add(vcam_recorder.digest(frame))
    cap.release()
    assert len(seen) > 100
    return seen


def untreated_sent(rec: vcam_recorder.RecordingBackend, raw: set[bytes]) -> int:
    return sum(d in raw for d in list(rec.digests))


# --- privacy ---------------------------------------------------------------------------------------------


def corrupt_pictures(tmp_path: Path) -> Path:
    """A slideshow folder whose only picture, holiday.jpg, is corrupt."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8 this is not a picture" * 100)
    return folder


def test_a_slideshow_of_a_corrupt_picture_never_sends_the_room(setup: Setup, tmp_path: Path) -> None:
    setup.write(effect={"name": "slideshow", "backgrounds_dir": str(corrupt_pictures(tmp_path))})
    raw = camera_digests(setup.clip)
    with running(setup) as (daemon, rec):
        wait_for(lambda: rec.count > 40, what="frames keep coming")
        assert untreated_sent(rec, raw) == 0
        status = daemon.status()
        assert status.state is State.ERROR and "holiday.jpg" in status.message, status
        frame, cam = rec.last(), cv2.VideoCapture(str(setup.clip)).read()[1]
        # a safe frame: the camera so blurred that no detail of the room is left
        assert cv2.Laplacian(frame, cv2.CV_64F).var() < 0.05 * cv2.Laplacian(cam, cv2.CV_64F).var()


def test_a_deleted_background_video_never_sends_the_room(setup: Setup, tmp_path: Path) -> None:
    background = short_clip(tmp_path / "background.mp4", frames=4)
    setup.write(effect={"name": "video", "background": str(background)})
    raw = camera_digests(setup.clip)
    with running(setup) as (_, rec):
        wait_for(lambda: rec.count > 5, what="frames")
        background.unlink()
        start = rec.count
        wait_for(lambda: rec.count > start + 40, what="frames still sent")
        assert untreated_sent(rec, raw) == 0


def test_a_failing_effect_after_no_effect_never_sends_the_room(setup: Setup, tmp_path: Path) -> None:
    """The frames sent while no effect was on are the room: they never cover for an effect that fails."""
    setup.write(effect={"name": "none", "backgrounds_dir": str(corrupt_pictures(tmp_path))})
    raw = camera_digests(setup.clip)
    with running(setup) as (daemon, rec):
        wait_for(lambda: untreated_sent(rec, raw) > 10, what="the untreated camera (effect none)")
        daemon.apply({"effect.name": "slideshow"})
        start = rec.count + 1  # a frame treated while apply ran may still go out
        wait_for(lambda: rec.count > start + 30, what="frames keep coming")
        assert sum(d in raw for d in rec.digests[start:]) == 0


# --- threads that must not die ---------------------------------------------------------------------------


def test_an_unexpected_camera_error_is_logged_once_and_the_camera_goes_on(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    faults = {"left": 0}
    real = camera.CameraReader._read_one

    def read_one(self: camera.CameraReader) -> None:
        if faults["left"] > 0:
            faults["left"] -= 1
            raise cv2.error("injected: OpenCV(4.x) error in the decoder")
        real(self)

    monkeypatch.setattr(camera.CameraReader, "_read_one", read_one)
    caplog.set_level(logging.ERROR, logger="vcamd")
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        faults["left"] = 5
        wait_for(lambda: faults["left"] == 0, what="the faults hit")
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, n=20, what="live frames after the faults")
        assert daemon.camera is not None and daemon.camera.alive
        assert sum("injected" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the injected death
def test_a_camera_thread_that_dies_is_started_again(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    die = threading.Event()
    real = camera.CameraReader._run_once

    def run_once(self: camera.CameraReader) -> None:
        if die.is_set():
            die.clear()
            raise SystemExit("injected: the thread ends")  # not an Exception: the loop's guard lets it by
        real(self)

    monkeypatch.setattr(camera.CameraReader, "_run_once", run_once)
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        assert daemon.camera is not None
        first = daemon.camera._thread
        die.set()
        wait_for(lambda: daemon.camera is not None and daemon.camera._thread is not first, what="new thread")
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, n=10, what="live frames from the new thread")
        assert daemon.camera.alive


def test_a_camera_that_hangs_gives_a_card_then_recovers(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    hang = threading.Event()
    real = camera.CameraReader._read_one

    def read_one(self: camera.CameraReader) -> None:
        if hang.is_set():
            hang.clear()
            time.sleep(4.0)
        real(self)

    monkeypatch.setattr(camera.CameraReader, "_read_one", read_one)
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        hang.set()
        t0 = time.monotonic()
        wait_for(lambda: daemon.status().state is State.ERROR, timeout=3, what="the stall noticed")
        assert time.monotonic() - t0 <= 2.0
        assert "no frame" in daemon.status().message
        frames_where(rec, lambda f: share(f, cards.BACKGROUND) > 0.5, n=2, what="cards while it hangs")
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="live again")
        wait_for(lambda: daemon.status().state is State.LIVE, what="live state again")


def test_a_settings_file_that_is_not_utf8(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    bad = setup.config.parent / "latin1.toml"
    bad.write_bytes(b'[effect]\nname = "color"\ncolor = "#00ff00" # gr\xfcn\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml: not UTF-8 text"):
        config.load(bad)
    caplog.set_level(logging.WARNING, logger="vcamd")
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        setup.config.write_bytes(bad.read_bytes())
        wait_for(lambda: "not UTF-8" in caplog.text, what="the file refused")
        setup.write(effect={"color": "#ff0000"})
        wait_for(lambda: daemon.settings().effect.color == "#ff0000", what="live reload still going")
        assert all(t.is_alive() for t in daemon._threads)


def test_an_output_too_small_is_refused_at_load_and_live(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    tiny = setup.config.parent / "tiny.toml"
    tiny.write_text("[output]\nwidth = 1\nheight = 1\n")
    with pytest.raises(ConfigError, match=r"output\.width = 1 is invalid"):
        config.load(tiny)
    caplog.set_level(logging.WARNING, logger="vcamd")
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        setup.write(output={"width": 1, "height": 1})
        wait_for(lambda: "output.width = 1" in caplog.text, what="the edit refused")
        frames_where(rec, lambda f: f.shape == (144, 176, 3), n=10, what="frames at the last good size")
        assert not daemon.wait(0) and all(t.is_alive() for t in daemon._threads)


def test_a_settings_file_emptied_while_running_keeps_the_last_good_settings(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vcamd")
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        setup.config.write_bytes(b"")
        wait_for(lambda: "is empty" in caplog.text, what="the empty file logged")
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, n=10, what="still green")
        assert daemon.settings().effect.name == "color" and daemon.settings().output.backend == "recording"


def test_a_change_while_the_file_is_broken_toml_is_applied_whole(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vcamd")
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        broken = setup.config.read_text() + "\n[effect\nname = \n"
        setup.config.write_text(broken)
        wait_for(lambda: "not valid TOML" in caplog.text, what="the broken file noticed")
        new = daemon.apply({"daemon.privacy": True})
        assert new.daemon.privacy and daemon.settings().daemon.privacy
        wait_for(lambda: daemon.status().state is State.PRIVACY, what="privacy on")
        assert "could not save it" in caplog.text
        assert setup.config.read_text() == broken  # the user's file is left for them to fix


def test_close_keeps_its_two_seconds_when_the_threads_are_slow(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = threading.Event()
    real_read = camera.CameraReader._read_one

    def read_one(self: camera.CameraReader) -> None:
        if slow.is_set():
            time.sleep(3.0)
        real_read(self)

    monkeypatch.setattr(camera.CameraReader, "_read_one", read_one)
    daemon = Daemon_of(setup)
    assert daemon.pipeline is not None
    real_process = daemon.pipeline.process

    def process(frame: np.ndarray, t: float = 0.0, timestamp_ms: int | None = None) -> np.ndarray:
        if slow.is_set():
            time.sleep(1.2)
        return real_process(frame, t, timestamp_ms)

    monkeypatch.setattr(daemon.pipeline, "process", process)
    rec = vcam_recorder.latest()
    try:
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        slow.set()
        time.sleep(0.3)
    finally:
        t0 = time.monotonic()
        daemon.close()
        took = time.monotonic() - t0
    assert took <= 2.0, f"close() took {took:.2f} s"


def Daemon_of(setup: Setup) -> Any:
    from vcamd.service.daemon import Daemon

    d = Daemon(setup.config)
    d.start()
    return d


# --- backgrounds are decoded off the worker ---------------------------------------------------------------


def test_backgrounds_are_decoded_off_the_worker_thread(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[str] = set()
    real_read, real_image = media.FrameReader.read, media.read_image

    def read(self: media.FrameReader) -> np.ndarray | None:
        threads.add(threading.current_thread().name)
        return real_read(self)

    def read_image(path: Path) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return real_image(path)

    monkeypatch.setattr(media.FrameReader, "read", read)
    monkeypatch.setattr(media, "read_image", read_image)
    background = tmp_path / "background.mp4"
    shutil.copy(CARPHONE, background)
    folder = tmp_path / "pictures"
    folder.mkdir()
    shutil.copy(STILL, folder / "a.jpg")
    setup.write(effect={"name": "video", "background": str(background)})
    with running(setup) as (daemon, rec):
        wait_for(lambda: rec.count > 30, what="frames with the video background")
        daemon.apply({"effect.name": "slideshow", "effect.backgrounds_dir": str(folder)})
        start = rec.count
        wait_for(lambda: rec.count > start + 30, what="frames with the slideshow")
    assert threads and "vcamd-worker" not in threads, threads
