"""The frame engine on real images with the real MediaPipe model."""

from __future__ import annotations

from typing import Any

import av
import cv2
import numpy as np
import pytest
from conftest import AISEGMENT, VIDEOS, detail, gt_mask

from vcamd.config import Config
from vcamd.engine.compositor import Compositor
from vcamd.engine.pipeline import Pipeline
from vcamd.engine.segmenter import Segmenter
from vcamd.engine.types import MatteResult


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


def _exact_blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float64)[:, :, None] / 255.0
    return fg * a + bg * (1.0 - a)


@pytest.mark.parametrize("crop", [(800, 600), (797, 589), (5, 600), (800, 7)], ids=str)
def test_compositor_blends_real_mattes_exactly(crop: tuple[int, int]) -> None:
    fg = cv2.imread(str(AISEGMENT[0]))
    bg = cv2.imread(str(AISEGMENT[5]))
    with Pipeline(_cfg(name="transparent"), video=False) as p:
        alpha = p.process(fg)[:, :, 3].copy()
    h, w = crop
    fg, bg, alpha = (np.ascontiguousarray(x[:h, :w]) for x in (fg, bg, alpha))
    comp = Compositor()
    out = comp.blend(fg, bg, alpha).copy()
    assert np.abs(out - _exact_blend(fg, bg, alpha)).max() <= 1.0
    assert np.array_equal(out[alpha == 255], fg[alpha == 255])
    assert np.array_equal(out[alpha == 0], bg[alpha == 0])
    assert np.array_equal(out, comp.blend_full(fg, bg, alpha))
    scratch = bg.copy()
    assert comp.blend(fg, scratch, alpha, into_bg=True) is scratch
    assert np.array_equal(scratch, out)


def test_compositor_restores_a_static_background_only_where_the_person_was() -> None:
    """The same background buffer frame after frame (an image effect), the person moving: every frame
    equals the full blend, though only last frame's person blocks are restored from the background."""
    fg = cv2.imread(str(AISEGMENT[0]))
    bg = cv2.imread(str(AISEGMENT[5]))
    with Pipeline(_cfg(name="transparent"), video=False) as p:
        alpha = p.process(fg)[:, :, 3].copy()
    comp, ref = Compositor(), Compositor()
    for shift in (0, 40, 80, -60):
        moved = np.ascontiguousarray(np.roll(alpha, shift, axis=1))
        out = comp.blend(fg, bg, moved, static=True)
        assert np.array_equal(out, ref.blend_full(fg, bg, moved)), shift


