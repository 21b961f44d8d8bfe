"""Matte quality with the real model on real pictures: better edges than the raw model, no flicker, no lag.

The metric definitions live in benchmarks/matte_metrics.py (shared with benchmarks/quality.py).
"""

from __future__ import annotations

import cv2
import matte_metrics as mm
import numpy as np
import pytest
import quality
from conftest import AISEGMENT, VIDEOS, gt_mask

from vcamd.config import Config, SegmentationSettings
from vcamd.engine import matte as matte_mod
from vcamd.engine import segmenter as segmenter_mod
from vcamd.engine.matte import Matte, to_grid
from vcamd.engine.pipeline import Pipeline
from vcamd.engine.segmenter import Segmenter, choose_model


def _scores(matter: quality.Matter, soft: quality.Matter | None = None) -> dict[str, float]:
    return quality.still_scores(matter, "aisegment", soft=soft)


@pytest.fixture(scope="module")
def raw_scores() -> dict[str, float]:
    raw = quality.RawModel(video=False)
    try:
        return _scores(raw.hard, soft=raw.soft)
    finally:
        raw.close()


def test_raw_baseline_reproduces_the_data_readme(raw_scores: dict[str, float]) -> None:
    # ../shared/data/README.md: aisegment raw IoU 97.8 %, boundary F 91.9 %, alpha error 12.5/1000.
    assert raw_scores["iou"] == pytest.approx(97.8, abs=0.1)
    assert raw_scores["bf"] == pytest.approx(91.9, abs=0.1)
    assert raw_scores["alpha_err"] == pytest.approx(12.5, abs=0.1)


def test_refined_matte_beats_raw_and_plain_on_aisegment(raw_scores: dict[str, float]) -> None:
    with Pipeline(quality.vcamd_config(), video=False) as p:
        refined = _scores(quality.pipeline_matter(p))
    with Pipeline(quality.vcamd_config({"segmentation.refine": False}), video=False) as p:
        plain = _scores(quality.pipeline_matter(p))
    # The targets: boundary F +2.5 points, alpha error <= 0.75 x raw soft mask, IoU not lower.
    assert refined["bf"] >= raw_scores["bf"] + 2.5, (refined, raw_scores)
    assert refined["alpha_err"] <= 0.75 * raw_scores["alpha_err"], (refined, raw_scores)
    assert refined["iou"] >= raw_scores["iou"]
    # The refinements (crop, guided filter) themselves earn a clear share of it.
    assert refined["bf"] >= plain["bf"] + 0.6, (refined, plain)
    assert refined["alpha_err"] <= plain["alpha_err"] - 0.4, (refined, plain)


def test_flicker_is_less_than_half_the_raw_models_on_a_real_video() -> None:
    raw = quality.RawModel(video=True)
    try:
        raw_flicker = quality.video_flicker(raw.hard, quality.video_frames("volcomix_doctor", 60))
    finally:
        raw.close()
    with Pipeline(quality.vcamd_config(), video=True) as p:
        ours = quality.video_flicker(quality.pipeline_matter(p), quality.video_frames("volcomix_doctor", 60))
    assert raw_flicker > 1.0  # the clip does have flicker to remove
    assert ours <= 0.5 * raw_flicker, (ours, raw_flicker)


def _pan_lag(step: int, frames: int = 16) -> float:
    cfg = quality.vcamd_config()
    ref_cfg = quality.vcamd_config({"segmentation.smoothing": 0.0})
    with Pipeline(cfg, video=True) as stream, Pipeline(ref_cfg, video=True) as ref:
        return quality.pan_lag(
            quality.pipeline_matter(stream), quality.pipeline_matter(ref), step, count=frames, settle=4
        )


@pytest.mark.parametrize("step", [4, 12])
def test_moving_edge_lags_at_most_one_frame(step: int) -> None:
    assert _pan_lag(step) <= 1.0


