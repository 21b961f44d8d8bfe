"""What an open ``vcamd preview`` costs, and that a closed one costs nothing: CPU from /proc, per process.

    .venv/bin/python benchmarks/preview_cpu.py [--json] [--size 1280x720] [--rounds 3] [--seconds 10]

The daemon runs as in benchmarks/daemon_cpu.py (a 30 fps MJPEG clip made from ../shared/data as the webcam,
effect blur, the I420-converting counting backend, camera always on). On a private Xvfb display, each round
measures over ``--seconds`` s: the daemon with no preview, then with ``vcamd preview`` open (the daemon, the
preview process and the X server, each), then the daemon again after the preview closed. CPU is % of one
core from ``/proc/PID/stat`` (utime + stime); the table shows medians over the rounds. Nothing is written
into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import daemon_harness as harness
from daemon_cpu import SHARED, SOURCE, TICK, _read_count, process_ticks

ROOT = Path(__file__).resolve().parents[1]
DAEMON_CPU = Path(__file__).resolve().with_name("daemon_cpu.py")


def cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """% of one core each of ``pids`` used over the next ``seconds`` s."""
    t0, before = time.monotonic(), {k: process_ticks(p) for k, p in pids.items()}
    time.sleep(seconds)
    dt = time.monotonic() - t0
    return {k: 100.0 * (process_ticks(p) - before[k]) / TICK / dt for k, p in pids.items()}


def xvfb(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten",
                             "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL, env=env)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        return proc, ":" + f.readline().strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--size", default="1280x720", help="the webcam's WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds skipped after each change")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vcamd-preview-cpu-") as tmp:
        folder = Path(tmp)
        clip = harness.make_clip(folder, (w, h), mjpeg=True, source=SOURCE)
        cfg = folder / "config.toml"
        cfg.write_text(f'[camera]\ndevice = "{clip}"\n[output]\nbackend = "i420"\n[effect]\nname = "blur"\n'
                       "[daemon]\npause_when_unused = false\n", encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(ROOT), GLOG_minloglevel="2", NO_AT_BRIDGE="1",
                   VCAMD_INSTANCE=f"preview-cpu-{os.getpid()}")  # beside any other vcamd of this user
        env.setdefault("VCAMD_MODEL_DIR", str(SHARED / "models"))
        for var, sub in (("HOME", "home"), ("XDG_RUNTIME_DIR", "run")):
            (folder / sub).mkdir(mode=0o700)
            env[var] = str(folder / sub)
        server, env["DISPLAY"] = xvfb(env)
        count = folder / "count.txt"
        log = (folder / "daemon.log").open("w")
        daemon = subprocess.Popen([sys.executable, str(DAEMON_CPU), "--_daemon", str(cfg), str(count)],
                                  env=env, stderr=log)
        try:
            _read_count(count, 0.0, daemon)
            time.sleep(args.warmup)
            for _ in range(args.rounds):
                rows.setdefault("daemon, no preview", []).append(
                    cpu({"d": daemon.pid}, args.seconds)["d"])
                preview = subprocess.Popen([sys.executable, "-m", "vcamd", "preview", "--stats"], env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    time.sleep(args.warmup)
                    pids = {"daemon": daemon.pid, "preview": preview.pid, "Xvfb": server.pid}
                    got = cpu(pids, args.seconds)
                finally:
                    harness.stop(preview)
                for k, v in got.items():
                    rows.setdefault(f"{k}, preview open", []).append(v)
                rows.setdefault("preview open: all three", []).append(sum(got.values()))
                time.sleep(args.warmup)
                after = cpu({"d": daemon.pid}, args.seconds)["d"]
                rows.setdefault("daemon, preview closed", []).append(after)
        except SystemExit:
            sys.stderr.write((folder / "daemon.log").read_text()[-2000:])
            raise
        finally:
            harness.stop(daemon)
            harness.stop(server)
            log.close()
    med = {k: round(statistics.median(v), 1) for k, v in rows.items()}
    if args.json:
        sys.stdout.write(json.dumps({"size": args.size, "median": med, "rounds": rows}, indent=2) + "\n")
        return 0
    lines = [f"| {args.size} 30 fps, blur | CPU % of one core (median of {args.rounds}) | rounds |",
             "|---|---:|---|"]
    lines += [f"| {k} | {med[k]:.1f} | {', '.join(f'{x:.1f}' for x in v)} |" for k, v in rows.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
