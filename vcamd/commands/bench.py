"""``vcamd bench``: the frame engine against the naive tutorial pipeline, in one process, on the same frames.

Promises:
- Frames come from a real webcam clip when one is found (``$VCAMD_DATA_DIR/videos``, else ``../shared/data``
  beside the checkout), resized to ``--size``; otherwise they are generated. The output names the source.
- Both pipelines run with ``cv2.setNumThreads(1)``, as the daemon's worker does, after a few warm-up frames.
  They are interleaved in blocks of BLOCK frames (vcamd, naive, naive, vcamd, ...), so a noisy machine
  weighs on both alike; each keeps its own stream of frames. Wall time is measured per frame (median over
  all blocks); CPU time is the process's CPU time (every thread, MediaPipe's included) divided by the frame
  count. The CPU ratio (naive / vcamd) is taken per round (one block of each) and reported as the median
  over the rounds with its spread (min and max).
- The naive pipeline is the tutorial one: the full frame, colour-swapped, into the same model in VIDEO mode
  (MediaPipe upsamples the mask to full size), then ``np.where`` over the mask stacked 3 times and thresholded
  at 0.5. Its background for ``blur`` is a full-size 55x55 GaussianBlur; other effects use vcamd's own
  background for both, so only segmentation and compositing differ.
- ``--json`` prints one object with exactly the keys ``size``, ``effect``, ``frames``, ``vcamd`` and ``naive``
  (each ``{"wall_ms_median", "cpu_ms_per_frame"}``), ``cpu_ratio`` (the median over rounds of naive CPU /
  vcamd CPU), ``cpu_ratio_min``, ``cpu_ratio_max`` and ``rounds``.
- ``--out FILE`` also writes that object, with the per-stage times and the frames' source, into FILE with the
  machine it ran on (:func:`save_result`; the benchmarks in benchmarks/ write their results the same way).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vcamd import __version__, config, effect_kinds, files
from vcamd.config import Config
from vcamd.engine import effects, models
from vcamd.engine.matte import EMPTY
from vcamd.engine.pipeline import Pipeline
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

PREFERRED_CLIP = "maxine_webcam_part1.mp4"  # a real webcam, a person talking at about 1 m
MAX_DISTINCT_FRAMES = 60  # frames kept in memory; longer runs cycle through them
WARMUP = 5
FPS = 30.0
BLOCK = 20  # frames per interleaved block


class BenchError(VcamdError):
    """Bad ``vcamd bench`` arguments."""


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``; raise BenchError on anything else."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BenchError(f"--size {text!r}: use WIDTHxHEIGHT, for example 1280x720") from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320):
        raise BenchError(f"--size {text!r}: width and height must be within 16..7680 and 16..4320")
    return w, h


def data_dir() -> Path | None:
    """The shared test data folder: ``$VCAMD_DATA_DIR``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("VCAMD_DATA_DIR")
    candidates = [Path(env).expanduser()] if env else []
    checkout = Path(__file__).resolve().parents[1]
    candidates += [checkout.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), None)


def find_clip() -> Path | None:
    """A real video to take frames from, or None."""
    d = data_dir()
    if d is None:
        return None
    clips = sorted((d / "videos").glob("*.mp4")) + sorted(d.glob("*.mp4"))
    preferred = [c for c in clips if c.name == PREFERRED_CLIP]
    return (preferred + clips)[0] if clips else None


