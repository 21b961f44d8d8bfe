"""Soak: the daemon at 1280x720 30 fps for minutes; memory must stay flat and no frame may be dropped.

Pass: resident memory after the warm-up stays within 20 MB (max - min), and the daemon drops no frame
beyond the camera's own (the file standing in for the webcam skips a frame, as a camera does, when its
thread falls more than a frame period behind; those are counted apart). A 1280x720 30 fps clip stands in
for the webcam (see daemon_harness.py). Not a test: it takes minutes.

    .venv/bin/python benchmarks/soak.py [--minutes 5] [--effect blur] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import daemon_harness as harness

SAMPLE_EVERY = 5.0
MEMORY_BUDGET_MB = 20.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=30.0, help="seconds before memory counts")
    p.add_argument("--effect", default="blur")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    samples: list[tuple[float, float]] = []
    with harness.daemon(args.effect) as d:
        t0, cpu0 = time.monotonic(), time.process_time()
        end = t0 + args.minutes * 60
        next_sample = t0
        while time.monotonic() < end:
            harness.sleep_until(next_sample)
            now = time.monotonic() - t0
            samples.append((now, harness.rss_mb()))
            if not args.json and len(samples) % 6 == 1:
                print(f"{now:6.0f} s  rss {samples[-1][1]:6.1f} MB  {d.stats.snapshot().line()}", flush=True)
            next_sample += SAMPLE_EVERY
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        snap = d.stats.snapshot()
        sent = harness.CountingBackend.last.count if harness.CountingBackend.last else 0
        status = d.status()
    warm = [mb for t, mb in samples if t >= args.warmup] or [mb for _, mb in samples]
    result = {
        "minutes": args.minutes,
        "effect": args.effect,
        "frames_sent": sent,
        "fps_out_mean": round(sent / wall, 2),
        "dropped": snap.dropped,
        "dropped_by_camera": snap.camera_dropped,
        "failed": snap.failed,
        "final_state": status.state.value,
        "latency_ms": snap.latency_ms,
        "stages_ms": snap.stages_ms,
        "cpu_percent": round(100 * cpu / wall, 1),
        "rss_mb_after_warmup_min": round(min(warm), 1),
        "rss_mb_after_warmup_max": round(max(warm), 1),
        "rss_mb_first_to_last": round(warm[-1] - warm[0], 1),
    }
    spread = result["rss_mb_after_warmup_max"] - result["rss_mb_after_warmup_min"]
    result["memory_stable"] = spread <= MEMORY_BUDGET_MB
    result["no_drops"] = snap.dropped == 0
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:26} {v}")
    return 0 if result["memory_stable"] and result["no_drops"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
