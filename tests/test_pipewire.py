"""The PipeWire camera with the real parts: our own session D-Bus + pipewire + wireplumber, ``vcamd run`` as a
process with a 1280x720 video file as the webcam and effect color, read back by a real PipeWire client
(GStreamer's pipewiresrc) and by headless Chromium through the Camera portal.

One daemon serves the module's tests in order: frames (1), pause when unused (2), the browser (4), settings
changed under a reading client and under the browser (issue 31), PipeWire killed and restarted under it (3,
last).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import daemon_harness as harness
import numpy as np
import pytest
import tomlkit
from conftest import VIDEOS
from support import vcam_recorder
from support.chromium_cdp import Chromium
from support.pipewire_session import PipeWireSession, missing_tools
from support.stream_helpers import wait_for

from vcamd import outputs
from vcamd.config import OutputSettings
from vcamd.outputs import pipewire, v4l2loopback
from vcamd.outputs.fanout import FanOut
from vcamd.outputs.pipewire import PipeWireCamera
from vcamd.outputs.virtualcam import VirtualCamera

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing_tools()), reason=f"not installed: {missing_tools()}"),
    pytest.mark.skipif(bool(pipewire.unavailable().startswith("PipeWire camera: no GStreamer")),
                       reason="no PyGObject/GStreamer in this Python"),
]

HERE = Path(__file__).parent
CONSUMER = HERE / "support" / "pipewire_consumer.py"
NAME = "VBG Camera"
COLOR = "#ff00ff"  # magenta: nothing in the clip is (the person wears green)
MAGENTA = (255, 0, 255)
SIZE = (1280, 720)
#: The daemon's settings file (with the clip as camera.device once a test changes the camera).
SETTINGS = {"effect": {"name": "color", "color": COLOR}, "output": {"backend": "pipewire", "name": NAME},
            "daemon": {"pause_when_unused": True, "idle_fps": 2}}


def share(frame: np.ndarray, bgr: tuple[int, int, int], tol: int = 40) -> float:
    return float(np.mean(np.all(np.abs(frame.astype(np.int16) - np.array(bgr, np.int16)) <= tol, axis=2)))


def holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (the camera not released)."""
    target = os.path.realpath(path)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