def load_frames(size: tuple[int, int], count: int) -> tuple[list[np.ndarray], str]:
    """Up to ``count`` distinct BGR frames of ``size`` and a description of where they came from."""
    count = min(count, MAX_DISTINCT_FRAMES)
    clip = find_clip()
    if clip is not None:
        import av

        frames: list[np.ndarray] = []
        with av.open(str(clip)) as c:
            for frame in c.decode(video=0):
                img = frame.to_ndarray(format="bgr24")
                frames.append(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
                if len(frames) >= count:
                    break
        if frames:
            return frames, clip.name
    return generated_frames(size, count), "generated frames"


def generated_frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """A textured room with a head-and-shoulders shape moving across it (no data needed)."""
    w, h = size
    rng = np.random.default_rng(7)
    room = cv2.GaussianBlur(rng.integers(40, 220, (h, w, 3), dtype=np.uint8), (0, 0), max(1.0, w / 200))
    for _ in range(12):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(room, (x, y), (x + w // 8, y + h // 6), colour, -1)
    frames = []
    for i in range(count):
        f = room.copy()
        cx = w // 2 + int(w * 0.1 * np.sin(i / 10))
        cv2.ellipse(f, (cx, h), (w // 4, h // 3), 0, 180, 360, (90, 60, 40), -1)  # shoulders
        cv2.ellipse(f, (cx, h // 2), (w // 12, h // 5), 0, 0, 360, (120, 150, 200), -1)  # head
        frames.append(f)
    return frames


class NaivePipeline:
    """The tutorial pipeline (see the module docstring); one frame in, one frame out."""

    def __init__(self, model: str, background: Callable[[np.ndarray, float], np.ndarray]) -> None:
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError:
            raise BenchError(
                "vcamd bench compares with the tutorial pipeline, which uses MediaPipe Tasks: "
                "pip install 'vcamd[mediapipe]'"
            ) from None

        opts = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(models.resolve(model))),
            running_mode=vision.RunningMode.VIDEO,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        self._task = vision.ImageSegmenter.create_from_options(opts)
        self._background = background

    def process(self, frame: np.ndarray, t: float) -> np.ndarray:
        import mediapipe as mp

        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        result = self._task.segment_for_video(image, int(t * 1000))
        mask = result.confidence_masks[-1].numpy_view().reshape(frame.shape[:2])
        condition = np.stack((mask,) * 3, axis=-1) > 0.5
        return np.where(condition, frame, self._background(frame, t))

    def close(self) -> None:
        self._task.close()


@dataclass
class Timing:
    """What one pipeline cost on the frames."""

    wall_ms_median: float
    cpu_ms_per_frame: float

    def as_dict(self) -> dict[str, float]:
        return {"wall_ms_median": self.wall_ms_median, "cpu_ms_per_frame": self.cpu_ms_per_frame}


class Runner:
    """Feeds one pipeline its own stream of frames, a block at a time, and keeps what each block cost."""

    def __init__(self, fn: Callable[[np.ndarray, float], object], frames: list[np.ndarray]) -> None:
        self.fn, self.frames = fn, frames
        self.index = 0
        self.walls: list[float] = []
        self.cpu = 0.0
        self.count = 0

    def block(self, n: int, *, measured: bool = True) -> float:
        """Run ``n`` frames; return their CPU seconds per frame (and keep them, if ``measured``)."""
        cpu0 = time.process_time()
        for _ in range(n):
            i = self.index
            self.index += 1
            t0 = time.perf_counter()
            self.fn(self.frames[i % len(self.frames)], i / FPS)
            if measured:
                self.walls.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu0
        if measured:
            self.cpu += cpu
            self.count += n
        return cpu / max(n, 1)

    def timing(self) -> Timing:
        return Timing(round(statistics.median(self.walls) * 1000, 2), round(self.cpu / self.count * 1000, 2))


def interleave(a: Runner, b: Runner, n: int, block: int = BLOCK) -> list[float]:
    """Warm both up, then run ``n`` frames of each in alternating blocks; b/a CPU ratio of every round."""
    a.block(WARMUP, measured=False)
    b.block(WARMUP, measured=False)
    ratios: list[float] = []
    done = 0
    while done < n:
        size = min(block, n - done)
        order = (a, b) if len(ratios) % 2 == 0 else (b, a)  # ABBA: neither always goes first
        cost = {id(r): r.block(size) for r in order}
        ratios.append(cost[id(b)] / max(cost[id(a)], 1e-9))
        done += size
    return ratios


@contextmanager
def stand_in_backgrounds(cfg: Config) -> Iterator[Config]:
    """``cfg`` with generated backgrounds for image/video/slideshow when it names none."""
    e = cfg.effect
    named = e.backgrounds_dir if e.name == "slideshow" else e.background
    if e.name not in ("image", "video", "slideshow") or named:
        yield cfg
        return
    with tempfile.TemporaryDirectory(prefix="vcamd-bench-") as tmp:
        pictures = generated_frames((1920, 1080), 3)
        changes: dict[str, Any] = {}
        if e.name == "image":
            changes["effect.background"] = str(Path(tmp) / "bg.jpg")
            cv2.imwrite(changes["effect.background"], pictures[0])
        elif e.name == "slideshow":
            for i, p in enumerate(pictures):
                cv2.imwrite(str(Path(tmp) / f"{i}.jpg"), p)
            changes["effect.backgrounds_dir"] = tmp
        else:
            changes["effect.background"] = str(Path(tmp) / "bg.mp4")
            _write_clip(Path(changes["effect.background"]), generated_frames((640, 360), 30))
        yield config.apply_changes(cfg, changes)


def _write_clip(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=int(FPS))
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        for f in frames:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        out.mux(s.encode(None))


def run(cfg: Config, size: tuple[int, int], n: int) -> tuple[dict[str, Any], dict[str, float], str]:
    """Time both pipelines on ``n`` frames of ``size``: the JSON result, vcamd's stage medians, the source."""
    cv2.setNumThreads(1)
    frames, source = load_frames(size, n)
    stages: dict[str, list[float]] = {}
    with stand_in_backgrounds(cfg) as cfg, Pipeline(cfg, video=True) as pipe:

        def fast(frame: np.ndarray, t: float) -> None:
            pipe.process(frame, t)
            for k, v in pipe.last_ms.as_dict().items():
                stages.setdefault(k, []).append(v)

        bg_effect = effects.build(cfg.effect)
        if cfg.effect.name == "blur":
            def background(frame: np.ndarray, t: float) -> np.ndarray:
                return cv2.GaussianBlur(frame, (55, 55), 0)
        else:
            def background(frame: np.ndarray, t: float) -> np.ndarray:
                return bg_effect.render(frame, EMPTY, t)
        try:
            naive = NaivePipeline(cfg.segmentation.model, background)
            try:
                ours, theirs = Runner(fast, frames), Runner(naive.process, frames)
                ratios = interleave(ours, theirs, n)
            finally:
                naive.close()
        finally:
            bg_effect.close()
    result = {
        "size": f"{size[0]}x{size[1]}",
        "effect": cfg.effect.name,
        "frames": n,
        "vcamd": ours.timing().as_dict(),
        "naive": theirs.timing().as_dict(),
        "cpu_ratio": round(statistics.median(ratios), 2),
        "cpu_ratio_min": round(min(ratios), 2),
        "cpu_ratio_max": round(max(ratios), 2),
        "rounds": len(ratios),
    }
    medians = {k: round(statistics.median(v), 2) for k, v in stages.items()}
    return result, medians, source


def format_report(result: dict[str, Any], stages: dict[str, float], source: str) -> str:
    """The human-readable table ``vcamd bench`` prints."""
    v, nv = result["vcamd"], result["naive"]
    stage_text = ", ".join(f"{k} {ms:.2f}" for k, ms in stages.items() if k != "total")
    return (
        f"vcamd bench: {result['size']}, effect {result['effect']}, {result['frames']} frames ({source})\n"
        f"{'':8}{'wall ms (median)':>18}{'CPU ms/frame':>15}\n"
        f"{'vcamd':8}{v['wall_ms_median']:>18.2f}{v['cpu_ms_per_frame']:>15.2f}\n"
        f"{'naive':8}{nv['wall_ms_median']:>18.2f}{nv['cpu_ms_per_frame']:>15.2f}\n"
        f"vcamd stages (ms, median): {stage_text}\n"
        f"vcamd uses {result['cpu_ratio']:.1f}x less CPU than the naive pipeline (median of "
        f"{result['rounds']} interleaved rounds, "
        f"{result['cpu_ratio_min']:.1f}-{result['cpu_ratio_max']:.1f}x)\n"
    )


def machine() -> dict[str, Any]:
    """What a figure depends on besides the code: the CPU, its cores, the OS, Python and OpenCV, the load."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    load = ""
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "opencv": cv2.__version__, "load_1_5_15": load}


def save_result(path: Path, benchmark: str, result: Any) -> Path:
    """Write ``result`` as JSON to ``path`` (folders made), with the benchmark's name, the command line, the
    time (UTC), vcamd's version and :func:`machine`: the file docs/performance.md cites for a figure."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc = {"benchmark": benchmark, "argv": sys.argv[1:], "when": when, "vcamd": __version__,
           "machine": machine(), "result": result}
    path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write(path, json.dumps(doc, indent=2) + "\n")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--effect", choices=effect_kinds.NAMES, default="blur")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--model", default="auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="also write the JSON object (with the machine it ran on) to FILE")


def main(args: argparse.Namespace) -> int:
    """``vcamd bench``: prints the table (or ``--json``); 0 on success."""
    size = parse_size(args.size)
    if args.frames < 1:
        raise BenchError(f"--frames {args.frames}: must be at least 1")
    cfg = config.load(args.config, missing_ok=args.config is None)
    cfg = config.apply_changes(cfg, {"effect.name": args.effect, "segmentation.model": args.model})
    result, stages, source = run(cfg, size, args.frames)
    sys.stdout.write(json.dumps(result) + "\n" if args.json else format_report(result, stages, source))
    if args.out:
        save_result(args.out, "vcamd bench", {**result, "stages_ms": stages, "source": source})
    return 0
