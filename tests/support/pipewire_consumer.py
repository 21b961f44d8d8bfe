"""A PipeWire camera client for the tests, run as its own process:
``python pipewire_consumer.py NODE_ID SECONDS OUT.png``.

It reads the node through GStreamer (``pipewiresrc path=NODE_ID``, the way that connects on PipeWire 0.3.65)
for SECONDS as I420 (what vcamd sends: no conversion, so the client costs little CPU); prints one JSON
line: frames, width, height, ``first`` (seconds from start to the first frame), ``first_live`` (to the first
frame where magenta, the tests' effect colour, covers over a quarter of the picture, told by its chroma: the
effect, not a still card), ``fps`` over the frames after the first live one; ``max_gap``, the longest wait
between two frames after the first live one (s), and ``long_gaps``, each wait over 0.1 s as [when it ended
(time.time()), seconds]; ``untreated``, how many
frames after it lacked the effect; ``sizes`` and ``rates``, every size and frame rate its caps had; and
``ended``, the error or end of stream GStreamer reported ("" if none). It saves the last frame as OUT.png
(BGR).
"""

from __future__ import annotations

import itertools
import json
import sys
import time

import cv2
import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def magenta_share(u: np.ndarray, v: np.ndarray) -> float:
    """The fraction of chroma samples that are magenta's: both U (blue) and V (red) far above grey's 128,
    in BT.601 and BT.709 alike; nothing in the test clip is."""
    return float(np.mean((u > 170) & (v > 190)))


def main() -> int:
    node, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"pipewiresrc path={node} ! video/x-raw,format=I420 "
        "! appsink name=sink sync=false max-buffers=4 drop=true"
    )
    sink = pipeline.get_by_name("sink")
    t0 = time.monotonic()
    pipeline.set_state(Gst.State.PLAYING)
    frames, first, first_live, live_times, long_gaps = 0, None, None, [], []
    untreated, sizes, rates = 0, set(), set()
    width = height = 0
    last: np.ndarray | None = None
    while time.monotonic() - t0 < seconds:
        sample = sink.emit("try-pull-sample", 100 * Gst.MSECOND)
        if sample is None:
            continue
        now = time.monotonic() - t0
        s = sample.get_caps().get_structure(0)
        width, height = s.get_value("width"), s.get_value("height")
        sizes.add(f"{width}x{height}")
        ok, num, den = s.get_fraction("framerate")
        rates.add(num / den if ok and den else 0.0)
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            continue
        data = np.frombuffer(info.data, np.uint8)
        y_size, c_size = width * height, (width // 2) * (height // 2)
        u = data[y_size: y_size + c_size:4]
        v = data[y_size + c_size: y_size + 2 * c_size:4]
        treated = magenta_share(u, v) > 0.25
        if first_live is None and treated:
            first_live = now
        elif first_live is not None and not treated:
            untreated += 1
        if time.monotonic() - t0 > seconds - 0.5 or last is None:
            last = data[: y_size + 2 * c_size].copy()
        buf.unmap(info)
        frames += 1
        first = now if first is None else first
        if first_live is not None:
            if live_times and now - live_times[-1] > 0.1:
                long_gaps.append([time.time(), now - live_times[-1]])
            live_times.append(now)
    message = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
    ended = "" if message is None else ("end of stream" if message.type == Gst.MessageType.EOS
                                        else str(message.parse_error()[0].message))
    pipeline.set_state(Gst.State.NULL)
    max_gap = max((b - a for a, b in itertools.pairwise(live_times)), default=0.0)
    fps = (len(live_times) - 1) / (live_times[-1] - live_times[0]) if len(live_times) > 2 else 0.0
    if last is not None:
        cv2.imwrite(out, cv2.cvtColor(last.reshape(height * 3 // 2, width), cv2.COLOR_YUV2BGR_I420))
    print(json.dumps({"frames": frames, "width": width, "height": height, "first": first,
                      "first_live": first_live, "fps": fps, "max_gap": max_gap, "long_gaps": long_gaps,
                      "untreated": untreated, "sizes": sorted(sizes), "rates": sorted(rates),
                      "ended": ended}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
