"""A PipeWire camera client for the tests, run as its own process:
``python pipewire_consumer.py NODE_ID SECONDS OUT.png [COLOR]``.

It reads the node through GStreamer (``pipewiresrc path=NODE_ID``, the way that connects on PipeWire 0.3.65)
for SECONDS, converted to BGR, and prints one JSON line: frames, width, height, ``first`` (seconds from start
to the first frame), ``first_live`` (to the first frame where COLOR, #rrggbb, covers over a quarter of the
picture: the effect, not a still card), ``fps`` over the frames after the first live one. It saves the last
frame as OUT.png.
"""

from __future__ import annotations

import json
import sys
import time

import cv2
import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def share(frame: np.ndarray, bgr: tuple[int, int, int], tol: int = 40) -> float:
    """The fraction of ``frame``'s pixels within ``tol`` of ``bgr`` in every channel."""
    return float(np.mean(np.all(np.abs(frame.astype(np.int16) - np.array(bgr, np.int16)) <= tol, axis=2)))


def main() -> int:
    node, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    color = sys.argv[4] if len(sys.argv) > 4 else "#ff00ff"
    bgr = (int(color[5:7], 16), int(color[3:5], 16), int(color[1:3], 16))
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"pipewiresrc path={node} ! video/x-raw ! videoconvert ! video/x-raw,format=BGR "
        "! appsink name=sink sync=false max-buffers=4 drop=true"
    )
    sink = pipeline.get_by_name("sink")
    t0 = time.monotonic()
    pipeline.set_state(Gst.State.PLAYING)
    frames, first, first_live, live_times = 0, None, None, []
    width = height = 0
    last: np.ndarray | None = None
    while time.monotonic() - t0 < seconds:
        sample = sink.emit("try-pull-sample", 100 * Gst.MSECOND)
        if sample is None:
            continue
        now = time.monotonic() - t0
        s = sample.get_caps().get_structure(0)
        width, height = s.get_value("width"), s.get_value("height")
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            continue
        stride = len(info.data) // height
        frame = np.frombuffer(info.data, np.uint8).reshape(height, stride)[:, : width * 3]
        last = frame.reshape(height, width, 3).copy()
        buf.unmap(info)
        frames += 1
        first = now if first is None else first
        if first_live is None and share(last[::8, ::8], bgr) > 0.25:
            first_live = now
        if first_live is not None:
            live_times.append(now)
    pipeline.set_state(Gst.State.NULL)
    fps = (len(live_times) - 1) / (live_times[-1] - live_times[0]) if len(live_times) > 2 else 0.0
    if last is not None:
        cv2.imwrite(out, last)
    print(json.dumps({"frames": frames, "width": width, "height": height, "first": first,
                      "first_live": first_live, "fps": fps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
