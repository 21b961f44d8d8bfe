"""The output guard on its own: real camera frames (the carphone clip), the real pipeline and model, the real
pyvirtualcam.Camera with the recording backend; what goes out when the effect fails, or when it is none.

Failures are injected by wrapping the real pipeline's ``process`` (only a bug makes it raise).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DATA
from support import vcam_recorder
from support.stream_helpers import CARPHONE, share

from vcamd import outputs
from vcamd.config import Config, apply_changes
from vcamd.engine.pipeline import Pipeline
from vcamd.frames import cover_fit
from vcamd.outputs import Output
from vcamd.service import cards, guard
from vcamd.service.camera import Captured
from vcamd.service.control import State
from vcamd.service.feed import Feeds
from vcamd.service.guard import OutputGuard
from vcamd.service.log_once import LogOnce
from vcamd.service.stats import Stats

vcam_recorder.register()
STILL = DATA / "stills" / "volcomix_girl-919048_1280.jpg"

GREEN = (0, 255, 0)


def camera_frames(n: int) -> list[np.ndarray]:
    """The first ``n`` frames of the carphone clip, as the camera thread gives them (BGR, 176x144)."""
    cap = cv2.VideoCapture(str(CARPHONE))
    frames = []
    for _ in range(n):
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()
    return frames


def settings(tmp_path: Path, **effect: object) -> Config:
    return Config.model_validate({
        "effect": {"name": "color", "color": "#00ff00", **effect},
        "output": {"backend": "recording", "device": str(tmp_path / "video10")},
    })


@dataclass
class Rig:
    """A guard sending to a real virtual camera (recording backend), with a real pipeline before it."""

    guard: OutputGuard
    output: Output
    rec: vcam_recorder.RecordingBackend
    pipeline: Pipeline
    stats: Stats
    feeds: Feeds
    fail: list[bool]  # [True]: the pipeline raises on the next frames

    def live(self, frame: np.ndarray) -> np.ndarray:
        """Send ``frame`` through the guard; what went out."""
        count = self.rec.count
        self.guard.live(self.output, self.pipeline, Captured(frame, time.monotonic()), 0.0)
        assert self.rec.count == count + 1
        return self.rec.last()


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    cfg = settings(tmp_path)
    output = outputs.open_output(cfg.output, 176, 144, 30.0)
    pipeline = Pipeline(cfg, video=True)
    fail = [False]
    real = pipeline.process

    def process(frame: np.ndarray, t: float = 0.0, timestamp_ms: int | None = None) -> np.ndarray:
        if fail[0]:
            raise RuntimeError("injected")
        return real(frame, t, timestamp_ms)

    monkeypatch.setattr(pipeline, "process", process)
    stats, feeds = Stats(), Feeds(lambda n: None)
    g = OutputGuard(stats, feeds, LogOnce(logging.getLogger("vcamd.test")))
    try:
        yield Rig(g, output, vcam_recorder.latest(), pipeline, stats, feeds, fail)
    finally:
        output.close()
        pipeline.close()


def is_safe_frame(sent: np.ndarray, frame: np.ndarray) -> bool:
    """``sent`` is ``frame`` blurred beyond recognition: its colours roughly, and no detail finer than
    SAFE_WIDTH pixels across the picture (shrunk to that width and enlarged again, it is almost the same)."""
    h, w = frame.shape[:2]
    size = (guard.SAFE_WIDTH, round(h * guard.SAFE_WIDTH / w))
    small = cv2.resize(sent, size, interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    fine_detail = np.abs(sent.astype(int) - back.astype(int)).mean()
    colours = np.abs(sent.astype(int) - frame.astype(int)).mean()
    return bool(fine_detail < 1.5 and colours < 40)


def test_a_failing_frame_gets_the_last_good_output_then_the_safe_frame(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vcamd")
    frames = camera_frames(4)
    good = rig.live(frames[0]).copy()
    assert share(good, GREEN) > 0.3  # treated: the background is green
    rig.fail[0] = True
    covered = rig.live(frames[1])
    assert np.array_equal(covered, good), "within LAST_GOOD_FOR the last good output covers the failure"
    assert rig.guard.effect_error == ""  # a blip the user never sees is no error
    time.sleep(guard.LAST_GOOD_FOR + 0.05)
    for frame in frames[2:]:
        sent = rig.live(frame)
        assert share(sent, GREEN) == 0 and is_safe_frame(sent, frame)
    assert rig.guard.effect_error.startswith("the effect failed (injected)")
    assert rig.stats.failed == 3
    assert sum("could not be treated: injected" in r.getMessage() for r in caplog.records) == 1
    rig.fail[0] = False
    assert share(rig.live(frames[0]), GREEN) > 0.3 and rig.guard.effect_error == ""
    assert "the effect works again" in caplog.text


def test_a_frame_sent_with_effect_none_is_never_kept_as_cover(rig: Rig, tmp_path: Path) -> None:
    frames = camera_frames(3)
    assert share(rig.live(frames[0]), GREEN) > 0.3  # a good treated frame is kept...
    rig.pipeline.update(settings(tmp_path, name="none"))
    assert np.array_equal(rig.live(frames[1]), frames[1])  # ...the room goes out, as the user chose...
    count = rig.rec.count
    rig.guard.bridge(rig.output)
    assert rig.rec.count == count, "a camera gap after the room is bridged with nothing"
    rig.fail[0] = True
    sent = rig.live(frames[2])
    # ...and voids the kept frame: a failure then gets the safe frame, never a frame of the room
    assert share(sent, GREEN) == 0 and is_safe_frame(sent, frames[2])
    assert not any(np.array_equal(sent, f) for f in frames)


def test_a_camera_gap_is_bridged_with_the_last_treated_frame_for_up_to_last_good_for(rig: Rig) -> None:
    good = rig.live(camera_frames(1)[0]).copy()
    count = rig.rec.count
    rig.guard.bridge(rig.output)
    assert rig.rec.count == count + 1 and np.array_equal(rig.rec.last(), good)
    time.sleep(guard.LAST_GOOD_FOR + 0.05)
    rig.guard.bridge(rig.output)
    assert rig.rec.count == count + 1, "after LAST_GOOD_FOR a gap is no longer covered"


def test_frames_are_cover_fitted_to_the_output_and_previews_see_them_as_sent(
    rig: Rig, tmp_path: Path
) -> None:
    frame = camera_frames(1)[0]
    wide = outputs.open_output(settings(tmp_path).output, 320, 180, 30.0)  # another shape: a held format
    rec = vcam_recorder.latest()
    feed = rig.feeds.open(640)
    try:
        rig.pipeline.update(settings(tmp_path, name="transparent"))  # BGRA out of the pipeline
        rig.guard.live(wide, rig.pipeline, Captured(frame, time.monotonic()), 0.0)
        sent = rec.last()
        assert sent.shape == (180, 320, 3)
        seen = feed.take(1.0)
        assert seen is not None and np.array_equal(seen[:, :, :3], sent) and (seen[:, :, 3] == 255).all()
        rig.pipeline.update(settings(tmp_path, name="none"))
        rig.guard.live(wide, rig.pipeline, Captured(frame, time.monotonic()), 0.0)
        assert np.array_equal(rec.last(), cover_fit(frame, (320, 180)))  # filled, never stretched
    finally:
        feed.close()
        wide.close()


def test_cards_at_the_output_size_and_a_bad_privacy_image(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = settings(tmp_path)
    rig.guard.card(rig.output, State.IDLE, "", cfg)
    assert rig.rec.last().shape == (144, 176, 3) and share(rig.rec.last(), cards.BACKGROUND) > 0.5
    rig.guard.card(rig.output, State.PRIVACY, "", apply_changes(cfg, {"daemon.privacy_image": str(STILL)}))
    assert np.array_equal(rig.rec.last(), cards.picture(str(STILL), (176, 144)))
    missing = apply_changes(cfg, {"daemon.privacy_image": str(tmp_path / "x.jpg")})
    for _ in range(2):
        rig.guard.card(rig.output, State.PRIVACY, "", missing)
        assert share(rig.rec.last(), cards.BACKGROUND) > 0.5
    assert sum("daemon.privacy_image" in r.getMessage() for r in caplog.records) == 1
