"""Matte quality of vcamd against the raw MediaPipe model, on ../shared/data. Prints one table.

    .venv/bin/python benchmarks/quality.py [--json] [--frames N] [--set segmentation.KEY=VALUE ...]

raw   = the landscape model given the whole frame (MediaPipe resizes it and returns the confidence at frame
        size, bilinear), cut at 0.5; its soft confidence for the alpha error. This reproduces the baseline in
        ../shared/data/README.md.
vcamd = the real ``Pipeline`` (effect ``transparent``, so its output's alpha is the matte): IMAGE mode for
        stills, VIDEO mode with the streaming matte for videos.

Rows: IoU, boundary F and alpha error on ``aisegment`` (the real benchmark) and ``removebg_vikram`` (coarse
machine-made masks: a rough check); flicker on two real videos; the lag of a moving edge in a pan across a
real still; CPU per frame at 1280x720 with the refinements on and off (same process, effect ``blur``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("VCAMD_SHARED", HERE.parent.parent / "shared")) / "data"
os.environ.setdefault("VCAMD_MODEL_DIR", str(DATA.parent / "models"))
os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(HERE))

import matte_metrics as mm  # noqa: E402

from vcamd import config  # noqa: E402
from vcamd.commands.bench import save_result  # noqa: E402
from vcamd.engine import models  # noqa: E402
from vcamd.engine.pipeline import Pipeline  # noqa: E402

STILL_SETS = ("aisegment", "removebg_vikram")
VIDEOS = ("maxine_webcam_part1", "volcomix_doctor")
PAN_STILL = "stills/maxine_input_003054.jpg"
PAN_SIZE = (1280, 720)

Matter = Callable[[np.ndarray], np.ndarray]


def read(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image of ../shared/data (BGR, or grey with IMREAD_GRAYSCALE); FileNotFoundError if unreadable."""
    image = cv2.imread(str(path), flags)
    if image is None:
        raise FileNotFoundError(f"{path} is missing or unreadable")
    return image


def still_set(name: str, data: Path = DATA) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(BGR image, ground-truth matte) pairs of one ../shared/data set."""
    for img_path in sorted((data / "images" / name).glob("*.jpg")):
        yield read(img_path), read(data / "masks" / name / f"{img_path.stem}.png", cv2.IMREAD_GRAYSCALE)


def video_frames(name: str, limit: int | None = None, data: Path = DATA) -> Iterator[np.ndarray]:
    """The BGR frames of a ../shared/data video, at most ``limit`` of them."""
    cap = cv2.VideoCapture(str(data / "videos" / f"{name}.mp4"))
    if not cap.isOpened():
        raise FileNotFoundError(f"{data / 'videos' / name}.mp4 cannot be opened")
    n = 0
    try:
        while limit is None or n < limit:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            yield frame
    finally:
        cap.release()


def pan_frames(step: int, count: int, data: Path = DATA) -> Iterator[np.ndarray]:
    """A 1280x720 window panning right by ``step`` px per frame across a real 1920x1080 still.

    The picture therefore moves left by ``step`` px per frame.
    """
    big = read(data / PAN_STILL)
    w, h = PAN_SIZE
    y = (big.shape[0] - h) // 2
    if (count - 1) * step + w > big.shape[1]:
        raise ValueError(f"a pan of {count} frames at {step} px/frame runs off the {big.shape[1]} px still")
    for i in range(count):
        yield np.ascontiguousarray(big[y : y + h, i * step : i * step + w])


class RawModel:
    """The baseline: MediaPipe's landscape model on the whole frame, mask at frame size."""

    def __init__(self, *, video: bool) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.video = video
        opts = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(models.resolve("landscape"))),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        self._task = vision.ImageSegmenter.create_from_options(opts)
        self._ts = 0

    def confidence(self, frame: np.ndarray) -> np.ndarray:
        """float32 person confidence at frame size."""
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        if self.video:
            self._ts += 33
            result = self._task.segment_for_video(image, self._ts)
        else:
            result = self._task.segment(image)
        conf = np.array(result.confidence_masks[-1].numpy_view(), np.float32)  # a copy: the view dies
        return conf.reshape(conf.shape[0], conf.shape[1])

    def soft(self, frame: np.ndarray) -> np.ndarray:
        """The confidence as a 0..255 matte."""
        return (self.confidence(frame) * 255.0 + 0.5).astype(np.uint8)

    def hard(self, frame: np.ndarray) -> np.ndarray:
        """The confidence cut at 0.5, as a 0/255 matte."""
        return np.where(self.confidence(frame) >= 0.5, 255, 0).astype(np.uint8)

    def close(self) -> None:
        self._task.close()


