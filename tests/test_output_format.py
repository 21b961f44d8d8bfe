"""The virtual camera's format: what the settings ask for, the note while it is held, pacing to its rate."""

from __future__ import annotations

import pytest

from vcamd.config import CameraSettings, OutputSettings
from vcamd.service.camera import CameraInfo
from vcamd.service.output_format import Format, Pacer, hold_note, wanted

CAMERA = CameraSettings()
INFO = CameraInfo(1280, 720, 30.0, "MJPG")


@pytest.mark.parametrize(("output", "info", "want"), [
    (OutputSettings(), INFO, Format(1280, 720, 30.0)),  # zeros: the camera's size and rate
    (OutputSettings(), None, Format(1280, 720, 30.0)),  # not opened yet: what camera.* asks for
    (OutputSettings(width=640), CameraInfo(640, 480, 15.0, "YUYV"), Format(640, 480, 15.0)),
    (OutputSettings(height=360), INFO, Format(640, 360, 30.0)),  # the camera's aspect
    (OutputSettings(width=301), INFO, Format(300, 168, 30.0)),  # even sides, for I420
    (OutputSettings(width=640, height=480, fps=24), INFO, Format(640, 480, 24.0)),
    (OutputSettings(), CameraInfo(7680, 4320, 120.0, "MJPG"), Format(3840, 2160, 60.0)),  # beyond any output
])
def test_the_format_the_settings_ask_for(
    output: OutputSettings, info: CameraInfo | None, want: Format
) -> None:
    assert wanted(output, CAMERA, info) == want


def test_the_note_says_what_stays_until_when_and_what_follows() -> None:
    hd, small = Format(1280, 720, 30.0), Format(640, 360, 30.0)
    assert hold_note(hd, small) == "720p until the call ends (then 360p)"
    assert hold_note(hd, Format(1280, 720, 15.0)) == "720p at 30 fps until the call ends (then 15 fps)"
    assert hold_note(hd, Format(640, 480, 15.0)) == ("720p at 30 fps until the call ends (then 640x480 at 15 "
                                                     "fps)")
    assert hold_note(hd, hd) == "output changes apply when the call ends"
    assert hold_note(hd, small, readers_known=False).startswith("720p until vcamd restarts")


def _passed(fps_in: float, fps_out: float, seconds: float = 10.0, jitter: float = 0.0) -> int:
    pacer, n = Pacer(), 0
    for i in range(round(seconds * fps_in)):
        wobble = jitter * (1 if i % 3 == 0 else -1 if i % 3 == 1 else 0)
        n += pacer.due(i / fps_in + wobble, fps_out)
    return n


def test_frames_are_paced_to_the_output_rate() -> None:
    assert _passed(30, 30, jitter=0.006) == 300  # the same rate, a camera's jitter: every frame
    assert _passed(15, 30) == 150  # a slower camera: every frame
    assert 299 <= _passed(60, 30) <= 301  # twice as fast: every other one, evenly
    assert 99 <= _passed(30, 10) <= 101
    assert 149 <= _passed(30.0, 15.0, jitter=0.006) <= 151
