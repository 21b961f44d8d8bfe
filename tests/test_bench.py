"""``vcamd bench`` runs both pipelines and reports them (no timing asserted: numbers are for benchmarks)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DATA, ROOT

from vcamd.cli import main
from vcamd.commands import bench


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["bench", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_json_has_exactly_the_promised_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VCAMD_DATA_DIR", str(DATA))
    result = _json(capsys, "--size", "320x180", "--frames", "4")
    assert list(result) == ["size", "effect", "frames", "vcamd", "naive", "cpu_ratio", "cpu_ratio_min",
                            "cpu_ratio_max", "rounds"]
    assert (result["size"], result["effect"], result["frames"]) == ("320x180", "blur", 4)
    for side in ("vcamd", "naive"):
        timing = result[side]
        assert isinstance(timing, dict)
        assert list(timing) == ["wall_ms_median", "cpu_ms_per_frame"]
        assert all(isinstance(v, float) and v > 0 for v in timing.values())
    vc, nv = result["vcamd"], result["naive"]
    assert isinstance(vc, dict) and isinstance(nv, dict)
    assert result["rounds"] == 1  # 4 frames: one block of each
    assert result["cpu_ratio"] == pytest.approx(nv["cpu_ms_per_frame"] / vc["cpu_ms_per_frame"], rel=0.02)
    assert result["cpu_ratio_min"] == result["cpu_ratio"] == result["cpu_ratio_max"]


def test_out_writes_the_result_with_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VCAMD_DATA_DIR", str(DATA))
    out = tmp_path / "results" / "bench-320x180.json"
    assert main(["bench", "--size", "320x180", "--frames", "4", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert list(doc) == ["benchmark", "argv", "when", "vcamd", "machine", "result"]
    assert doc["benchmark"] == "vcamd bench" and doc["result"]["size"] == "320x180"
    assert "maxine_webcam_part1.mp4" in doc["result"]["source"]
    box = doc["machine"]
    assert box["cores"] >= 1 and box["cpu"] and box["opencv"] == cv2.__version__
    assert "vcamd uses" in capsys.readouterr().out  # the table still goes to stdout


def test_blocks_interleave_abba_and_each_pipeline_keeps_its_own_stream() -> None:
    calls: list[tuple[str, float]] = []
    frames = [np.zeros((2, 2, 3), np.uint8)]
    a = bench.Runner(lambda f, t: calls.append(("a", t)), frames)
    b = bench.Runner(lambda f, t: calls.append(("b", t)), frames)
    ratios = bench.interleave(a, b, 3 * bench.BLOCK, block=bench.BLOCK)
    assert len(ratios) == 3 and a.count == b.count == 3 * bench.BLOCK
    runs = [calls[0][0]] + [c[0] for prev, c in itertools.pairwise(calls) if c[0] != prev[0]]
    # warm-up a, b; then rounds ab, ba, ab: the middle b-b and a-a blocks run on
    assert "".join(runs) == "ababab"
    times = [i / bench.FPS for i in range(bench.WARMUP + 3 * bench.BLOCK)]
    assert [t for who, t in calls if who == "b"] == times


def test_frames_come_from_the_shared_clip_or_are_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VCAMD_DATA_DIR", str(DATA))
    frames, source = bench.load_frames((160, 90), 3)
    assert source == bench.PREFERRED_CLIP and len(frames) == 3 and frames[0].shape == (90, 160, 3)
    monkeypatch.setenv("VCAMD_DATA_DIR", str(tmp_path))  # a data folder with no videos
    frames, source = bench.load_frames((160, 90), 3)
    assert source == "generated frames" and frames[0].shape == (90, 160, 3)
    assert not np.array_equal(frames[0], frames[2])  # the shape moves


def test_the_naive_pipeline_is_the_tutorial_one() -> None:
    img = cv2.imread(str(DATA / "stills" / "maxine_LeFret_000900.jpg"))

    def blur(frame: np.ndarray, t: float) -> np.ndarray:
        return cv2.GaussianBlur(frame, (55, 55), 0)

    naive = bench.NaivePipeline("landscape", blur)
    try:
        out = naive.process(img, 0.0)
    finally:
        naive.close()
    same = (out == img).all(axis=2)
    blurred = (out == blur(img, 0)).all(axis=2)
    assert (same | blurred).all()  # every pixel is either the frame or the blur: a hard np.where cut
    assert 0.1 < same.mean() < 0.9


def test_text_report_and_stand_in_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VCAMD_DATA_DIR", str(tmp_path))
    assert main(["bench", "--size", "192x108", "--frames", "3", "--effect", "image"]) == 0
    out = capsys.readouterr().out
    assert "192x108, effect image, 3 frames (generated frames)" in out
    assert "vcamd" in out and "naive" in out and "less CPU than the naive pipeline" in out


@pytest.mark.parametrize("args", [["--size", "big"], ["--size", "10x10"], ["--frames", "0"]])
def test_bad_arguments_are_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vcamd: error: --")


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                                          if p.read_text().find("argparse") >= 0))
def test_every_benchmark_starts(script: str) -> None:
    """Each benchmark's imports still hold (they share a harness that moves with the code): --help answers."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: "), r.stderr
