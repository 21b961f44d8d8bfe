"""The PipeWire camera with the real parts: our own session D-Bus + pipewire + wireplumber, ``vcamd run`` as a
process with a 1280x720 video file as the webcam and effect color, read back by a real PipeWire client
(GStreamer's pipewiresrc) and by headless Chromium through the Camera portal.

One daemon serves the module's tests in order: frames (1), pause when unused (2), the browser (4), PipeWire
killed and restarted under it (3, last).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import VIDEOS
from pipewire_session import PipeWireSession, missing_tools

from vcamd.outputs import pipewire

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing_tools()), reason=f"not installed: {missing_tools()}"),
    pytest.mark.skipif(bool(pipewire.unavailable().startswith("PipeWire camera: no GStreamer")),
                       reason="no PyGObject/GStreamer in this Python"),
]

HERE = Path(__file__).parent
NAME = "VBG Camera"
COLOR = "#ff00ff"  # magenta: nothing in the clip is (the person wears green)
MAGENTA = (255, 0, 255)
SIZE = (1280, 720)


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
        return subprocess.Popen([sys.executable, str(HERE / "pipewire_consumer.py"), str(self.node()),
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


def _clip_720p(path: Path) -> Path:
    """The real webcam clip resized to 1280x720 (what a 720p webcam gives)."""
    cap = cv2.VideoCapture(str(VIDEOS / "maxine_webcam_part1.mp4"))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, SIZE)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
    out.release()
    cap.release()
    return path


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    # Our own folder, not tmp_path: pytest runs of other checkouts on this machine prune /tmp/pytest-of-*.
    root = Path(tempfile.mkdtemp(prefix="vcamd-pw-"))
    clip = _clip_720p(root / "webcam720.mp4")
    session = PipeWireSession(root / "session")
    daemon = None
    log = root / "vcamd.log"
    try:
        cfg = root / "vcamd.toml"
        cfg.write_text(f'[effect]\nname = "color"\ncolor = "{COLOR}"\n[output]\nbackend = "pipewire"\n'
                       f'name = "{NAME}"\n[daemon]\npause_when_unused = true\nidle_fps = 2\n')
        env = dict(session.env, VCAMD_MODEL_DIR=os.environ["VCAMD_MODEL_DIR"], PYTHONUNBUFFERED="1")
        with open(log, "w") as f:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "vcamd", "run", "--no-tray", "--config", str(cfg), "--camera",
                 str(clip), "-v"], env=env, stdout=f, stderr=subprocess.STDOUT, text=True)
        yield Running(session, daemon, clip, log, root)
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        session.close()
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
    assert holds_open(pid, running.clip), "the camera is not open while an app reads"
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