def test_lag_test_sees_lag_when_smoothing_ignores_motion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matte_mod, "MOTION_LO", 1e6)  # the gate never opens: plain exponential smoothing
    monkeypatch.setattr(matte_mod, "MOTION_HI", 2e6)
    assert _pan_lag(4) > 2.0


def test_edge_lag_metric_measures_a_known_shift() -> None:
    alpha = gt_mask(AISEGMENT[0])
    one_frame_behind = mm.shifted(alpha, 6.0)  # the picture moves left 6 px per frame
    assert mm.edge_lag(one_frame_behind, alpha, -6.0) == pytest.approx(1.0, abs=0.05)
    assert mm.edge_lag(alpha, alpha, -6.0) == pytest.approx(0.0, abs=0.05)


def test_boundary_f_tolerates_small_shifts_only() -> None:
    truth = gt_mask(AISEGMENT[0])
    assert mm.boundary_f(truth, truth) == 1.0 and mm.iou(truth, truth) == 1.0
    assert mm.boundary_f(mm.shifted(truth, 5.0), truth) > 0.95  # within 0.8 % of the diagonal (8 px)
    assert mm.boundary_f(mm.shifted(truth, 30.0), truth) < 0.5


def _conf_and_frame() -> tuple[np.ndarray, np.ndarray]:
    frame = cv2.imread(str(AISEGMENT[0]))
    with Segmenter("auto", video=False) as s:
        return s.segment(frame), frame


@pytest.mark.parametrize("refine", [False, True])
def test_softness_zero_is_a_hard_cut(refine: bool) -> None:
    conf, frame = _conf_and_frame()
    m = Matte(SegmentationSettings(softness=0.0, refine=refine), video=False)
    small = m.compute(conf, frame).small
    assert set(np.unique(small)) == {0, 255}
    soft = Matte(SegmentationSettings(softness=0.5, refine=refine), video=False).compute(conf, frame).small
    assert np.count_nonzero((soft > 0) & (soft < 255)) > 100


def test_the_guided_filter_on_the_box_around_the_person_gives_the_alpha_of_the_whole_grid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The filter runs on the box around the person (GUIDE_FLOOR), smaller than the grid; on real pictures
    and a real clip the alpha is the same as with the filter on the whole grid. A ramp that starts too low
    for that (a low threshold) filters the whole grid."""
    shapes: list[tuple[int, ...]] = []
    guided = cv2.ximgproc.guidedFilter

    def spy(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
        shapes.append(src.shape)
        return guided(guide, src, radius, eps)

    monkeypatch.setattr(matte_mod.cv2.ximgproc, "guidedFilter", spy)
    clip = cv2.VideoCapture(str(VIDEOS / "volcomix_doctor.mp4"))
    frames = [cv2.imread(str(p)) for p in AISEGMENT[:4]] + [clip.read()[1] for _ in range(12)]
    clip.release()

    def alphas(video: bool, **settings: float) -> list[np.ndarray]:
        cfg = quality.vcamd_config({f"segmentation.{k}": v for k, v in settings.items()})
        with Pipeline(cfg, video=video) as p:
            clip = frames[4:] if video else frames[:4]
            return [p.process(f, i / 30)[:, :, 3].copy() for i, f in enumerate(clip)]

    margin = matte_mod.GUIDE_FLOOR_MARGIN
    grids = {matte_mod.work_size(f.shape[1], f.shape[0])[::-1] for f in frames}
    for video in (False, True):
        shapes.clear()
        boxed = alphas(video)
        assert shapes and all(s not in grids for s in shapes), shapes  # every time a box, not the grid
        monkeypatch.setattr(matte_mod, "GUIDE_FLOOR_MARGIN", float("inf"))  # the whole grid, always
        whole = alphas(video)
        monkeypatch.setattr(matte_mod, "GUIDE_FLOOR_MARGIN", margin)
        assert all(np.array_equal(a, b) for a, b in zip(boxed, whole, strict=True))
    shapes.clear()
    alphas(False, threshold=0.1, softness=0.1)
    assert shapes and all(s in grids for s in shapes)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (1000, 600)], ids=str)
def test_the_alpha_is_enlarged_on_the_box_around_the_person_with_the_alpha_of_the_whole_frame(
    size: tuple[int, int],
) -> None:
    """A frame that is a whole multiple of the grid (webcam sizes) has its alpha enlarged on the box around
    the person only: on a real clip, then nobody, then the person again, every frame's alpha is the whole
    grid's enlarged, and the box holds all of it. Another size is enlarged whole (no box)."""
    w, h = size
    clip = cv2.VideoCapture(str(VIDEOS / "volcomix_doctor.mp4"))
    frames = [cv2.resize(clip.read()[1], size) for _ in range(8)]
    clip.release()
    whole_multiple = all(n % g == 0 for n, g in zip(size, matte_mod.work_size(w, h), strict=True))
    m = Matte(SegmentationSettings(), video=True)
    boxes = []
    with Segmenter(video=True, refine=True) as seg:
        confs = [seg.segment(f, i * 33) for i, f in enumerate(frames)]
        nobody = [np.zeros_like(confs[0])] * 30
        for i, conf in enumerate(confs[:4] + nobody + confs[4:]):
            r = m.compute(conf, frames[i % len(frames)], seg.region)
            assert np.array_equal(r.full, cv2.resize(r.small, size, interpolation=cv2.INTER_LINEAR)), i
            box = m._full_box  # the enlargement's own record of where it worked
            if not whole_multiple:
                assert box is None
                continue
            assert box is not None
            x0, y0, x1, y1 = box
            outside = r.full.copy()
            outside[y0:y1, x0:x1] = 0
            assert not outside.any(), i
            boxes.append((x1 - x0) * (y1 - y0))
    if whole_multiple:
        assert 0 in boxes  # nobody: nothing enlarged
        assert 0 < boxes[-1] < 0.8 * w * h  # the person again, on a box well inside the frame


