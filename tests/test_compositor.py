"""The compositor (engine/compositor.py) on real frames with the real model's mattes.

Its fast path (blocks told apart on the matte's small picture, only the edge blocks blended, their alpha
enlarged alone) is checked bit for bit against the plain full-frame blend below, the reference it must equal;
light wrap through the pipeline: only edge pixels change, and nothing at 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import av
import cv2
import framing as framing_bench
import numpy as np
import pytest
from conftest import AISEGMENT, DATA, VIDEOS

from vcamd import frames
from vcamd.config import Config, FramingSettings, apply_changes
from vcamd.engine.compositor import LIGHT_BOX, Compositor
from vcamd.engine.framing import Framer
from vcamd.engine.matte import Matte
from vcamd.engine.pipeline import Pipeline
from vcamd.engine.segmenter import Segmenter
from vcamd.engine.types import MatteResult
from vcamd.frames import upscale


def reference_blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The plain full-frame alpha blend: every pixel through ``cv2.multiply`` (scale 1/255) and ``cv2.add``,
    which the compositor's fast path must equal bit for bit."""
    a3 = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    scale = 1.0 / 255.0
    return cv2.add(cv2.multiply(fg, a3, scale=scale), cv2.multiply(bg, cv2.bitwise_not(a3), scale=scale))


def _exact_blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float64)[:, :, None] / 255.0
    return fg * a + bg * (1.0 - a)