def vcamd_config(changes: dict[str, object] | None = None) -> config.Config:
    """The default settings with effect ``transparent`` (plus ``changes``, dotted keys)."""
    return config.apply_changes(config.Config(), {"effect.name": "transparent", **(changes or {})})


def pipeline_matter(pipe: Pipeline) -> Matter:
    """The matte vcamd's pipeline produces for a frame (alpha of its BGRA output)."""
    t = [0.0]

    def matte(frame: np.ndarray) -> np.ndarray:
        t[0] += 1 / 30
        return pipe.process(frame, t[0])[:, :, 3].copy()

    return matte


def still_scores(matter: Matter, name: str, soft: Matter | None = None) -> dict[str, float]:
    """Mean IoU (%), boundary F (%) and alpha error (/1000) of ``matter`` on a still set.

    ``soft`` gives the matte the alpha error is measured on, if not ``matter``'s (the raw soft mask).
    """
    ious, bfs, errs = [], [], []
    for image, truth in still_set(name):
        m = matter(image)
        ious.append(mm.iou(m, truth))
        bfs.append(mm.boundary_f(m, truth))
        errs.append(mm.alpha_error(soft(image) if soft else m, truth))
    return {"iou": 100 * float(np.mean(ious)), "bf": 100 * float(np.mean(bfs)),
            "alpha_err": float(np.mean(errs))}


def video_flicker(matter: Matter, frames: Iterator[np.ndarray]) -> float:
    """Mean frame-to-frame change (/1000) of the mattes ``matter`` makes of ``frames``, in order."""
    prev: np.ndarray | None = None
    values = []
    for frame in frames:
        m = matter(frame)
        if prev is not None:
            values.append(mm.flicker(prev, m))
        prev = m
    return float(np.mean(values))


def pan_lag(stream: Matter, reference: Matter, step: int, count: int = 30, settle: int = 5) -> float:
    """Mean lag in frames of ``stream``'s side edges behind ``reference``'s in a pan (see pan_frames).

    ``reference`` should be the same stream without temporal smoothing: both then see the same crops.
    """
    lags = []
    for i, frame in enumerate(pan_frames(step, count)):
        s, r = stream(frame), reference(frame)
        if i >= settle:
            lags.append(mm.edge_lag(s, r, -step))
    return float(np.mean(lags))