def test_reset_forgets_the_history() -> None:
    conf, frame = _conf_and_frame()
    settings = SegmentationSettings()
    m = Matte(settings, video=True)
    m.compute(np.zeros_like(conf), frame)  # nobody there
    with_history = m.compute(conf, frame).full.copy()  # same picture: the gate stays shut, history shows
    m.reset()
    after_reset = m.compute(conf, frame).full.copy()
    fresh = Matte(settings, video=True).compute(conf, frame).full
    assert np.array_equal(after_reset, fresh)
    assert mm.alpha_error(with_history, fresh) > 100  # the history held most of the person back


def test_to_grid_places_a_crop_where_it_belongs() -> None:
    conf = np.zeros((64, 64), np.float32)
    conf[16:48, 16:48] = 1.0  # a square in the middle of the crop
    grid = to_grid(conf, (100, 50, 164, 114), (400, 200), (200, 100))  # crop at half scale
    ys, xs = np.nonzero(grid >= 0.5)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (58, 73, 33, 48)
    assert grid[:, :49].max() == 0.0 and grid[:, 83:].max() == 0.0  # outside the crop: nobody


def test_auto_model_by_shape_and_crop_around_a_small_person() -> None:
    assert choose_model(1280, 720) == "landscape"
    assert choose_model(640, 480) == "general" and choose_model(600, 800) == "general"
    person = cv2.imread(str(AISEGMENT[0]))  # 600x800
    rng = np.random.default_rng(1)
    canvas = cv2.GaussianBlur(rng.integers(90, 170, (1080, 1920, 3), dtype=np.uint8), (0, 0), 8)  # a wall
    canvas[680:1080, 1400:1700] = cv2.resize(person, (300, 400))  # a small person, far right
    with Segmenter("auto", video=True, refine=True) as s:
        regions = []
        for i in range(6):
            conf = s.segment(canvas, i * 33)
            regions.append(s.region)
        assert s.input_size == (256, 144) and conf.shape == (144, 256)
    assert regions[0] == (0, 0, 1920, 1080)  # the first frame is seen whole
    x0, y0, x1, y1 = regions[-1]
    assert x0 > 800 and x1 >= 1700 and y0 > 300 and (x1 - x0) * (y1 - y0) < 0.4 * 1920 * 1080
    assert regions[3] == regions[4] == regions[5]  # once it has settled, the crop holds still


