"""Auto-framing against its targets, on ../shared/data. Prints one table.

    .venv/bin/python benchmarks/framing.py [--json] [--frames N]

Clips (1280x720 unless the video is smaller):
- ``maxine``, ``doctor``: the real webcam videos as they are (people who fill the frame: little to zoom);
- ``maxine far``: the Maxine video shrunk to two thirds, standing on the bottom of a plain grey frame (a
  person further away, so the crop zooms and could wobble);
- ``still far``: a real webcam still placed so, with fresh camera noise (sigma 3) every frame;
- ``follow``: that still, held, then moved right by a fifth of the width (256 px) in 4 frames, then held.

Rows, per clip (the first second left out, where the crop first settles):
- steady: median movement of the crop's centre per frame (px), and its spread over the clip (the standard
  deviation, px, the larger of x and y) and its range (max - min, px). Targets: <= 1 and <= 3.
- head kept: share of frames whose matte's top (its highest pixel with alpha >= 128, from the same settings
  without framing) is inside the crop. Target: >= 99 %.
- follow: seconds (at 30 fps) from the end of the move until the crop's centre is within 2 % of the width
  of the head's centre (found on the matte) and stays there. Target: <= 1 s.
- cost: median CPU ms per 720p frame of the pipeline (effect blur) with framing on and off, interleaved
  rounds, on ``still far`` and ``maxine far`` (where the crop zooms): see :func:`interleaved`. Target: <= 0.5
  ms more.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import DATA, PAN_SIZE, read, video_frames  # noqa: E402

from vcamd import config  # noqa: E402
from vcamd.engine.framing import head  # noqa: E402
from vcamd.engine.pipeline import Pipeline  # noqa: E402

FPS = 30
FAR_STILL = "stills/maxine_LeFret_000900.jpg"
#: The far picture's scale and left edges (centred; the follow clip's before and after its move).
FAR_SCALE = 2 / 3
FAR_LEFT = 213
FOLLOW_FROM, FOLLOW_TO = 40, 296
FOLLOW_HOLD, FOLLOW_MOVE, FOLLOW_AFTER = 45, 4, 60
CENTRED = 0.02
#: The clips the cost is measured on: a still person (the model rests on most frames) and a moving one.
COST_CLIPS = ("still far", "maxine far")


def _720(frame: np.ndarray) -> np.ndarray:
    if frame.shape[1] <= PAN_SIZE[0]:
        return frame
    return cv2.resize(frame, PAN_SIZE, interpolation=cv2.INTER_AREA)


def far(frame: np.ndarray, left: int = FAR_LEFT, noise: np.ndarray | None = None) -> np.ndarray:
    """``frame`` shrunk by FAR_SCALE and set on the bottom of a grey 1280x720 frame at ``left``, plus
    ``noise`` (int16, the frame's shape) if given."""
    w, h = PAN_SIZE
    sw, sh = round(w * FAR_SCALE), round(h * FAR_SCALE)
    out = np.full((h, w, 3), 128, np.uint8)
    out[h - sh :, left : left + sw] = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
    if noise is None:
        return out
    return np.clip(out.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def still_frames(lefts: list[int]) -> Iterator[np.ndarray]:
    """The far still at each of ``lefts``, each with fresh Gaussian camera noise (sigma 3)."""
    still = _720(read(DATA / FAR_STILL))
    rng = np.random.default_rng(1)
    noise = np.empty((PAN_SIZE[1], PAN_SIZE[0], 3), np.int16)
    for left in lefts:
        noise[:] = rng.normal(0.0, 3.0, noise.shape)
        yield far(still, left, noise)


def follow_lefts() -> list[int]:
    """The follow clip's left edges (module docstring)."""
    step = (FOLLOW_TO - FOLLOW_FROM) / FOLLOW_MOVE
    moves = [round(FOLLOW_FROM + step * (i + 1)) for i in range(FOLLOW_MOVE)]
    return [FOLLOW_FROM] * FOLLOW_HOLD + moves + [FOLLOW_TO] * FOLLOW_AFTER


def clips(limit: int | None) -> dict[str, list[np.ndarray]]:
    """The clips of the module docstring, as lists of BGR frames."""
    return {
        "maxine": [_720(f) for f in video_frames("maxine_webcam_part1", limit)],
        "doctor": list(video_frames("volcomix_doctor", limit or 300)),
        "maxine far": [far(_720(f)) for f in video_frames("maxine_webcam_part1", limit)],
        "still far": list(still_frames([FAR_LEFT] * (limit or 100))),
        "follow": list(still_frames(follow_lefts())),
    }


def settings(auto: bool, effect: str = "blur") -> config.Config:
    return config.apply_changes(config.Config(), {"effect.name": effect, "framing.auto": auto})


def track(frames: list[np.ndarray]) -> tuple[list[tuple[int, int, int, int]], list[np.ndarray]]:
    """The crop of every frame (framing on, effect blur) and the small matte's alpha of each (framing off,
    effect transparent: its output's alpha is the matte)."""
    crops, mattes = [], []
    with Pipeline(settings(True)) as framed, Pipeline(settings(False, "transparent")) as plain:
        for i, frame in enumerate(frames):
            framed.process(frame, i / FPS)
            assert framed.crop is not None
            crops.append(framed.crop)
            mattes.append(plain.process(frame, i / FPS)[:, :, 3].copy())
    return crops, mattes


def steady(crops: list[tuple[int, int, int, int]]) -> dict[str, float]:
    """Median movement per frame, spread (std) and range of the crop's centre after the first second."""
    c = np.array([((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in crops[FPS:]])
    moves = np.hypot(*np.diff(c, axis=0).T)
    return {"move_px": float(np.median(moves)), "spread_px": float(c.std(axis=0).max()),
            "range_px": float((c.max(axis=0) - c.min(axis=0)).max())}


def head_kept(crops: list[tuple[int, int, int, int]], mattes: list[np.ndarray]) -> float:
    """Share (%) of frames whose matte's highest person pixel lies inside the crop (frames with nobody
    count as kept)."""
    kept = 0
    for (x0, y0, x1, y1), alpha in zip(crops, mattes, strict=True):
        rows = np.flatnonzero((alpha >= 128).any(axis=1))
        if rows.size == 0:
            kept += 1
            continue
        y = int(rows[0])
        xs = np.flatnonzero(alpha[y] >= 128)
        kept += int(y0 <= y < y1 and x0 <= xs[0] and xs[-1] < x1)
    return 100.0 * kept / len(crops)


def follow_seconds(crops: list[tuple[int, int, int, int]], mattes: list[np.ndarray]) -> float:
    """Seconds from the end of the move until the crop's centre stays within CENTRED of the width of the
    head's centre (inf: never)."""
    start = FOLLOW_HOLD + FOLLOW_MOVE
    w = mattes[0].shape[1]
    ok = []
    for (x0, _, x1, _), alpha in zip(crops[start:], mattes[start:], strict=True):
        found = head(alpha)
        ok.append(found is not None and abs((x0 + x1) / 2 - found[0]) <= CENTRED * w)
    for i in range(len(ok)):
        if all(ok[i:]):
            return i / FPS
    return float("inf")


def interleaved(cfgs: dict[str, config.Config], frames: list[np.ndarray], rounds: int) -> dict[str, float]:
    """Median CPU ms per frame of a pipeline with each of the settings ``cfgs["on"]`` and ``cfgs["off"]``:
    the worker thread's CPU (``time.thread_time``), the median of each round's second half, rounds
    interleaved; ``extra`` is on minus off, the median over rounds, with its spread (min, max)."""
    cv2.setNumThreads(1)
    pipes = {k: Pipeline(cfgs[k]) for k in ("on", "off")}
    per_round: dict[str, list[float]] = {k: [] for k in pipes}
    t = dict.fromkeys(pipes, 0.0)
    try:
        for _ in range(rounds):
            for key, pipe in pipes.items():
                ms = []
                for frame in frames:
                    t[key] += 1 / FPS
                    c0 = time.thread_time()
                    pipe.process(frame, t[key])
                    ms.append((time.thread_time() - c0) * 1000)
                per_round[key].append(statistics.median(ms[len(ms) // 2 :]))
    finally:
        for pipe in pipes.values():
            pipe.close()
    diffs = [a - b for a, b in zip(per_round["on"], per_round["off"], strict=True)]
    return {"on": statistics.median(per_round["on"]), "off": statistics.median(per_round["off"]),
            "extra": statistics.median(diffs), "extra_min": min(diffs), "extra_max": max(diffs)}


def run(limit: int | None) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    all_clips = clips(limit)
    for name, frames in all_clips.items():
        crops, mattes = track(frames)
        row = steady(crops) if name != "follow" else {}
        row["head_kept_pct"] = head_kept(crops, mattes)
        if name == "follow":
            row["follow_s"] = follow_seconds(crops, mattes)
        h = frames[0].shape[0]
        zooms = [h / (y1 - y0) for _, y0, _, y1 in crops]
        row["zoom"] = float(np.median(zooms))
        table[name] = row
    for name in COST_CLIPS:
        table[f"cost ms/frame 1280x720, {name}"] = interleaved(
            {"on": settings(True), "off": settings(False)}, all_clips[name][:60], rounds=5)
    return table


def render(table: dict[str, dict[str, float]]) -> str:
    lines = ["| clip | zoom | move px/frame (<=1) | spread px (<=3) | range px | head kept % (>=99) | "
             "follow s (<=1) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in table.items():
        if name.startswith("cost"):
            continue
        cells = [f"{r['zoom']:.2f}"] + [f"{r[k]:.2f}" if k in r else "" for k in (
            "move_px", "spread_px", "range_px", "head_kept_pct", "follow_s")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    for name in COST_CLIPS:
        c = table[f"cost ms/frame 1280x720, {name}"]
        lines.append(f"CPU per 720p frame (effect blur, {name}): {c['on']:.2f} ms framing on, "
                     f"{c['off']:.2f} ms off: framing costs {c['extra']:+.2f} ms "
                     f"(rounds {c['extra_min']:+.2f}..{c['extra_max']:+.2f}).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    p.add_argument("--frames", type=int, default=None, help="use at most N frames of each video")
    args = p.parse_args(argv)
    table = run(args.frames)
    sys.stdout.write(json.dumps(table, indent=2) + "\n" if args.json else render(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
