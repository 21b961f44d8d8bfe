"""Speed: vcamd against the naive tutorial pipeline at 1280x720 and 1920x1080 (docs/performance.md).

Run with ``.venv/bin/python benchmarks/speed.py [--frames N] [--effect blur] [--config FILE]``; models come
from VCAMD_MODEL_DIR, else ../shared/models. Each size runs in its own process (``vcamd bench --json``), so
neither warms the other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SIZES = ("1280x720", "1920x1080")
ROOT = Path(__file__).resolve().parents[1]


def measure(size: str, effect: str, frames: int, config: str | None = None) -> dict[str, object]:
    """One ``vcamd bench --json`` run."""
    env = dict(os.environ)
    env.setdefault("VCAMD_MODEL_DIR", str(ROOT.parent / "shared" / "models"))
    out = subprocess.run(
        [sys.executable, "-m", "vcamd", "bench", "--json", "--size", size, "--effect", effect,
         "--frames", str(frames), *(["--config", config] if config else [])],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def table(results: list[dict[str, object]]) -> str:
    """A Markdown table of the results."""
    lines = [
        "| size | effect | pipeline | wall ms (median) | CPU ms/frame | CPU ratio |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in results:
        for side in ("vcamd", "naive"):
            t = r[side]
            assert isinstance(t, dict)
            ratio = f"{r['cpu_ratio']:.1f}x less" if side == "vcamd" else ""
            lines.append(f"| {r['size']} | {r['effect']} | {side} | {t['wall_ms_median']:.1f} | "
                         f"{t['cpu_ms_per_frame']:.1f} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--effect", default="blur")
    p.add_argument("--config", help="a settings file (e.g. one with segmentation.refine = false)")
    args = p.parse_args()
    results = [measure(size, args.effect, args.frames, args.config) for size in SIZES]
    sys.stdout.write(table(results) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