@dataclass
class Running:
    session: PipeWireSession
    daemon: subprocess.Popen[str]
    clip: Path
    log: Path
    root: Path

    def node(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.daemon.poll() is None, f"vcamd exited:\n{self.log_text()}"
            ids = self.session.camera_nodes(NAME)
            if ids:
                return ids[0]
            time.sleep(0.1)
        raise AssertionError(f'no PipeWire node "{NAME}" within {timeout} s:\n{self.log_text()}')

    def start_consumer(self, seconds: float, name: str) -> subprocess.Popen[str]:
        """A pipewiresrc client reading the node for ``seconds`` (see pipewire_consumer)."""
        return subprocess.Popen([sys.executable, str(CONSUMER), str(self.node()),
                                 str(seconds), str(self.root / f"{name}.png")], env=self.session.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def report(self, consumer: subprocess.Popen[str]) -> dict[str, float]:
        """The client's report once it has ended; ``png`` is its last frame."""
        out, err = consumer.communicate(timeout=60)
        assert consumer.returncode == 0, err
        report: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        report["png"] = consumer.args[-1]  # type: ignore[index]
        return report

    def consume(self, seconds: float, name: str) -> dict[str, float]:
        return self.report(self.start_consumer(seconds, name))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def says(self, text: str) -> int:
        """How often the daemon's log has said ``text`` so far."""
        return self.log_text().count(text)

    def write_settings(self, **sections: dict[str, object]) -> None:
        """The settings file: :data:`SETTINGS` with ``sections`` over it."""
        data = {name: dict(values) for name, values in SETTINGS.items()}
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        (self.root / "vcamd.toml").write_text(tomlkit.dumps(data))

    def restore_settings(self) -> None:
        """The first settings back (the 720p clip as the camera), the node at 1280x720 again."""
        opened = self.says(f"node vcamd-vbg-camera, {SIZE[0]}x{SIZE[1]} @ 30 fps")
        self.write_settings(camera={"device": str(self.clip)})
        wait_for(lambda: self.says(f"node vcamd-vbg-camera, {SIZE[0]}x{SIZE[1]} @ 30 fps") > opened, 10,
                 what="the node at 1280x720 again")


def _webcam(folder: Path, size: tuple[int, int] = SIZE) -> Path:
    """The real webcam clip cover-fitted to ``size``: what a 720p webcam gives, or one of another size."""
    return harness.make_clip(folder, size, source=VIDEOS / "maxine_webcam_part1.mp4")


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    # Our own folder, not tmp_path: pytest runs of other checkouts on this machine prune /tmp/pytest-of-*.
    root = Path(tempfile.mkdtemp(prefix="vcamd-pw-"))
    clip = _webcam(root)
    session = PipeWireSession(root / "session")
    # its own "one daemon per user" lock (module fixtures start before conftest's per-test one)
    session.env["VCAMD_INSTANCE"] = root.name
    daemon = None
    log = root / "vcamd.log"
    try:
        cfg = root / "vcamd.toml"
        cfg.write_text(tomlkit.dumps(SETTINGS))
        env = dict(session.env, VCAMD_MODEL_DIR=os.environ["VCAMD_MODEL_DIR"], PYTHONUNBUFFERED="1")
        with open(log, "w") as f:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "vcamd", "run", "--no-tray", "--config", str(cfg), "--camera",
                 str(clip), "-v"], env=env, stdout=f, stderr=subprocess.STDOUT, text=True)
        yield Running(session, daemon, clip, log, root)
    finally:
        if daemon is not None:
            harness.stop(daemon)
        session.close()
        if not os.environ.get("VCAMD_KEEP_TEST_FILES"):
            shutil.rmtree(root, ignore_errors=True)