def cpu_per_frame(changes: dict[str, object], frames: list[np.ndarray], rounds: int = 3) -> dict[str, float]:
    """Median CPU ms per frame of the pipeline (effect blur), refinements on and off, interleaved."""
    cv2.setNumThreads(1)
    cfgs = {
        "refined": config.apply_changes(config.Config(), {"effect.name": "blur", **changes}),
        "plain": config.apply_changes(
            config.Config(), {"effect.name": "blur", **changes, "segmentation.refine": False}
        ),
    }
    samples: dict[str, list[float]] = {k: [] for k in cfgs}
    pipes = {k: Pipeline(c, video=True) for k, c in cfgs.items()}
    try:
        for _ in range(rounds):
            for key, pipe in pipes.items():
                for i, frame in enumerate(frames):
                    c0 = time.process_time()
                    pipe.process(frame, i / 30)
                    samples[key].append((time.process_time() - c0) * 1000)
    finally:
        for pipe in pipes.values():
            pipe.close()
    out = {k: float(np.median(v[len(frames) // 2 :])) for k, v in samples.items()}
    out["extra"] = out["refined"] - out["plain"]
    return out


def run(changes: dict[str, object], frame_limit: int | None, pan_step: int) -> dict[str, dict[str, float]]:
    """Every measurement, as {row: {"raw": value, "vcamd": value}} (CPU rows: refined/plain/extra)."""
    table: dict[str, dict[str, float]] = {}
    cfg = vcamd_config(changes)
    raw = RawModel(video=False)
    try:
        with Pipeline(cfg, video=False) as pipe:
            for name in STILL_SETS:
                r = still_scores(raw.hard, name, soft=raw.soft)
                v = still_scores(pipeline_matter(pipe), name)
                for key in r:
                    table[f"{name} {key}"] = {"raw": r[key], "vcamd": v[key]}
    finally:
        raw.close()
    for name in VIDEOS:
        raw = RawModel(video=True)
        try:
            with Pipeline(cfg, video=True) as pipe:
                table[f"{name} flicker"] = {
                    "raw": video_flicker(raw.hard, video_frames(name, frame_limit)),
                    "vcamd": video_flicker(pipeline_matter(pipe), video_frames(name, frame_limit)),
                }
        finally:
            raw.close()
    unsmoothed = config.apply_changes(cfg, {"segmentation.smoothing": 0.0})
    with Pipeline(cfg, video=True) as stream, Pipeline(unsmoothed, video=True) as ref:
        table[f"pan {pan_step} px/frame lag"] = {
            "raw": 0.0, "vcamd": pan_lag(pipeline_matter(stream), pipeline_matter(ref), pan_step)
        }
    frames = [cv2.resize(f, PAN_SIZE, interpolation=cv2.INTER_AREA) for f in video_frames(VIDEOS[0], 60)]
    table["cpu ms/frame 1280x720"] = cpu_per_frame(changes, frames)
    return table


EDGE_CROPS = (  # (still, x, y, size): a hair edge and a shoulder, from MAXINE samples (MIT)
    ("stills/maxine_LeFret_003400.jpg", 520, 0, 240),
    ("stills/maxine_LeFret_000900.jpg", 270, 350, 240),
)


def edge_image(path: Path, changes: dict[str, object] | None = None) -> None:
    """Write a before/after picture: crops of edges over a flat blue, raw model left, vcamd right."""
    raw = RawModel(video=False)
    rows = []
    try:
        with Pipeline(vcamd_config(changes), video=False) as pipe:
            ours = pipeline_matter(pipe)
            for still, x, y, size in EDGE_CROPS:
                image = read(DATA / still)
                crop = np.s_[y : y + size, x : x + size]
                panels = []
                for matte in (raw.hard(image), ours(image)):
                    a = matte[crop][:, :, None].astype(np.float32) / 255.0
                    panels.append((image[crop] * a + np.array([110, 60, 30]) * (1.0 - a)).astype(np.uint8))
                rows.append(np.hstack([panels[0], np.full((size, 4, 3), 255, np.uint8), panels[1]]))
    finally:
        raw.close()
    picture = np.vstack(rows)
    for text, x in (("raw model", 8), ("vcamd", picture.shape[1] // 2 + 10)):
        cv2.putText(picture, text, (x, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])


UNITS = {"iou": "%", "bf": "%", "alpha_err": "/1000", "flicker": "/1000", "lag": "frames"}


def render(table: dict[str, dict[str, float]]) -> str:
    """The table as Markdown."""
    lines = ["| measure | raw model | vcamd |", "|---|---:|---:|"]
    for row, v in table.items():
        if "raw" in v:
            unit = UNITS.get(row.rsplit(" ", 1)[-1], "")
            lines.append(f"| {row} ({unit}) | {v['raw']:.2f} | {v['vcamd']:.2f} |")
    cpu = table.get("cpu ms/frame 1280x720")
    if cpu:
        lines.append(
            f"\nCPU per frame at 1280x720 (pipeline, effect blur): {cpu['refined']:.2f} ms refined, "
            f"{cpu['plain']:.2f} ms with segmentation.refine = false: "
            f"the refinements cost {cpu['extra']:+.2f} ms."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="also write them as JSON, with the machine, to FILE "
                   "(benchmarks/results/...)")
    p.add_argument("--frames", type=int, default=None, help="use at most N frames of each video")
    p.add_argument("--pan-step", type=int, default=4, help="pan speed of the lag test, px per frame")
    p.add_argument("--edge-image", type=Path, metavar="PNG",
                   help="also write the before/after edge picture (docs/matte-edge.png) there")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for vcamd, e.g. segmentation.threshold=0.5 (repeatable)")
    args = p.parse_args(argv)
    changes: dict[str, object] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            parsed: object = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        changes[key if "." in key else f"segmentation.{key}"] = parsed
    if args.edge_image:
        edge_image(args.edge_image, changes)
    table = run(changes, args.frames, args.pan_step)
    if args.out:
        save_result(args.out, "benchmarks/quality.py", table)
    sys.stdout.write(json.dumps(table, indent=2) + "\n" if args.json else render(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