def test_compositor_looks_only_inside_the_box_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a box that holds all of the alpha that is not 0 (the matte's), the blend is the same and the
    blocks outside the box are not looked at; with nobody (an empty box) the background is shown."""
    fg = cv2.imread(str(AISEGMENT[0]))
    bg = cv2.imread(str(AISEGMENT[5]))
    with Pipeline(_cfg(name="transparent"), video=False) as p:
        alpha = p.process(fg)[:, :, 3].copy()
    alpha[:, : alpha.shape[1] // 4] = 0  # the person in the right three quarters
    x, y, bw, bh = cv2.boundingRect(alpha)
    shapes: list[tuple[int, ...]] = []
    classify = Compositor._classify

    def spy(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shapes.append(words.shape)
        return classify(words)

    monkeypatch.setattr(Compositor, "_classify", staticmethod(spy))
    boxed = Compositor().blend(fg, bg, alpha, box=(x, y, x + bw, y + bh)).copy()
    assert len(shapes) == 1 and shapes[0][2] < alpha.shape[1] // 8 * 3 // 4 + 2
    assert np.array_equal(boxed, Compositor().blend_full(fg, bg, alpha))
    assert np.array_equal(Compositor().blend(fg, bg, np.zeros_like(alpha), box=(0, 0, 0, 0)), bg)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (854, 480), (640, 480), (300, 200)], ids=str)
def test_blocks_told_apart_on_the_small_matte_blend_as_the_full_alpha(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a stream (a real clip, the person then gone then back), each frame's blend, its blocks told apart
    on the matte's small picture, is the full blend pixel for pixel; it blends a few more blocks than the
    full alpha's test marks as mixed (a seventh more at 1080p), never fewer. Where the frame is a whole
    multiple of the small picture (1280x720, 1920x1080, 640x480) the full-size alpha is never made."""
    with av.open(str(VIDEOS / "volcomix_doctor.mp4")) as c:
        frames = [cv2.resize(f.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
                  for _, f in zip(range(12), c.decode(video=0), strict=False)]
    frames[6:8] = [np.full_like(frames[0], 90)] * 2  # nobody
    checked: list[tuple[int, int]] = []
    made: list[bool] = []
    blend = Compositor.blend

    def check(self: Compositor, fg: np.ndarray, bg: np.ndarray, matte: MatteResult, **kw: Any) -> np.ndarray:
        under = bg.copy()
        got = blend(self, fg, bg, matte, **kw)
        made.append(matte._full is not None)
        alpha = matte.full
        assert np.array_equal(got, Compositor().blend_full(fg, under, alpha))
        h, w = alpha.shape
        words = np.ascontiguousarray(alpha[: h // 16 * 16, : w // 8 * 8]).view(np.uint64)
        _, by_words = Compositor._classify(words.reshape(h // 16, 16, w // 8))
        _, by_small = self._classify_small(matte.small, by_words.shape, (w, h))
        assert not (by_words & ~by_small).any()
        checked.append((int(by_words.sum()), int(by_small.sum())))
        return got

    monkeypatch.setattr(Compositor, "blend", check)
    with Pipeline(_cfg(name="blur")) as p:
        for i, frame in enumerate(frames):
            p.process(frame, i / 30)
    assert len(checked) == len(frames)
    assert made == [size not in ((1280, 720), (1920, 1080), (640, 480))] * len(frames)
    assert sum(n for n, _ in checked) > 0
    assert sum(m for _, m in checked) <= 1.25 * sum(n for n, _ in checked) + 8  # 1080p: 14 % more


@pytest.mark.parametrize(("small_shape", "size"), [
    ((180, 320), (1280, 720)), ((180, 320), (1920, 1080)), ((240, 320), (640, 480)), ((90, 160), (1280, 720)),
    ((90, 160), (1920, 1080)), ((144, 256), (1280, 720)), ((48, 64), (64, 48)), ((36, 64), (320, 180))],
    ids=str)
def test_edge_blocks_alpha_from_the_small_matte_is_the_resize(
    small_shape: tuple[int, int], size: tuple[int, int]
) -> None:
    """Where the frame is a whole multiple of the small picture (2x to 12x here), the blocks start on its
    pixels and the edge blocks' alpha is enlarged from it alone, bit for bit as ``cv2.resize`` enlarges the
    whole picture: on noise, on hard edges, at the picture's borders, and with every block an edge block (the
    largest mosaic); the full alpha is not made. Only a mosaic too large to be exact (noise on a 12x
    enlargement, nearly every block an edge) falls back on the full alpha, with the same result."""
    rng = np.random.default_rng(7)
    w, h = size
    fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    made: list[int] = []
    for trial in range(6):
        small = np.zeros(small_shape, np.uint8)
        sh, sw = small_shape
        small[rng.integers(0, sh // 2):, rng.integers(0, sw // 2): rng.integers(sw // 2, sw + 1)] = 255
        if trial % 2:  # noise over part of it, reaching the borders; at last over all of it
            noisy = rng.random(small_shape) < (0.3 if trial < 5 else 2.0)
            small[noisy] = rng.integers(0, 256, int(noisy.sum()), dtype=np.uint8)
        alpha = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)

        def enlarge(alpha: np.ndarray = alpha, trial: int = trial) -> tuple[np.ndarray, None]:
            made.append(trial)
            return alpha, None

        got = Compositor().blend(fg, bg.copy(), MatteResult(small, enlarge=enlarge), into_bg=True)
        assert np.array_equal(got, Compositor().blend_full(fg, bg, alpha)), trial
    assert made == ([1, 3, 5] if h // small_shape[0] == 12 else [])


def test_compositor_edge_cases() -> None:
    rng = np.random.default_rng(1)
    fg = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    comp = Compositor()
    for alpha in (np.zeros((48, 64), np.uint8), np.full((48, 64), 255, np.uint8),
                  rng.integers(0, 256, (48, 64), dtype=np.uint8)):
        out = comp.blend(fg, bg, alpha)
        assert np.abs(out - _exact_blend(fg, bg, alpha)).max() <= 1.0
    strided = np.zeros((48, 128), np.uint8)[:, ::2]  # not contiguous: the plain path
    strided[10:20, 10:40] = 200
    assert np.abs(comp.blend(fg, bg, strided) - _exact_blend(fg, bg, strided)).max() <= 1.0


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