def test_a_pipewire_client_gets_the_treated_camera(running: Running, artifacts: Path) -> None:
    node = running.node()
    assert running.daemon.poll() is None, running.log_text()
    report = running.consume(4.0, "pipewiresrc")
    assert (report["width"], report["height"]) == SIZE, report
    assert report["first_live"] is not None, report
    assert report["fps"] >= 25, report
    frame = cv2.imread(str(report["png"]))
    h, w = frame.shape[:2]
    background = frame[: h // 2, : w // 6]  # the wall and the dartboard, left of the person
    torso = frame[int(h * 0.75): int(h * 0.95), int(w * 0.42): int(w * 0.6)]  # the green shirt
    assert share(background, MAGENTA) > 0.8, "the background is not the effect's colour"
    assert share(torso, MAGENTA) < 0.05, "the person was painted over"
    cv2.imwrite(str(artifacts / "pipewire_pipewiresrc.png"), frame)
    print(f"node {node}: {report['width']}x{report['height']} at {report['fps']:.1f} fps, first live frame "
          f"after {report['first_live']:.2f} s")


def test_no_consumer_releases_the_camera_and_a_consumer_gets_live_video_within_a_second(
    running: Running,
) -> None:
    running.node()
    pid = running.daemon.pid
    consumer = running.start_consumer(2.0, "before_pause")
    time.sleep(1.5)
    # the clip is closed and opened again at each loop: looked for over a moment, not at one instant
    wait_for(lambda: holds_open(pid, running.clip), 0.5, what="the camera open while an app reads")
    report = running.report(consumer)
    assert report["first_live"] is not None, report
    left = time.monotonic()  # the consumer's process has ended: its link is gone
    while holds_open(pid, running.clip) and time.monotonic() - left < 5:
        time.sleep(0.02)
    released = time.monotonic() - left
    assert released <= 2.0, f"the camera was still open {released:.2f} s after the last consumer left"
    deadline = time.monotonic() + 1.0
    while "idle ·" not in running.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "idle ·" in running.log_text(), running.log_text()[-2000:]
    time.sleep(1.0)
    assert not holds_open(pid, running.clip), "the camera was opened again with no consumer"

    report = running.consume(2.5, "after_pause")
    assert report["first"] is not None, "no still frame kept the node alive"
    assert report["first_live"] is not None and report["first_live"] <= 1.0, report
    print(f"camera released {released:.2f} s after the consumer left; live {report['first_live']:.2f} s "
          "after a consumer connected")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-features=WebRtcPipeWireCamera", "--use-fake-ui-for-media-stream"]
# In the page: find the camera by its label and open it (``stream``, ``crashes``); ``magenta(frame)`` is the
# share of a 64x36 thumbnail in the effect's colour.
OPEN_CAMERA = """
const NAME = %s;
// Chromium learns the PipeWire cameras from the portal a moment after the page asks: retry "not found".
// Chromium 156's PipeWire capture now and then trips its own race check as a stream starts (its video
// capture process crashes: "Could not start video source", or the track ends at once); it restarts, so
// that is retried twice.
let stream = null, crashes = 0;
for (let tries = 0; !stream; tries++) {
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {width: 1280, height: 720}});
    await new Promise(r => setTimeout(r, 300));
    const ended = stream.getVideoTracks()[0].readyState === "ended";
    if (ended) throw new DOMException("ended", "NotReadableError");
  } catch (e) {
    stream = null;
    if (e.name === "NotReadableError" && crashes < 2) crashes++;
    else if (e.name !== "NotFoundError" || tries >= 40) throw e;
    await new Promise(r => setTimeout(r, 250));
  }
}
const thumb = new OffscreenCanvas(64, 36).getContext("2d", {willReadFrequently: true});
const magenta = (frame) => {
  thumb.drawImage(frame, 0, 0, 64, 36);
  const px = thumb.getImageData(0, 0, 64, 36).data;
  let n = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] > 200 && px[i + 1] < 60 && px[i + 2] > 200) n++;
  return n / (64 * 36);
};
"""
# Read frames with MediaStreamTrackProcessor for 4 s; the frame rate counts from the first frame showing the
# effect (magenta over a quarter of the thumbnail).
READ_CAMERA = OPEN_CAMERA + """
const cams = (await navigator.mediaDevices.enumerateDevices()).filter(d => d.kind === "videoinput");
const track = stream.getVideoTracks()[0];
const reader = new MediaStreamTrackProcessor({track}).readable.getReader();
const t0 = performance.now();
let live = null, frames = 0, width = 0, height = 0, png = "", seen = 0;
while (performance.now() - t0 < 4000) {
  const {value: frame, done} = await reader.read();
  if (done) break;
  seen++;
  width = frame.displayWidth; height = frame.displayHeight;
  if (live === null && seen %% 3 === 0 && magenta(frame) > 0.25) live = performance.now();
  if (live !== null) frames++;
  if (live !== null && !png && performance.now() - live > 2000) {
    const canvas = new OffscreenCanvas(width, height);
    canvas.getContext("2d").drawImage(frame, 0, 0);
    const blob = await canvas.convertToBlob({type: "image/png"});
    png = await new Promise(r => {
      const f = new FileReader(); f.onload = () => r(f.result); f.readAsDataURL(blob);
    });
  }
  frame.close();
}
const fps = live === null ? 0 : (frames - 1) / ((performance.now() - live) / 1000);
track.stop();
return {labels: cams.map(d => d.label), label: track.label, width, height, fps, seen, crashes,
        live_after: live === null ? null : (live - t0) / 1000, png};
"""


#: A settings change must cost the stream no wait over GAP_AFTER_CHANGE s within CHANGE_WINDOW s after it; and
#: no wait anywhere may reach STREAM_LOST s (an app's stream ended, or its node went away). Waits between
#: those, away from any change, are this shared 2-core machine's load: up to 0.27 s measured at load 4.
GAP_AFTER_CHANGE, CHANGE_WINDOW, STREAM_LOST = 0.2, 1.0, 1.0


def gaps_after_changes(long_gaps: list[list[float]], changed: list[float]) -> list[list[float]]:
    """The waits over GAP_AFTER_CHANGE (each [end, seconds], time.time()) that overlap CHANGE_WINDOW s after
    a change made at one of the times in ``changed``."""
    return [[end, gap] for end, gap in long_gaps if gap > GAP_AFTER_CHANGE
            and any(end >= t and end - gap <= t + CHANGE_WINDOW for t in changed)]


# Keep reading in the background into ``window.watch`` (frames after the first with the effect, those without
# it, the longest wait between two, every size, whether the track ended); return once it has been live 1 s.
WATCH_CAMERA = OPEN_CAMERA + """
const track = stream.getVideoTracks()[0];
const w = window.watch = {track, live: null, last: 0, frames: 0, untreated: 0, maxGap: 0, longGaps: [],
                          sizes: new Set(), ended: false, stop: false};
track.addEventListener("ended", () => { w.ended = true; });
const reader = new MediaStreamTrackProcessor({track}).readable.getReader();
(async () => {
  while (!w.stop) {
    const {value: frame, done} = await reader.read();
    if (done) { w.ended = true; break; }
    const now = performance.now(), treated = magenta(frame) > 0.25;
    w.sizes.add(frame.displayWidth + "x" + frame.displayHeight);
    if (w.live === null && treated) w.live = now;
    else if (w.live !== null) {
      w.frames++;
      if (!treated) w.untreated++;
      w.maxGap = Math.max(w.maxGap, (now - w.last) / 1000);
      if (now - w.last > 100) w.longGaps.push([Date.now() / 1000, (now - w.last) / 1000]);
    }
    w.last = now;
    frame.close();
  }
})();
const t0 = performance.now();
while ((w.live === null || performance.now() - w.live < 1000) && !w.ended && performance.now() - t0 < 20000)
  await new Promise(r => setTimeout(r, 100));
return {live: w.live !== null, label: track.label, crashes};
"""
WATCHED = """
const w = window.watch;
w.stop = true;
const state = w.track.readyState;
w.track.stop();
return {state, ended: w.ended, frames: w.frames, untreated: w.untreated, max_gap: w.maxGap,
        long_gaps: w.longGaps, sizes: [...w.sizes]};
"""


NEEDS_CHROMIUM = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) or bool(missing_tools("Xvfb", "xdg-desktop-portal", "xdg-desktop-portal-gtk",
                                                       "gdbus")),
    reason="needs Debian's chromium, Xvfb, xdg-desktop-portal(-gtk) and gdbus")


