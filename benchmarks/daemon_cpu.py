"""The whole daemon's CPU, the way a laptop feels it: ``vcamd run --no-tray`` on an MJPEG webcam stand-in.

    .venv/bin/python benchmarks/daemon_cpu.py [--json] [--seconds S] [--rounds N] [--sizes 1280x720,...]
                                              [--tree NAME=DIR ...] [--idle | --idle-only]

For each size, a 30 fps MJPEG ``.avi`` is made from ../shared/data/videos/maxine_webcam_part1.mp4 in a
temporary folder (decoded like a UVC webcam's MJPEG stream; the daemon loops the file). The daemon runs as
a subprocess (``vcamd.cli.main(["run", "--no-tray", ...])``) with effect ``blur``, writing to a registered
pyvirtualcam backend that converts each frame to I420 as pyvirtualcam's v4l2loopback path does (the
conversion is part of the bill) and counts frames. Beside it, two decode-only floors: processes that
read the same clip paced at 30 fps and do nothing else, one as the daemon's camera thread reads it
(``open_capture``: OpenCV hands over the JPEG frames, :mod:`vcamd.service.mjpeg` decodes them), one with
OpenCV's own ``cv2.VideoCapture.read`` (FFmpeg, one decoder thread), as the camera thread read before.

``--tree NAME=DIR`` (repeatable) runs the daemon from another checkout too (``PYTHONPATH=DIR``), e.g. the
code before a change, interleaved with this one, so before and after share the machine's load. The
processes are interleaved over ``--rounds`` rounds; each measurement skips ``--warmup`` seconds and then
reads per-thread CPU from ``/proc/PID/task/TID/stat`` (utime + stime, fields 14 + 15) over ``--seconds``
seconds, and the process's page faults per camera frame (``/proc/PID/stat`` fields 10 + 12: per-frame
allocations that go back to the system show here). Threads carry their Python names (the child names its
OS threads after them; native threads of the model runtime keep theirs). CPU is given as % of one core;
the table shows medians over the rounds and the spread (min..max) of the process total, and each
daemon's ratio to the decode-only floor of the same round (``x_floor``: what travels between machines),
median and spread. Nothing is written into the repository.

``--profile`` adds where each thread's CPU goes: in the daemon child, the functions of :data:`PROFILED` (the
stages of a frame's trip) are wrapped with thread-CPU counters (``time.thread_time_ns``, about a microsecond a
call), read beside the frame counter; the table then gives each one's thread, CPU ms per frame sent and % of
one core (medians over the rounds); a function's figure includes the profiled functions it calls. Names
missing from the measured tree are left out, so before and after trees can differ.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import daemon_harness as harness

ROOT, SHARED = harness.ROOT, harness.SHARED
SOURCE = SHARED / "data" / "videos" / "maxine_webcam_part1.mp4"
TICK = os.sysconf("SC_CLK_TCK")
FPS = 30.0
COUNT_FILE_EVERY = 30  # frames between updates of the frame counter file
#: What ``--profile`` times, ``module:Class.function`` (or ``module:function`` for a module attribute, in
#: the module that calls it: ``from m import f`` binds its own name): the camera thread's read, decode and
#: shrink for the matte, the worker's turn and the stages of the pipeline and the output.
PROFILED = (
    "vcamd.service.camera:CameraReader._read_one", "vcamd.service.mjpeg:JpegCapture.read",
    "simplejpeg:decode_jpeg", "vcamd.service.camera:shrink", "vcamd.service.camera:FrameSlot.put",
    "vcamd.service.daemon:Daemon._work_once", "vcamd.service.daemon:Daemon._output_due",
    "vcamd.service.daemon:Daemon._decide", "vcamd.service.guard:OutputGuard.live",
    "vcamd.engine.pipeline:Pipeline.process", "vcamd.engine.matte:Matte.observe",
    "vcamd.engine.segmenter:Segmenter.segment", "vcamd.engine.runtimes:LiteRTRuntime.run",
    "vcamd.engine.matte:Matte.compute", "vcamd.engine.matte:Matte._guided",
    "vcamd.engine.effects.stills:BlurEffect.render", "vcamd.engine.compositor:Compositor.blend",
    "vcamd.engine.framing:Framer.frame", "vcamd.service.guard:OutputGuard._send",
    "vcamd.outputs.virtualcam:VirtualCamera.send", "vcamd.service.stats:Stats.frame_out",
)


# --- in the daemon child ---------------------------------------------------------------------------------


def _name_os_thread(frame: Any, event: str, arg: Any) -> None:
    """threading.settrace hook: give the new thread's OS thread (comm) its Python name, then stop tracing."""
    sys.settrace(None)
    name = threading.current_thread().name.encode()[:15]
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME


