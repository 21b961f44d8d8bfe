"""The PipeWire camera's cost per frame: vcamd's way (OpenCV makes the I420, ``appsrc ! identity
drop-allocation=true ! pipewiresink``) against GStreamer converting (``appsrc`` BGR ``! videoconvert !
identity ! pipewiresink``), with a real client linked, in a private PipeWire session.

Run with ``.venv/bin/python benchmarks/pipewire_send.py [--frames 150] [--reps 3]``. The two ways alternate
(interleaved), each rep feeding 720p frames of the real webcam clip at 30 fps; it prints the process CPU ms
per frame (every thread: the worker's send and GStreamer's) and the wall ms ``send`` takes, median and range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
SOURCE = ROOT.parent / "shared" / "data" / "videos" / "maxine_webcam_part1.mp4"
NAME = "Bench Camera"


class VideoconvertCamera:
    """The other way: BGR into GStreamer, videoconvert makes the I420 (otherwise as PipeWireCamera)."""

    def __init__(self, width: int, height: int) -> None:
        from vcamd.outputs import pipewire

        gst = pipewire.load_gst()
        self.gst = gst
        desc = (f"appsrc name=src is-live=true format=time do-timestamp=true block=false max-bytes=0 "
                f"max-buffers=2 leaky-type=2 caps=video/x-raw,format=BGR,width={width},height={height},"
                "framerate=30/1 ! videoconvert ! video/x-raw,format=I420 ! identity drop-allocation=true ! "
                "pipewiresink name=sink mode=provide sync=false")
        self.pipeline = gst.parse_launch(desc)
        props = gst.Structure.new_empty("props")
        for key, value in (("media.class", "Video/Source"), ("media.role", "Camera"), ("media.type", "Video"),
                           ("node.name", pipewire.node_name(NAME)), ("node.description", NAME)):
            props.set_value(key, value)
        self.pipeline.get_by_name("sink").set_property("stream-properties", props)
        self.src = self.pipeline.get_by_name("src")
        self.pipeline.set_state(gst.State.PLAYING)

    def send(self, frame: np.ndarray) -> None:
        self.src.emit("push-buffer", self.gst.Buffer.new_wrapped(np.ascontiguousarray(frame).tobytes()))

    def close(self) -> None:
        self.pipeline.set_state(self.gst.State.NULL)


def one_run(kind: str, frames: list[np.ndarray], count: int, session: Any, root: Path) -> tuple[float, float]:
    """(CPU ms per frame, send wall ms per frame) for one way, a client linked meanwhile."""
    from vcamd.outputs.pipewire import PipeWireCamera

    h, w = frames[0].shape[:2]
    cam: Any = PipeWireCamera(NAME, w, h, 30) if kind == "vcamd (cv2 I420)" else VideoconvertCamera(w, h)
    try:
        cam.send(frames[0])
        node = session.wait_camera_node(NAME)
        consumer = ROOT / "tests" / "support" / "pipewire_consumer.py"
        client = subprocess.Popen([sys.executable, str(consumer), str(node),
                                   str(count / 30 + 3), str(root / "client.png")], env=session.env,
                                  stdout=subprocess.DEVNULL)
        time.sleep(1.5)  # the client links
        t0, cpu0, wall = time.monotonic(), time.process_time(), 0.0
        for i in range(count):
            a = time.perf_counter()
            cam.send(frames[i % len(frames)])
            wall += time.perf_counter() - a
            time.sleep(max(0.0, t0 + (i + 1) / 30 - time.monotonic()))
        cpu = (time.process_time() - cpu0) / count * 1000
        client.wait(30)
    finally:
        cam.close()
    time.sleep(0.5)
    return cpu, wall / count * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    from pipewire_session import PipeWireSession

    root = Path(tempfile.mkdtemp(prefix="vcamd-pw-bench-"))
    session = PipeWireSession(root / "session")
    try:
        os.environ.update({k: v for k, v in session.env.items() if k in ("XDG_RUNTIME_DIR",)})
        cap = cv2.VideoCapture(str(SOURCE))
        frames = [cv2.resize(cap.read()[1], (1280, 720), interpolation=cv2.INTER_AREA) for _ in range(30)]
        cap.release()
        results: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.reps):
            for kind in ("vcamd (cv2 I420)", "videoconvert"):
                results.setdefault(kind, []).append(one_run(kind, frames, args.frames, session, root))
    finally:
        session.close()
    print("| way | CPU ms/frame (median, range) | send ms (median) |\n|---|---:|---:|")
    for kind, runs in results.items():
        cpu = [c for c, _ in runs]
        print(f"| {kind} | {statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) | "
              f"{statistics.median(s for _, s in runs):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