def _mixed_blocks(alpha: np.ndarray, block: tuple[int, int] = (16, 8)) -> tuple[np.ndarray, np.ndarray]:
    """(person, edge) per whole ``block`` (rows, columns) of ``alpha``, read from every pixel: some alpha not
    0; some not 0 and some not 255."""
    bh, bw = block
    h, w = alpha.shape[0] // bh * bh, alpha.shape[1] // bw * bw
    blocks = alpha[:h, :w].reshape(h // bh, bh, w // bw, bw)
    person = blocks.max(axis=(1, 3)) > 0
    return person, person & (blocks.min(axis=(1, 3)) < 255)


def real_mattes(frames: Iterable[np.ndarray], *, video: bool = False) -> list[MatteResult]:
    """Each frame's matte as the pipeline makes it (the real model, the default settings), copied out of the
    buffers the next frame reuses."""
    s = Config().segmentation
    mattes = []
    with Segmenter(s.model, video=video, refine=s.refine, runtime=s.runtime) as seg:
        matte = Matte(s, video=video)
        for i, frame in enumerate(frames):
            m = matte.compute(seg.segment(frame, i * 33), frame, seg.region)
            mattes.append(MatteResult(m.small.copy(), m.full.copy()))
    return mattes


def _clip(size: tuple[int, int], n: int) -> list[np.ndarray]:
    """The first ``n`` frames of a real clip at ``size`` (w, h)."""
    with av.open(str(VIDEOS / "volcomix_doctor.mp4")) as c:
        return [cv2.resize(f.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
                for _, f in zip(range(n), c.decode(video=0), strict=False)]


@pytest.mark.parametrize("crop", [(800, 600), (797, 589), (5, 600), (800, 7)], ids=str)
def test_compositor_blends_real_mattes_exactly(crop: tuple[int, int]) -> None:
    h, w = crop
    fg, bg = (np.ascontiguousarray(cv2.imread(str(AISEGMENT[i]))[:h, :w]) for i in (0, 5))
    (matte,) = real_mattes([fg])
    alpha = matte.full
    comp = Compositor()
    out = comp.blend(fg, bg, matte).copy()
    assert np.abs(out - _exact_blend(fg, bg, alpha)).max() <= 1.0
    assert np.array_equal(out[alpha == 255], fg[alpha == 255])
    assert np.array_equal(out[alpha == 0], bg[alpha == 0])
    assert np.array_equal(out, reference_blend(fg, bg, alpha))
    scratch = bg.copy()
    assert comp.blend(fg, scratch, matte, into_bg=True) is scratch
    assert np.array_equal(scratch, out)


@pytest.mark.parametrize("fast_warp", [True, False], ids=["warp", "resize"])
@pytest.mark.parametrize("size", [(1280, 720), (1000, 600)], ids=str)
def test_framed_blend_enlarges_the_crop_only_where_the_person_is_and_equals_the_whole_enlargement(
        size: tuple[int, int], fast_warp: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto-framing: ``blend(frame, bg, matte, box=...)`` draws ``frame``'s ``box`` enlarged to the output,
    the same, bit for bit, as enlarging the whole crop first (``upscale``) and blending that, though it
    enlarges little more than the person (a far person: less than half the frame); with 1280x720 (tiled on
    the small matte) and a size its blocks do not tile; into its own buffer and into the background's; and
    where OpenCV warps slowly (then by resizing, the whole crop at once)."""
    monkeypatch.setattr(frames, "FAST_WARP", fast_warp)
    w, h = size
    far = framing_bench.far(framing_bench._720(framing_bench.read(DATA / framing_bench.FAR_STILL)))
    room = cv2.imread(str(AISEGMENT[5]))
    frame, bg = (cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in (far, room))
    (matte,) = real_mattes([frame])
    framer = Framer(FramingSettings(auto=True, zoom=2.0))
    box = framer.place(matte.small, size, 0.0)
    assert box is not None and box[3] - box[1] < h, "the picture is zoomed"
    framed = framer.crop_matte(matte, size)
    assert framed.small.shape == matte.small.shape and framed.full.shape == (h, w)
    expected = reference_blend(upscale(frame[box[1] : box[3], box[0] : box[2]], size), bg, framed.full)
    made: list[int] = []
    upscale_as_is = frames.upscale

    def counted(img: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None,
                rect: tuple[int, int, int, int] | None = None) -> np.ndarray:
        x0, y0, x1, y1 = rect or (0, 0, *size)
        made.append((x1 - x0) * (y1 - y0))
        return upscale_as_is(img, size, dst, rect)

    monkeypatch.setattr(frames, "upscale", counted)
    comp = Compositor()
    assert np.array_equal(comp.blend(frame, bg, framed, box=box), expected)
    assert sum(made) < 0.5 * w * h if fast_warp else len(made) <= 2, (sum(made) / (w * h), len(made))
    scratch = bg.copy()
    assert np.array_equal(comp.blend(frame, scratch, framed, box=box, into_bg=True), expected)


def test_compositor_restores_a_static_background_only_where_the_person_was() -> None:
    """The same background buffer frame after frame (an image effect), the person moving: every frame
    equals the full blend, though only last frame's person blocks are restored from the background."""
    still = cv2.imread(str(AISEGMENT[0]))
    bg = cv2.imread(str(AISEGMENT[5]))
    frames = [np.ascontiguousarray(np.roll(still, shift, axis=1)) for shift in (0, 40, 80, -60)]
    comp = Compositor()
    for shift, fg, matte in zip((0, 40, 80, -60), frames, real_mattes(frames), strict=True):
        out = comp.blend(fg, bg, matte, static=True)
        assert np.array_equal(out, reference_blend(fg, bg, matte.full)), shift
    other = cv2.imread(str(AISEGMENT[7]))  # another buffer (the effect changed): all of it is shown
    assert np.array_equal(comp.blend(fg, other, matte, static=True), reference_blend(fg, other, matte.full))


def test_compositor_blends_only_the_blocks_at_the_persons_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The person in the right three quarters of a real 1280x720 frame: the blocks blended are the ones
    whose alpha is mixed and at most their neighbours, none in the left quarter, and the result is the full
    blend; with nobody the background is shown, nothing is blended and the full alpha is never made."""
    fg, bg = _clip((1280, 720), 2)
    small = real_mattes([fg])[0].small
    small[:, : small.shape[1] // 4] = 0
    alpha = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_LINEAR)
    blended: list[tuple[np.ndarray, ...]] = []
    blend_edges = Compositor._blend_edges

    def spy(self: Compositor, edge: np.ndarray, where: tuple[np.ndarray, ...], *rest: Any) -> None:
        assert (self._bh, self._bw) == (16, 8)
        blended.append(where)
        blend_edges(self, edge, where, *rest)

    monkeypatch.setattr(Compositor, "_blend_edges", spy)
    out = Compositor().blend(fg, bg, MatteResult(small, alpha))
    assert np.array_equal(out, reference_blend(fg, bg, alpha))
    (where,) = blended
    edge = np.zeros_like(_mixed_blocks(alpha)[1])
    edge[where] = True
    mixed = _mixed_blocks(alpha)[1]
    assert mixed.any() and not (mixed & ~edge).any()
    near = cv2.dilate(mixed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert not (edge & ~near).any()
    assert not edge[:, : 1280 // 4 // 8 - 1].any()

    def never() -> np.ndarray:
        raise AssertionError("the full alpha was made for nobody")

    nobody = Compositor().blend(fg, bg, MatteResult(np.zeros_like(small), enlarge=never))
    assert np.array_equal(nobody, bg) and len(blended[1][0]) == 0


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (854, 480), (640, 480), (300, 200)], ids=str)
def test_blocks_told_apart_on_the_small_matte_blend_as_the_full_alpha(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a stream (a real clip, the person then gone then back), each frame's blend, its blocks told apart
    on the matte's small picture, is the full blend pixel for pixel; it blends a few more blocks than the
    full alpha's test marks as mixed (a seventh more at 1080p), never fewer. Where the frame is a whole
    multiple of the small picture (1280x720, 1920x1080, 640x480) the full-size alpha is never made."""
    frames = _clip(size, 12)
    frames[6:8] = [np.full_like(frames[0], 90)] * 2  # nobody
    checked: list[tuple[int, int]] = []
    made: list[bool] = []
    blend = Compositor.blend

    def check(self: Compositor, fg: np.ndarray, bg: np.ndarray, matte: MatteResult, **kw: Any) -> np.ndarray:
        under = bg.copy()
        got = blend(self, fg, bg, matte, **kw)
        made.append(matte._full is not None)
        alpha = matte.full
        assert np.array_equal(got, reference_blend(fg, under, alpha))
        h, w = alpha.shape
        _, by_pixels = _mixed_blocks(alpha)
        _, by_small = self._classify_small(matte.small, by_pixels.shape, (w, h), (16, 8))
        assert not (by_pixels & ~by_small).any()
        checked.append((int(by_pixels.sum()), int(by_small.sum())))
        return got

    monkeypatch.setattr(Compositor, "blend", check)
    with Pipeline(Config.model_validate({"effect": {"name": "blur"}})) as p:
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

        def enlarge(alpha: np.ndarray = alpha, trial: int = trial) -> np.ndarray:
            made.append(trial)
            return alpha

        got = Compositor().blend(fg, bg.copy(), MatteResult(small, enlarge=enlarge), into_bg=True)
        assert np.array_equal(got, reference_blend(fg, bg, alpha)), trial
    assert made == ([1, 3, 5] if h // small_shape[0] == 12 else [])


def test_compositor_edge_cases() -> None:
    """Tiny frames of real pictures: nobody, all person, a noisy matte on tiled blocks and on blocks that do
    not tile the frame, and frames that are not contiguous (the plain path)."""
    rng = np.random.default_rng(1)
    fg, bg = (cv2.resize(cv2.imread(str(AISEGMENT[i])), (64, 48), interpolation=cv2.INTER_AREA)
              for i in (0, 5))
    comp = Compositor()
    wide = [cv2.resize(x, (128, 48)) for x in (fg, bg)]
    strided = wide[0][:, ::2], wide[1][:, ::2]  # not contiguous: the plain path
    noise = (rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((12, 16), (10, 13)))  # 4x; not tiled
    for small in (np.zeros((12, 16), np.uint8), np.full((12, 16), 255, np.uint8), *noise):
        alpha = cv2.resize(small, (64, 48), interpolation=cv2.INTER_LINEAR)
        for f, b in ((fg, bg), strided):
            out = comp.blend(f, b, MatteResult(small, alpha))
            assert np.abs(out - _exact_blend(f, b, alpha)).max() <= 1.0
            assert np.array_equal(out, reference_blend(f, b, alpha))
    # Rows and columns left over by the blocks (45 = 2 * 16 + 13, 61 = 7 * 8 + 5), the person reaching them.
    f, b = (np.ascontiguousarray(x[:45, :61]) for x in (fg, bg))
    small = np.full((10, 13), 255, np.uint8)
    small[:5, :6] = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    alpha = cv2.resize(small, (61, 45), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(comp.blend(f, b, MatteResult(small, alpha)), reference_blend(f, b, alpha))


@pytest.mark.parametrize(("size", "light_size"), [((1280, 720), (320, 180)), ((797, 589), (199, 147))],
                         ids=str)
def test_light_wrap_mixes_the_blurred_background_into_the_edge(
    size: tuple[int, int], light_size: tuple[int, int]
) -> None:
    """Each pixel is the blend mixed with the background's light (shrunk to the small matte's size, or a
    quarter of the frame's where the blocks are not tiled, blurred twice by LIGHT_BOX, enlarged) by
    ``wrap * 4 a (1 - a)``, within 2 levels; rows and columns the blocks leave over are the plain blend. The
    light kept for a static background gives the same output as light made afresh."""
    w, h = size
    frames = _clip(size, 3)
    bg = cv2.resize(cv2.imread(str(DATA / "stills" / "volcomix_girl-919048_1280.jpg")), size)
    light = cv2.resize(bg, light_size, interpolation=cv2.INTER_LINEAR)
    for _ in range(2):
        light = cv2.blur(light, (LIGHT_BOX, LIGHT_BOX))
    light = cv2.resize(light, size, interpolation=cv2.INTER_LINEAR).astype(np.float64)
    wrap, comp = 0.6, Compositor()
    for fg, matte in zip(frames, real_mattes(frames, video=True), strict=True):
        out = comp.blend(fg, bg, matte, static=True, wrap=wrap).copy()
        assert np.array_equal(out, Compositor().blend(fg, bg, matte, static=True, wrap=wrap))
        plain = reference_blend(fg, bg, matte.full)
        x = matte.full.astype(np.float64)[:, :, None] / 255.0
        k = wrap * 4.0 * x * (1.0 - x)
        expected = plain * (1.0 - k) + light * k
        hm, w8 = h // 16 * 16, w // 8 * 8
        assert np.abs(out[:hm, :w8] - expected[:hm, :w8]).max() <= 2.0
        assert np.array_equal(out[hm:], plain[hm:]) and np.array_equal(out[:, w8:], plain[:, w8:])
        assert (k > 0.1).any()
    scratch = bg.copy()  # a background drawn anew into the same buffer every frame: its light is made anew
    for picture in (bg, np.ascontiguousarray(bg[::-1])):
        np.copyto(scratch, picture)
        fresh = Compositor().blend(fg, picture, matte, wrap=wrap)
        assert np.array_equal(comp.blend(fg, scratch, matte, wrap=wrap), fresh)


def _image_outputs(wraps: tuple[float, ...]) -> tuple[dict[float, np.ndarray], np.ndarray]:
    frame = cv2.imread(str(DATA / "stills" / "maxine_LeFret_000900.jpg"))
    background = str(DATA / "stills" / "volcomix_girl-919048_1280.jpg")
    outs = {}
    for k in wraps:
        cfg = apply_changes(Config(), {"effect.name": "image", "effect.background": background,
                                       "effect.light_wrap": k})
        with Pipeline(cfg, video=False) as pipe:
            outs[k] = pipe.process(frame).copy()
    with Pipeline(apply_changes(Config(), {"effect.name": "transparent"}), video=False) as pipe:
        alpha = pipe.process(frame)[:, :, 3].copy()
    return outs, alpha


def test_light_wrap_changes_only_the_edge() -> None:
    outs, alpha = _image_outputs((0.0, 0.4, 1.0))
    edge = (alpha > 0) & (alpha < 255)
    for k in (0.4, 1.0):
        changed = (outs[k] != outs[0.0]).any(axis=2)
        assert changed.any() and not (changed & ~edge).any(), k
    stronger = np.abs(outs[1.0].astype(int) - outs[0.0]).sum()
    assert stronger > np.abs(outs[0.4].astype(int) - outs[0.0]).sum()


def test_light_wrap_is_off_for_effects_without_a_picture_and_at_zero() -> None:
    frame = cv2.imread(str(DATA / "stills" / "maxine_LeFret_000900.jpg"))
    for effect in ("blur", "color", "desaturate"):
        outs = []
        for k in (0.0, 1.0):
            with Pipeline(apply_changes(Config(), {"effect.name": effect, "effect.light_wrap": k}),
                          video=False) as pipe:
                outs.append(pipe.process(frame).copy())
        assert np.array_equal(outs[0], outs[1]), effect