def _profile(names: tuple[str, ...]) -> dict[str, list[int]]:
    """Wrap ``names`` (see :data:`PROFILED`) with thread-CPU counters: {"thread|name": [ns, calls]}."""
    import functools
    import importlib

    counters: dict[str, list[int]] = {}
    clock = time.thread_time_ns

    def wrapped(f: Any, name: str) -> Any:
        @functools.wraps(f)
        def timed(*args: Any, **kw: Any) -> Any:
            t = clock()
            try:
                return f(*args, **kw)
            finally:
                key = f"{threading.current_thread().name}|{name}"
                c = counters.get(key) or counters.setdefault(key, [0, 0])
                c[0] += clock() - t
                c[1] += 1
        return timed

    for name in names:
        module, _, path = name.partition(":")
        try:
            owner: Any = importlib.import_module(module)
            *outer, attr = path.split(".")
            for part in outer:
                owner = getattr(owner, part)
            setattr(owner, attr, wrapped(getattr(owner, attr), path))
        except (ImportError, AttributeError):
            continue  # not in this tree
    return counters


def _daemon_child(config_path: str, count_file: str, profile: bool = False) -> int:
    """Register the I420 backend and run the daemon (what ``vcamd run --no-tray`` does); with ``profile``,
    the :data:`PROFILED` counters go into ``count_file`` + ".json" with each update of the frame count."""
    import cv2
    import numpy as np
    import pyvirtualcam
    from pyvirtualcam.util import encode_fourcc

    counters = _profile(PROFILED) if profile else None
    bgr = encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)
    i420 = encode_fourcc(pyvirtualcam.PixelFormat.I420.value)

    class I420Backend:
        """Converts each frame to I420 (one SIMD conversion) and counts it; BGR or I420 frames accepted."""

        def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None,
                     **kw: Any) -> None:
            if fourcc not in (bgr, i420):
                raise ValueError("BGR or I420 only")
            self._convert = fourcc == bgr
            self._yuv = np.empty((height * 3 // 2, width), np.uint8)
            self._shape = (height, width, 3)
            self._device = device or "i420-counting"
            self.count = 0

        def send(self, frame: np.ndarray) -> None:
            if self._convert:
                cv2.cvtColor(frame.reshape(self._shape), cv2.COLOR_BGR2YUV_I420, dst=self._yuv)
            self.count += 1
            if self.count % COUNT_FILE_EVERY == 0:
                if counters is not None:  # first: the parent reads them once the count is there
                    Path(count_file + ".json").write_text(json.dumps(
                        {"count": self.count, "t": time.monotonic(), "counters": counters}))
                Path(count_file).write_text(f"{self.count} {time.monotonic()}")

        def close(self) -> None:
            pass

        def device(self) -> str:
            return self._device

        def native_fourcc(self) -> int:
            return i420

    pyvirtualcam.register_backend("i420", I420Backend)
    threading.settrace(_name_os_thread)
    _name_os_thread(None, "", None)  # the main thread
    from vcamd import cli

    return cli.main(["run", "--no-tray", "--config", config_path])


#: The decode-only readers: the daemon's camera read (its MJPEG decoder, into a reused buffer), and
#: OpenCV's own ``cv2.VideoCapture.read`` as the camera thread opened files before it decoded MJPEG itself.
FLOORS = {"floor": "decode-only floor, vcamd's camera read", "floor-opencv": "decode-only, OpenCV's read"}


def _decode_child(clip: str, how: str) -> int:
    """A floor: read ``clip`` paced at its frame rate, looped, until killed (``how``: a FLOORS key)."""
    import cv2

    from vcamd.config import CameraSettings
    from vcamd.service.capture import FILE_DECODER_THREADS, open_capture

    def open_clip() -> Any:  # as the daemon's camera thread opens a file
        if how == "floor":
            return open_capture(CameraSettings(device=clip), quiet=True)[0]
        return cv2.VideoCapture(clip, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, FILE_DECODER_THREADS])

    cv2.setNumThreads(1)
    cap, frame = open_clip(), None
    start, n = time.monotonic(), 0
    while True:
        ok, frame = cap.read(frame)
        if not ok:
            cap.release()
            cap, frame = open_clip(), None
            continue
        n += 1
        delay = start + n / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)


