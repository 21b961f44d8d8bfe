"""What light wrap costs: CPU per 1280x720 frame of the pipeline with ``effect.light_wrap`` at 0 and at its
default, for a picture background (made once) and a video background (made every frame). Prints one table.

    .venv/bin/python benchmarks/light_wrap.py [--json] [--rounds N]

Frames: the first 60 of the Maxine webcam clip at 720p. Backgrounds: a 1280x720 still and the doctor video of
../shared/data. Time: the worker thread's CPU (``time.thread_time``: the video's decoding on its loader
thread is left out, as it is the same either way), the median of each round's second half; rounds interleave
the two settings (``framing.interleaved``), and the table gives the median difference and the spread over
rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from framing import interleaved  # noqa: E402
from quality import DATA, PAN_SIZE, video_frames  # noqa: E402

from vcamd import config  # noqa: E402

BACKGROUNDS = {
    "image": str(DATA / "stills" / "maxine_LeFret_003400.jpg"),
    "video": str(DATA / "videos" / "volcomix_doctor.mp4"),
}


def per_frame(effect: str, frames: list[np.ndarray], rounds: int) -> dict[str, float]:
    """Median CPU ms per frame with light wrap at its default ("on") and at 0 ("off"), and the difference."""
    def cfg(wrap: float) -> config.Config:
        return config.apply_changes(config.Config(), {
            "effect.name": effect, "effect.background": BACKGROUNDS[effect], "effect.light_wrap": wrap})

    return interleaved({"on": cfg(config.Config().effect.light_wrap), "off": cfg(0.0)}, frames, rounds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds of each setting")
    args = p.parse_args(argv)
    frames = [cv2.resize(f, PAN_SIZE, interpolation=cv2.INTER_AREA)
              for f in video_frames("maxine_webcam_part1", 60)]
    table = {effect: per_frame(effect, frames, args.rounds) for effect in BACKGROUNDS}
    if args.json:
        sys.stdout.write(json.dumps(table, indent=2) + "\n")
        return 0
    lines = [f"| background | light_wrap 0 (ms) | light_wrap {config.Config().effect.light_wrap} (ms) | "
             "extra (ms) | extra over rounds (ms) |", "|---|---:|---:|---:|---:|"]
    for effect, r in table.items():
        lines.append(f"| {effect} | {r['off']:.2f} | {r['on']:.2f} | {r['extra']:+.2f} | "
                     f"{r['extra_min']:+.2f}..{r['extra_max']:+.2f} |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
