"""The frame engine on real images with the real MediaPipe model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import AISEGMENT, gt_mask

from vcamd.config import Config
from vcamd.pipeline import Pipeline
from vcamd.segmenter import Segmenter


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