# --- the parent --------------------------------------------------------------------------------------------


def thread_ticks(pid: int) -> dict[tuple[int, str], int]:
    """{(tid, comm): utime + stime ticks} of every live thread of ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        out[(int(task.name), comm)] = int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat
    return out


def process_ticks(pid: int) -> int:
    """utime + stime ticks of the whole process (threads that ended included)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def page_faults(pid: int) -> int:
    """Page faults (minor + major) of the whole process so far: fields 10 and 12 of its stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[7]) + int(fields[9])


def measure(proc: subprocess.Popen[bytes], warmup: float, seconds: float) -> dict[str, Any]:
    """CPU of ``proc`` over ``seconds`` after ``warmup``: {"total": %, "threads": {name: %}, "faults": page
    faults per camera frame (FPS a second: a frame's work that allocates shows here)}."""
    time.sleep(warmup)
    if proc.poll() is not None:
        raise SystemExit(f"the measured process ended early (rc {proc.returncode})")
    t0, p0, th0, f0 = time.monotonic(), process_ticks(proc.pid), thread_ticks(proc.pid), page_faults(proc.pid)
    time.sleep(seconds)
    t1, p1, th1, f1 = time.monotonic(), process_ticks(proc.pid), thread_ticks(proc.pid), page_faults(proc.pid)
    dt = t1 - t0
    threads: dict[str, float] = {}
    for key, ticks in th1.items():
        used = ticks - th0.get(key, 0)
        threads[key[1]] = threads.get(key[1], 0.0) + 100.0 * used / TICK / dt
    return {"total": 100.0 * (p1 - p0) / TICK / dt, "threads": threads, "seconds": dt,
            "faults": (f1 - f0) / dt / FPS}


def run_daemon(clip: Path, folder: Path, warmup: float, seconds: float, tree: Path = ROOT, *,
               idle: bool = False, profile: bool = False) -> dict[str, Any]:
    """One measurement of the daemon (from checkout ``tree``) on ``clip``; adds ``fps_out`` from the
    backend's counter. ``idle``: pause_when_unused on, and no app reads the (file standing in for the)
    device, so the daemon idles: camera released, a card at daemon.idle_fps. ``profile``: adds
    ``stages`` ({"thread|function": [CPU ms per frame, % of one core]}, see ``--profile``)."""
    cfg = folder / "config.toml"
    device = folder / "video-idle"
    device.touch()
    cfg.write_text(
        f'[camera]\ndevice = "{clip}"\n[output]\nbackend = "i420"\n'
        + (f'device = "{device}"\n' if idle else "")
        + f'[effect]\nname = "blur"\n[daemon]\npause_when_unused = {str(idle).lower()}\n',
        encoding="utf-8",
    )
    count = folder / "count.txt"
    count.unlink(missing_ok=True)
    # Its own "one daemon per user" lock: a daemon of the user's (or a test's) may run beside it.
    env = dict(os.environ, PYTHONPATH=str(tree), GLOG_minloglevel="2", VCAMD_INSTANCE=f"cpu-{folder.name}")
    env.setdefault("VCAMD_MODEL_DIR", str(SHARED / "models"))
    for var, sub in (("HOME", "home"), ("XDG_RUNTIME_DIR", "run")):
        (folder / sub).mkdir(exist_ok=True, mode=0o700)
        env[var] = str(folder / sub)
    me = str(Path(__file__).resolve())
    proc = subprocess.Popen([sys.executable, me, "--_daemon", str(cfg), str(count)]
                            + (["--_profile"] if profile else []), env=env, stderr=subprocess.DEVNULL)
    try:
        if idle:  # no counter file: one frame in COUNT_FILE_EVERY is too few at the idle rate
            result = measure(proc, warmup + 3.0, seconds)
            c0 = c1 = (0, 0.0)
        else:
            c0 = _read_count(count, warmup, proc)
            p0 = _read_stages(count) if profile else None
            result = measure(proc, 0.0, seconds)
            c1 = _read_count(count, 0.0, proc)
            if p0 is not None:
                result["stages"] = _stages(p0, _read_stages(count))
    finally:
        harness.stop(proc)
    result["fps_out"] = (c1[0] - c0[0]) / max(c1[1] - c0[1], 1e-6)
    return result


def _read_stages(count: Path) -> dict[str, Any]:
    """The child's last profile counters (see ``_daemon_child``)."""
    data: dict[str, Any] = json.loads(count.with_name(count.name + ".json").read_text())
    return data


def _stages(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[float]]:
    """{"thread|function": [CPU ms per frame, % of one core]} between two reads of the counters."""
    frames, dt = max(b["count"] - a["count"], 1), max(b["t"] - a["t"], 1e-6)
    out = {}
    for key, (ns, _) in b["counters"].items():
        used = ns - a["counters"].get(key, [0, 0])[0]
        out[key] = [used / 1e6 / frames, 100.0 * used / 1e9 / dt]
    return out


def _read_count(path: Path, wait: float, proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """(frames, when) from the backend's counter file, after waiting ``wait`` s and for the first frames."""
    deadline = time.monotonic() + 120
    time.sleep(wait)
    while time.monotonic() < deadline:
        try:
            n, t = path.read_text().split()
            return int(n), float(t)
        except (OSError, ValueError):
            if proc.poll() is not None:
                raise SystemExit(f"the daemon ended early (rc {proc.returncode})") from None
            time.sleep(0.2)
    raise SystemExit("the daemon sent no frames in 120 s")


def run_floor(clip: Path, warmup: float, seconds: float, how: str) -> dict[str, Any]:
    """One measurement of a decode-only reader on ``clip`` (``how``: a FLOORS key), with this checkout's
    camera read (not whichever vcamd the interpreter would import: an editable install of another one)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, __file__, "--_decode", str(clip), how], env=env)
    try:
        return measure(proc, warmup, seconds)
    finally:
        harness.stop(proc)


def summarise(samples: list[dict[str, Any]], floor: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Medians over rounds: total, spread, per thread (name -> %), fps out; with ``floor`` (the decode-only
    floor's samples, round by round), the ratio to it per round: median and spread."""
    totals = [s["total"] for s in samples]
    names = sorted({n for s in samples for n in s["threads"]})
    threads = {n: round(statistics.median(s["threads"].get(n, 0.0) for s in samples), 1) for n in names}
    out: dict[str, Any] = {
        "total": round(statistics.median(totals), 1),
        "min": round(min(totals), 1),
        "max": round(max(totals), 1),
        "rounds": [round(t, 1) for t in totals],
        "faults": round(statistics.median(s["faults"] for s in samples), 1),
        "threads": {n: v for n, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v >= 0.1},
    }
    if "fps_out" in samples[0]:
        out["fps_out"] = round(statistics.median(s["fps_out"] for s in samples), 1)
    if floor:
        ratios = [s["total"] / max(f["total"], 1e-6) for s, f in zip(samples, floor, strict=True)]
        out["x_floor"] = round(statistics.median(ratios), 2)
        out["x_floor_min"], out["x_floor_max"] = round(min(ratios), 2), round(max(ratios), 2)
    if "stages" in samples[0]:
        stages = [s["stages"] for s in samples]
        keys = [k for k in _stage_order(samples) if any(st.get(k, [0.0])[0] >= 0.001 for st in stages)]
        out["stages"] = {k: [round(statistics.median(st.get(k, [0.0, 0.0])[i] for st in stages), 3 - i)
                             for i in (0, 1)] for k in keys}
    return out


def _stage_order(samples: list[dict[str, Any]]) -> list[str]:
    """The profiled "thread|function" keys by thread (most CPU first), then in :data:`PROFILED`'s order."""
    seen = {k for s in samples for k in s["stages"]}
    by_thread: dict[str, float] = {}
    for s in samples:
        for name, pct in s["threads"].items():
            by_thread[name] = by_thread.get(name, 0.0) + pct
    order = {name.partition(":")[2]: i for i, name in enumerate(PROFILED)}
    return sorted(seen, key=lambda k: (-by_thread.get(k.partition("|")[0][:15], 0.0),
                                       order.get(k.partition("|")[2], len(order))))


def render(results: dict[str, dict[str, Any]], load: str) -> str:
    """The Markdown table."""
    lines = ["| size | what | CPU % of one core (median) | spread over rounds | x the decode floor (spread) "
             "| per thread (median %) | page faults a frame |", "|---|---|---:|---:|---:|---|---:|"]
    for size, r in results.items():
        for what, s in r.items():
            threads = ", ".join(f"{n} {v:.1f}" for n, v in s["threads"].items())
            if what in FLOORS:
                label = FLOORS[what]
            elif what == "idle" or what.endswith(", idle"):
                label = f"{'vcamd run, idle' if what == 'idle' else what} (pause_when_unused, no app)"
            else:
                label = f"{what}, {s.get('fps_out', 0.0):.1f} fps out"
            ratio = (f"{s['x_floor']:.2f} ({s['x_floor_min']:.2f}..{s['x_floor_max']:.2f})"
                     if "x_floor" in s else "")
            lines.append(f"| {size} | {label} | {s['total']:.1f} | {s['min']:.1f}..{s['max']:.1f} | "
                         f"{ratio} | {threads} | {s.get('faults', 0.0):.1f} |")
    stages = [(size, what, s) for size, r in results.items() for what, s in r.items() if "stages" in s]
    if stages:
        lines += ["", "| size | what | thread | function (includes what it calls) | CPU ms a frame "
                  "| % of one core |", "|---|---|---|---|---:|---:|"]
        for size, what, s in stages:
            for key, (ms, pct) in s["stages"].items():
                thread, _, func = key.partition("|")
                lines.append(f"| {size} | {what} | {thread} | {func} | {ms:.3f} | {pct:.2f} |")
    return "\n".join(lines) + f"\n\nload (1, 5, 15 min) before and after: {load}\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="also write them as JSON, with the machine, to FILE "
                   "(benchmarks/results/...)")
    p.add_argument("--sizes", default="1280x720,1920x1080", help="comma-separated WIDTHxHEIGHT list")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (daemon, floor) per size")
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds per process")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds skipped after the first frames")
    p.add_argument("--idle", action="store_true", help="also measure the idle daemon (pause, no reader)")
    p.add_argument("--idle-only", action="store_true", help="measure only the idle daemon")
    p.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                   help="also run the daemon from checkout DIR, labelled NAME (repeatable)")
    p.add_argument("--profile", action="store_true",
                   help="also time the stages of a frame in each thread (see PROFILED)")
    p.add_argument("--_daemon", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--_profile", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_decode", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._daemon:
        return _daemon_child(*args._daemon, profile=args._profile)
    if args._decode:
        return _decode_child(*args._decode)
    trees = {"vcamd run": ROOT}
    for item in args.tree:
        name, _, folder = item.partition("=")
        trees[name] = Path(folder).resolve()
    load = Path("/proc/loadavg").read_text().strip()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="vcamd-cpu-") as tmp:
        for text in args.sizes.split(","):
            w, h = (int(v) for v in text.split("x"))
            clip = harness.make_clip(Path(tmp), (w, h), FPS, mjpeg=True, source=SOURCE)
            samples: dict[str, list[dict[str, Any]]] = {}
            for _ in range(args.rounds):
                if not args.idle_only:
                    for name, tree in trees.items():
                        samples.setdefault(name, []).append(
                            run_daemon(clip, Path(tmp), args.warmup, args.seconds, tree,
                                       profile=args.profile))
                    for how in FLOORS:
                        samples.setdefault(how, []).append(run_floor(clip, args.warmup, args.seconds, how))
                if args.idle or args.idle_only:
                    for name, tree in trees.items():
                        samples.setdefault("idle" if tree == ROOT else f"{name}, idle", []).append(
                            run_daemon(clip, Path(tmp), args.warmup, args.seconds, tree, idle=True))
            floor = samples.get("floor")
            results[text] = {name: summarise(v, None if name in FLOORS or name.endswith("idle") else floor)
                             for name, v in samples.items()}
    load += " / " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    if args.out:  # imported here: the children run each tree's own vcamd
        from vcamd.commands.bench import save_result

        save_result(args.out, "benchmarks/daemon_cpu.py", {"load": load, "results": results})
    if args.json:
        sys.stdout.write(json.dumps({"load": load, "results": results}, indent=2) + "\n")
    else:
        sys.stdout.write(render(results, load))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
