"""The frame engine on real images with the real MediaPipe model."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from conftest import AISEGMENT, VIDEOS, detail, gt_mask

from vcamd.config import Config
from vcamd.engine.pipeline import Pipeline
from vcamd.engine.segmenter import Segmenter


def _cfg(**effect: object) -> Config:
    return Config.model_validate({"effect": effect})


@pytest.fixture(scope="module")
def image_segmenter():  # type: ignore[no-untyped-def]
    with Segmenter("landscape", video=False) as s:
        yield s


def test_segmenter_mask_is_model_sized_confidence(image_segmenter: Segmenter) -> None:
    img = cv2.imread(str(AISEGMENT[0]))
    conf = image_segmenter.segment(img)
    assert conf.shape == (144, 256)
    assert conf.dtype == np.float32
    assert conf.min() >= 0.0 and conf.max() <= 1.0
    assert conf.max() > 0.9 and conf.min() < 0.1  # a person and a background are both there


def test_matte_iou_on_aisegment() -> None:
    ious = []
    with Pipeline(_cfg(name="transparent"), video=False) as p:
        for path in AISEGMENT:
            img = cv2.imread(str(path))
            alpha = p.process(img)[:, :, 3]
            pred, gt = alpha >= 128, gt_mask(path) >= 128
            ious.append((pred & gt).sum() / (pred | gt).sum())
    assert float(np.mean(ious)) >= 0.95


def test_update_swaps_effect_between_frames_and_keeps_old_on_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vcamd.errors import VcamdError

    img = cv2.imread(str(AISEGMENT[0]))
    with Pipeline(_cfg(name="color", color="#0000ff")) as p:
        out = p.process(img, 0.0).copy()
        assert tuple(out[5, 5]) == (255, 0, 0)  # BGR of #0000ff in a background corner
        with pytest.raises(VcamdError, match=r"missing\.png"):
            p.update(_cfg(name="image", background=str(tmp_path / "missing.png")))
        assert tuple(p.process(img, 0.04)[5, 5]) == (255, 0, 0)  # old settings still running
        p.update(_cfg(name="color", color="#ff0000"))
        assert tuple(p.process(img, 0.08)[5, 5]) == (0, 0, 255)


def test_video_mode_on_a_real_clip() -> None:
    with av.open(str(VIDEOS / "volcomix_doctor.mp4")) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(20), c.decode(video=0), strict=False)]
    with Pipeline(_cfg(name="blur")) as p:
        for i, frame in enumerate(frames):
            out = p.process(frame, i / 29.97)
            assert out.shape == frame.shape and out.dtype == np.uint8
        times = p.last_ms
    assert times.segment > 0 and times.composite > 0 and times.total >= times.segment
    out = out.copy()
    with Pipeline(_cfg(name="mask", color="#000000")) as p:  # the same stream's matte: white on black
        for i, frame in enumerate(frames):
            alpha = p.process(frame, i / 29.97)[:, :, 0].copy()
    person, background = alpha == 255, alpha == 0
    assert 0.05 < person.mean() < 0.7 and background.mean() > 0.2  # a person in a room
    assert np.array_equal(out[person], frames[-1][person])  # the person untouched
    assert detail(out, background) < 0.35 * detail(frames[-1], background)  # the room blurred


def test_the_model_rests_on_still_frames_and_runs_on_every_moving_one() -> None:
    """A still picture runs the model on every STILL_MODEL_EVERY-th frame; a picture panning by 4 px a
    frame runs it on every frame; a frame with the confidence reused still shows the person."""
    from vcamd.engine import pipeline

    still = cv2.resize(cv2.imread(str(AISEGMENT[0])), (640, 360))
    with Pipeline(_cfg(name="transparent"), video=True) as p:
        for i in range(31):
            p.process(still, i / 30)
        assert p.model_runs == 1 + 30 // pipeline.STILL_MODEL_EVERY
        alpha = p.process(still, 1.1)[:, :, 3].copy()
        runs = p.model_runs
        p.process(np.ascontiguousarray(still[:, ::-1]), 1.2)  # the picture changed: the model runs
        assert p.model_runs == runs + 1
    wide = cv2.resize(still, (1280, 360))
    with Pipeline(_cfg(name="transparent"), video=True) as p:
        for i in range(20):
            p.process(np.ascontiguousarray(wide[:, 4 * i : 4 * i + 640]), i / 30)
        assert p.model_runs == 20
    assert 0.1 < (alpha > 127).mean() < 0.9