def test_a_crop_that_is_the_whole_frame_needs_no_rescan() -> None:
    """A person who fills the frame keeps the crop at the whole frame: every run looks at all of it, so the
    periodic rescan would only run the model twice on the same picture."""
    person = cv2.resize(cv2.imread(str(AISEGMENT[0])), (1280, 720))
    with Segmenter("auto", video=True, refine=True) as s:
        assert s._task is not None
        task, runs = s._task, []
        real = task.run
        task.run = lambda rgb, ts=None: runs.append(ts) or real(rgb, ts)  # type: ignore[method-assign]
        regions = []
        for i in range(2 * segmenter_mod.RESCAN_FRAMES + 2):
            s.segment(person, i * 33)
            regions.append(s.region)
            assert not s.rescan_due
    assert set(regions) == {(0, 0, 1280, 720)}
    assert len(runs) == len(regions)


def test_a_second_person_entering_beside_the_crop_is_found() -> None:
    rng = np.random.default_rng(2)
    wall = cv2.GaussianBlur(rng.integers(90, 170, (720, 1280, 3), dtype=np.uint8), (0, 0), 8)
    first = cv2.resize(cv2.imread(str(AISEGMENT[0])), (360, 480))
    second = cv2.resize(cv2.imread(str(AISEGMENT[5])), (360, 480))
    alone = wall.copy()
    alone[240:720, 880:1240] = first
    found = []
    with Pipeline(Config.model_validate({"effect": {"name": "transparent"}})) as p:
        for i in range(8):
            p.process(alone, i / 30)
        for i in range(segmenter_mod.RESCAN_FRAMES + 8):
            x = 16 + 4 * (i % 3)  # stands swaying on the left, outside the crop around the first person
            both = alone.copy()
            both[240:720, x : x + 360] = second
            alpha = p.process(both, (8 + i) / 30)[:, :, 3]
            found.append(alpha[300:700, x + 60 : x + 300].mean() / 255)
    assert found[0] < 0.05  # not yet: the model looks only at the crop around the first person
    assert found[-1] > 0.6  # found by the periodic look at the whole frame


def test_someone_entering_and_standing_still_beside_the_crop_is_found() -> None:
    """Still frames reuse the model's last mask, but they count towards the look at the whole frame: it
    comes within RESCAN_FRAMES frames (a second at 30 fps) however still the picture is, and the newcomer,
    standing still, then fades in as fast as the matte's smoothing of still parts lets it (it took three
    seconds and more when only the frames the model ran on counted)."""
    rng = np.random.default_rng(2)
    wall = cv2.GaussianBlur(rng.integers(90, 170, (720, 1280, 3), dtype=np.uint8), (0, 0), 8)
    alone = wall.copy()
    alone[240:720, 880:1240] = cv2.resize(cv2.imread(str(AISEGMENT[0])), (360, 480))
    both = alone.copy()
    both[240:720, 16:376] = cv2.resize(cv2.imread(str(AISEGMENT[5])), (360, 480))
    found = []
    with Pipeline(Config.model_validate({"effect": {"name": "transparent"}})) as p:
        for i in range(8):
            p.process(alone, i / 30)
        for i in range(2 * segmenter_mod.RESCAN_FRAMES):
            found.append(p.process(both, (8 + i) / 30)[300:700, 76:316, 3].mean() / 255)
        assert p.model_runs < 8 + len(found)  # the still frames did rest the model
    assert found[0] < 0.05 and found[-1] > 0.6, [round(f, 2) for f in found]