@contextmanager
def _chromium(running: Running, profile: str) -> Iterator[Chromium]:
    """Headless Chromium in the session (the portal started), on an empty page of ours; closed after."""
    running.session.start_portal()
    server, url = _serve_blank_page()
    browser = None
    try:
        browser = Chromium(CHROMIUM, running.root / profile, running.session.env, CHROMIUM_FLAGS,
                           running.root / f"{profile}.log")
        browser.open(url)
        yield browser
    finally:
        if browser is not None:
            browser.close()
        server.shutdown()


def _serve_blank_page() -> tuple[ThreadingHTTPServer, str]:
    """An empty page on 127.0.0.1 (a secure context, as getUserMedia wants)."""

    class Blank(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>vcamd</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Blank)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@NEEDS_CHROMIUM
def test_chromium_lists_opens_and_reads_the_camera_through_the_portal(
    running: Running, artifacts: Path
) -> None:
    running.node()
    with _chromium(running, "chromium") as browser:
        got = browser.evaluate(READ_CAMERA % json.dumps(NAME))
    assert NAME in got["labels"], f"Chromium lists {got['labels']}"
    assert got["label"] == NAME
    assert (got["width"], got["height"]) == SIZE, got
    assert got["live_after"] is not None, "Chromium got no frame with the effect"
    assert got["fps"] >= 25, {k: v for k, v in got.items() if k != "png"}
    png = base64.b64decode(got["png"].split(",", 1)[1])
    (artifacts / "pipewire_chromium.png").write_bytes(png)
    frame = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    h, w = frame.shape[:2]
    assert share(frame[: h // 2, : w // 6], MAGENTA) > 0.8, "the background is not the effect's colour"
    assert share(frame[int(h * 0.75): int(h * 0.95), int(w * 0.42): int(w * 0.6)], MAGENTA) < 0.05
    print(f"Chromium: {got['label']!r} {got['width']}x{got['height']} at {got['fps']:.1f} fps, effect after "
          f"{got['live_after']:.2f} s ({got['crashes']} restarts of its video capture)")


@NEEDS_CHROMIUM
def test_chromiums_track_stays_live_over_a_size_change(running: Running) -> None:
    """Issue 31: the output's size changes while Chromium reads the camera: the track stays live, on the same
    node, with treated 1280x720 frames and no gap over 200 ms after the change (:data:`GAP_AFTER_CHANGE`)."""
    node = running.node()
    try:
        with _chromium(running, "chromium-held") as browser:
            opened = browser.evaluate(WATCH_CAMERA % json.dumps(NAME))
            assert opened["live"] and opened["label"] == NAME, opened
            running.write_settings(camera={"device": str(running.clip)}, output={"width": 640, "height": 360})
            changed = [time.time()]
            held = "720p until the call ends (then 360p)"
            wait_for(lambda: running.says(held) > 0, 5, what="the held size")
            time.sleep(2.0)
            assert running.session.camera_nodes(NAME) == [node], "the node was made again"
            got = browser.evaluate(WATCHED)
    finally:
        running.restore_settings()
    assert got["state"] == "live" and not got["ended"], got
    assert got["sizes"] == ["1280x720"] and got["untreated"] == 0 and got["frames"] > 30, got
    assert not gaps_after_changes(got["long_gaps"], changed) and got["max_gap"] < STREAM_LOST, got
    print(f"Chromium: the track stayed live over a size change, {got['frames']} treated frames, longest gap "
          f"{got['max_gap'] * 1000:.0f} ms ({opened['crashes']} restarts of its video capture)")


def test_devices_and_doctor_see_the_node_while_vcamd_runs(running: Running) -> None:
    node = running.node()
    env = dict(running.session.env, VCAMD_MODEL_DIR=os.environ["VCAMD_MODEL_DIR"])
    cfg = str(running.root / "vcamd.toml")
    devices = subprocess.run([sys.executable, "-m", "vcamd", "devices", "--config", cfg], env=env,
                             capture_output=True, text=True, timeout=60)
    assert devices.returncode == 0, devices.stderr
    assert f'node {node}  "{NAME}"  (vcamd-vbg-camera)  <- output.name' in devices.stdout, devices.stdout
    doctor = subprocess.run([sys.executable, "-m", "vcamd", "doctor", "--config", cfg], env=env,
                            capture_output=True, text=True, timeout=60)
    for line in ("ok    PipeWire camera: GStreamer's PipeWire plugin",
                 "ok    PipeWire camera: PipeWire daemon reachable",
                 f'ok    PipeWire camera: node "{NAME}" visible (id {node})'):
        assert line in doctor.stdout, doctor.stdout
    assert "v4l2loopback" not in doctor.stdout.split("PipeWire camera")[0], "backend pipewire needs no module"
    if v4l2loopback.find_loopback(NAME) is None:  # auto: the PipeWire camera alone is enough
        auto = subprocess.run([sys.executable, "-m", "vcamd", "doctor"], env=env, capture_output=True,
                              text=True, timeout=60).stdout
        assert "(optional while the PipeWire camera works; fix: " in auto, auto
        assert "FAIL  v4l2loopback" not in auto and "FAIL  PipeWire" not in auto, auto


def test_settings_changes_never_end_a_pipewiresrc_clients_stream(running: Running) -> None:
    """Issue 31: a client reads for 10 s while the camera (a 1080p one for the 720p one, through
    camera.device, camera.width and camera.height, with the output at the camera's), then the output's size,
    then its rate change. It sees one stream (the same node, no gap over 200 ms after a change, see
    :data:`GAP_AFTER_CHANGE`, treated frames throughout, 1280x720 at 30 fps); ``vcamd status`` says what
    waits; the next client gets the new format.

    (A camera of another shape is fitted the same way: test_daemon. Here it would also switch the model
    under ``auto``, whose first load stalls the worker 70 ms on a quiet machine.)"""
    node = running.node()
    camera1080 = _webcam(running.root, (1920, 1080))
    opened = running.says('an app opened "VBG Camera"')
    consumer = running.start_consumer(10.0, "held")
    changed: list[float] = []
    try:
        wait_for(lambda: running.says('an app opened "VBG Camera"') > opened, 10, what="the client linked")
        time.sleep(1.0)
        changes: list[dict[str, dict[str, object]]] = [
            {"camera": {"device": str(camera1080), "width": 1920, "height": 1080}},
            {"output": {"width": 640, "height": 360}},
            {"output": {"width": 640, "height": 360, "fps": 15.0}},
        ]
        notes = ["720p until the call ends (then 1080p)", "720p until the call ends (then 360p)",
                 "720p at 30 fps until the call ends (then 360p at 15 fps)"]
        sections: dict[str, dict[str, object]] = {}
        for change, note in zip(changes, notes, strict=True):
            sections.update(change)
            said = running.says(note)
            running.write_settings(**sections)
            changed.append(time.time())
            wait_for(lambda n=note, k=said: running.says(n) > k, 5,  # type: ignore[misc]
                     what=f"the note {note!r}")
            assert running.session.camera_nodes(NAME) == [node], "the node was made again"
            time.sleep(1.5)
        env = dict(running.session.env, VCAMD_MODEL_DIR=os.environ["VCAMD_MODEL_DIR"])
        status = subprocess.run([sys.executable, "-m", "vcamd", "status"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert notes[-1] in status.stdout, (status.stdout, status.stderr)
        report = running.report(consumer)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    try:
        assert report["ended"] == "" and report["first_live"] is not None, report
        assert not gaps_after_changes(report["long_gaps"], changed), (report, changed)
        assert report["max_gap"] < STREAM_LOST, report
        assert report["untreated"] == 0, report
        assert (report["sizes"], report["rates"]) == (["1280x720"], [30.0]), report
        wait_for(lambda: running.says("node vcamd-vbg-camera, 640x360 @ 15 fps"), 5, what="the new format")
        after = running.node()  # PipeWire may give the new node the old one's id
        again = running.consume(2.0, "new_format")
        assert (again["sizes"], again["rates"]) == (["640x360"], [15.0]), again
        assert again["first_live"] is not None and again["untreated"] == 0, again
    finally:
        running.restore_settings()
    print(f"node {node} kept through three changes: {report['frames']} frames at {report['fps']:.1f} fps, "
          f"longest gap {report['max_gap'] * 1000:.0f} ms; then node {after}: 640x360 at {again['fps']:.1f} "
          "fps")


def test_auto_without_a_loopback_device_opens_the_pipewire_camera(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(running.session.runtime))  # this process joins the session
    settings = OutputSettings(name="Auto Camera")  # backend "auto"; no v4l2loopback device has this label
    assert outputs.targets(settings, "linux") == [outputs.Target("pipewire", None)]
    out = outputs.open_output(settings, 640, 360, 30)
    try:
        assert out.backend == "pipewire" and out.size == (640, 360)
        running.session.wait_camera_node("Auto Camera", timeout=10)
    finally:
        out.close()
    wait_for(lambda: not running.session.camera_nodes("Auto Camera"), timeout=5, what="the node removed")


def test_fan_out_feeds_both_outputs_and_pipewire_restarting_leaves_the_other_alone(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``auto`` opens on Linux when both can work: here the real pyvirtualcam.Camera (recording backend,
    standing in for the v4l2loopback device this machine cannot load) and a real PipeWire camera."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(running.session.runtime))  # this process joins the session
    vcam_recorder.register()
    name = "Fan Camera"
    rec = VirtualCamera(OutputSettings(name=name, backend="recording", device=str(tmp_path / "video10")),
                        320, 240, 30)
    out = FanOut([rec, PipeWireCamera(name, 320, 240, 30)])
    recorder = vcam_recorder.latest()
    stop = threading.Event()
    frame = np.full((240, 320, 3), MAGENTA, np.uint8)

    def feed() -> None:
        while not stop.is_set():
            out.send(frame)
            time.sleep(1 / 30)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        assert out.backend == "recording+pipewire" and out.reader_path == ""
        node = running.session.wait_camera_node(name)
        assert out.in_use() is False
        consumer = subprocess.Popen([sys.executable, str(CONSUMER), str(node), "2",
                                     str(tmp_path / "fan.png")], env=running.session.env,
                                    stdout=subprocess.PIPE, text=True)
        wait_for(lambda: out.in_use(), timeout=10, what="in_use() once a client links")
        report = json.loads(consumer.communicate(timeout=30)[0])
        assert report["frames"] > 20 and (report["width"], report["height"]) == (320, 240), report
        wait_for(lambda: out.in_use() is False, timeout=2, what="in_use() False once the client left")

        running.session.kill_pipewire()
        sent = recorder.count
        time.sleep(1.5)
        assert recorder.count - sent >= 30, "the other output stalled while PipeWire was down"
        assert out.in_use() is False
        running.session.start_pipewire()
        deadline = time.monotonic() + 20  # a restarted PipeWire takes a moment before its session links
        while True:
            node = running.session.wait_camera_node(name, timeout=15)
            again = [sys.executable, str(CONSUMER), str(node), "1.5", str(tmp_path / "again.png")]
            report = json.loads(subprocess.run(again, env=running.session.env, capture_output=True, text=True,
                                               timeout=30).stdout)
            if report["frames"] > 15 or time.monotonic() > deadline:
                break
        assert report["frames"] > 15, report
    finally:
        stop.set()
        feeder.join(2)
        out.close()
    assert recorder.closed


def test_pipewire_restarting_under_vcamd_brings_the_camera_back(running: Running) -> None:
    before = running.node()
    pid = running.daemon.pid
    running.session.restart_pipewire()
    t0 = time.monotonic()
    after = running.node(timeout=20)
    back = time.monotonic() - t0
    assert running.daemon.poll() is None and running.daemon.pid == pid, running.log_text()[-2000:]
    report = running.consume(2.5, "after_restart")
    assert report["first_live"] is not None, report
    assert report["fps"] >= 25, report
    assert "PipeWire went away" in running.log_text()
    print(f"node {before} -> {after}: back on the new PipeWire {back:.2f} s after it started")


def test_a_preview_opens_the_camera_like_a_pipewire_client(running: Running) -> None:
    """``vcamd preview`` on the PipeWire camera's daemon, with no PipeWire client: the camera opens for the
    window, which shows the output (the magenta background), and is released within 2 s of its closing."""
    from support.xsession import pixels_like, x_session

    running.node()
    pid = running.daemon.pid
    wait_for(lambda: not holds_open(pid, running.clip), 5, what="the camera released (no client)")
    with x_session(None) as s:
        env = dict(running.session.env, DISPLAY=s.display)
        preview = subprocess.Popen([sys.executable, "-m", "vcamd", "preview", "--width", "320"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: holds_open(pid, running.clip), 10, what="the camera open for the preview")
            wait_for(lambda: pixels_like(s.screenshot(), (255, 0, 255), (0, 0, 320, 180)) > 320 * 180 // 4,
                     15, what="the magenta output frame in the preview window")
        finally:
            preview.terminate()
            code = preview.wait(10)
        assert code == 0, preview.stderr.read() if preview.stderr else ""
    closed = time.monotonic()
    while holds_open(pid, running.clip) and time.monotonic() - closed < 5:
        time.sleep(0.02)
    assert time.monotonic() - closed <= 2.0, "the camera was still open 2 s after the preview closed"
    assert running.daemon.poll() is None
