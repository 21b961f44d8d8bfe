"""Added latency of the daemon, from a frame's capture to its send to the virtual camera.

Target: at most one frame period plus the processing time (the one-frame slot never queues more).
A 1280x720 30 fps clip stands in for the webcam (see daemon_harness.py). Not a test: numbers vary with load.

    .venv/bin/python benchmarks/latency.py [--seconds 20] [--effect blur] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import daemon_harness as harness


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="measured time after a 3 s warm-up")
    p.add_argument("--effect", default="blur")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with harness.daemon(args.effect, (size[0], size[1])) as d:
        time.sleep(3.0)
        before = len(d.stats.latencies_ms())
        t0, cpu0, dropped0 = time.monotonic(), time.process_time(), d.stats.dropped
        time.sleep(args.seconds)
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        lat = d.stats.latencies_ms()[before:] if before < 2000 else d.stats.latencies_ms()
        snap = d.stats.snapshot()
        fps = d.camera.info.fps if d.camera and d.camera.info else 30.0
    lat.sort()
    period = 1000.0 / fps
    processing = snap.stages_ms.get("total", 0.0)
    result = {
        "effect": args.effect,
        "size": args.size,
        "frames": len(lat),
        "latency_ms_median": round(statistics.median(lat), 2),
        "latency_ms_p95": round(lat[int(0.95 * (len(lat) - 1))], 2),
        "latency_ms_max": round(lat[-1], 2),
        "processing_ms": processing,
        "frame_period_ms": round(period, 2),
        "target_ms": round(period + processing, 2),
        "dropped": d.stats.dropped - dropped0,
        "dropped_by_camera": snap.camera_dropped,
        "fps_out": round(snap.fps_out, 1),
        "cpu_percent": round(100 * cpu / wall, 1),
    }
    result["p95_within_target"] = result["latency_ms_p95"] <= result["target_ms"]
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:20} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
