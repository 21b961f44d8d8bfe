"""The daemon end to end: a video file as the webcam, the real pyvirtualcam.Camera, a recording backend."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import daemon_harness as harness
import numpy as np
import pytest
import tomlkit
from conftest import DATA
from support import vcam_recorder
from support.stream_helpers import CARPHONE, holds_open, share, wait_for

from vcamd import cli, config
from vcamd.errors import VcamdError
from vcamd.service import cards, control_socket
from vcamd.service.control import State, Status
from vcamd.service.control_socket import ControlServer
from vcamd.service.daemon import IDLE_FULL_RATE, IDLE_KEEPALIVE, Daemon
from vcamd.service.instance import AlreadyRunning, InstanceLock

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="readers are found in /proc")
vcam_recorder.register()

GREEN, RED = (0, 255, 0), (0, 0, 255)
STILL = DATA / "stills" / "volcomix_girl-919048_1280.jpg"


@dataclass
class Setup:
    clip: Path  # the "webcam": a copy of a real clip, so it can vanish
    device: Path  # stands in for /dev/videoN: apps "read the camera" by opening it
    config: Path

    def write(self, **sections: dict[str, Any]) -> None:
        data: dict[str, dict[str, Any]] = {
            "camera": {"device": str(self.clip)},
            "output": {"backend": "recording", "device": str(self.device)},
            "effect": {"name": "color", "color": "#00ff00"},
            "daemon": {"pause_when_unused": False, "idle_fps": 5.0},
        }
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        self.config.write_text(tomlkit.dumps(data), encoding="utf-8")


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return make_setup(tmp_path)


def make_setup(tmp_path: Path) -> Setup:
    """A copy of the carphone clip as the webcam, a file as the device, a settings file using both."""
    clip = tmp_path / "webcam.mp4"
    shutil.copy(CARPHONE, clip)
    device = tmp_path / "video10"
    device.touch()
    s = Setup(clip, device, tmp_path / "config.toml")
    s.write()
    return s


@contextmanager
def running(setup: Setup, **kw: Any) -> Iterator[tuple[Daemon, vcam_recorder.RecordingBackend]]:
    daemon = Daemon(setup.config, **kw)
    daemon.start()
    try:
        yield daemon, vcam_recorder.latest()
    finally:
        daemon.close()


def frames_where(rec: vcam_recorder.RecordingBackend, test: Any, n: int = 5, what: str = "") -> None:
    """Wait until ``n`` frames in a row sent from now on pass ``test``."""
    start = rec.count
    wait_for(lambda: rec.count - start >= n and all(test(f) for f in rec.since(start)[-n:]), what=what)


def test_frames_arrive_treated_at_the_camera_size(setup: Setup) -> None:
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, n=10, what="green backgrounds")
        frame = rec.last()
        assert (rec.width, rec.height) == (176, 144)
        assert frame.shape == (144, 176, 3) and frame.dtype == np.uint8
        assert share(frame, GREEN) < 0.9  # the person is still there
        status = daemon.status()
        assert status.state is State.LIVE and status.effect == "color" and status.fps_out > 0
        assert set(status.stages_ms) >= {"segment", "matte", "effect", "composite", "total"}


def test_output_size_from_the_settings_keeps_the_aspect(setup: Setup) -> None:
    setup.write(output={"width": 320}, effect={"name": "none"})
    with running(setup) as (_, rec):
        frames_where(rec, lambda f: f.shape == (262, 320, 3), what="frames at 320x262")


def test_editing_the_file_switches_the_effect_mid_stream(setup: Setup) -> None:
    with running(setup) as (_, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        start = rec.count
        t0 = time.monotonic()
        setup.write(effect={"color": "#ff0000"})
        wait_for(lambda: any(share(f, RED) > 0.3 for f in rec.since(start)), what="a red frame")
        assert time.monotonic() - t0 <= 1.0, "the README promises an edit takes effect within a second"
        frames_where(rec, lambda f: share(f, RED) > 0.3 and share(f, GREEN) == 0, what="red, after the edit")
        # all at once: no frame is half one setting, half the other
        assert all(share(f, RED) == 0 or share(f, GREEN) == 0 for f in rec.since(start))


def test_command_line_overrides_hold_until_that_key_is_edited(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.write(effect={"name": "desaturate", "color": "#ff0000"})
    caplog.set_level(logging.INFO, logger="vcamd")
    with running(setup, overrides={"effect.name": "color"}, log_stats=True) as (daemon, rec):
        frames_where(rec, lambda f: share(f, RED) > 0.3, what="red: --effect color over the file")
        setup.write(effect={"name": "desaturate", "color": "#ff0000", "blur_strength": 20})
        wait_for(lambda: daemon.settings().effect.blur_strength == 20, what="the edit applied")
        assert daemon.settings().effect.name == "color"
        setup.write(effect={"name": "none", "color": "#ff0000"})
        frames_where(rec, lambda f: share(f, RED) == 0, n=10, what="no effect: the file's new effect.name")
        wait_for(lambda: "stats: in " in caplog.text, what="--stats logging")
        assert " % · latency" in caplog.text and "% CPU" in daemon.status().line()


def test_a_broken_edit_keeps_the_last_good_settings(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vcamd")
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        setup.write(effect={"color": "#ff0000", "blur_strength": 500})
        wait_for(lambda: "keeping the last good settings" in caplog.text, what="the error logged")
        line = next(r.getMessage() for r in caplog.records if "keeping" in r.getMessage())
        assert str(setup.config) in line and "effect.blur_strength = 500" in line
        setup.write(effect={"name": "image", "background": str(setup.config.parent / "missing.jpg")})
        wait_for(lambda: "missing.jpg" in caplog.text, what="the missing picture logged")
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, n=10, what="still green after two bad edits")
        assert daemon.status().state is State.LIVE and daemon.settings().effect.color == "#00ff00"
        setup.write(effect={"color": "#ff0000"})
        frames_where(rec, lambda f: share(f, RED) > 0.3, what="red once the file is good again")


def test_the_camera_vanishing_gives_placeholders_then_recovery(setup: Setup) -> None:
    with running(setup) as (daemon, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green")
        setup.clip.rename(setup.clip.with_suffix(".away"))
        wait_for(lambda: daemon.status().state is State.ERROR, what="the error state")
        assert str(setup.clip) in daemon.status().message
        frames_where(rec, lambda f: share(f, cards.BACKGROUND) > 0.5, n=2, what="placeholder cards")
        setup.clip.with_suffix(".away").rename(setup.clip)
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="green again after the camera came back")
        assert daemon.status().state is State.LIVE


def test_pause_when_unused_releases_the_camera_and_an_app_resumes_it(setup: Setup) -> None:
    setup.write(daemon={"pause_when_unused": True})
    with running(setup) as (daemon, rec):
        wait_for(lambda: daemon.status().state is State.IDLE, what="idle with no reader")
        wait_for(lambda: not holds_open(setup.clip), what="the webcam released")
        frames_where(rec, lambda f: share(f, cards.BACKGROUND) > 0.5, n=2, what="still frames while idle")
        app = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'rb'); print(1, flush=True); "
             "time.sleep(120)", str(setup.device)], stdout=subprocess.PIPE,
        )
        try:
            assert app.stdout is not None and app.stdout.readline()
            opened, start = time.monotonic(), rec.count
            wait_for(lambda: any(share(f, GREEN) > 0.3 for f in rec.since(start)), what="live video")
            assert time.monotonic() - opened <= 1.0, "the README promises live video within a second"
            frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="live video for the app")
            assert daemon.status().state is State.LIVE and holds_open(setup.clip)
        finally:
            app.kill()
            app.wait()
        left = time.monotonic()
        wait_for(lambda: not holds_open(setup.clip), what="the webcam released again")
        assert time.monotonic() - left <= 2.0, "the README promises the webcam released within 2 s"
        wait_for(lambda: daemon.status().state is State.IDLE, what="idle again once the app left")


def _clip_at(folder: Path, size: tuple[int, int]) -> Path:
    """The carphone clip's first second cover-fitted to ``size``: a camera of another size and shape."""
    return harness.make_clip(folder, size, source=CARPHONE, frames=30)


def test_an_app_reading_keeps_the_format_until_it_leaves(setup: Setup, tmp_path: Path) -> None:
    """The v4l2loopback path (the real pyvirtualcam.Camera): while an app has the device open, neither a new
    output size and rate nor a camera of another size reopens the Camera; frames keep its size, treated; the
    status says what waits; once the app leaves the new format comes, its frames paced to its rate."""
    setup.write(daemon={"pause_when_unused": True})
    wide = _clip_at(tmp_path, (320, 180))
    with running(setup) as (daemon, rec):
        wait_for(lambda: daemon.status().state is State.IDLE, what="idle with no reader")
        app = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'rb'); print(1, flush=True); "
             "time.sleep(120)", str(setup.device)], stdout=subprocess.PIPE,
        )
        try:
            assert app.stdout is not None and app.stdout.readline()
            wait_for(lambda: daemon.status().state is State.LIVE, what="live for the app")
            setup.write(output={"width": 640, "height": 360, "fps": 10.0}, daemon={"pause_when_unused": True})
            wait_for(lambda: daemon.status().note, what="the held format said")
            assert daemon.status().note == "176x144 at 29.97 fps until the call ends (then 360p at 10 fps)"
            assert daemon.status().note in daemon.status().line()
            frames_where(rec, lambda f: share(f, GREEN) > 0.3, n=10, what="treated frames, same Camera")
            setup.write(camera={"device": str(wide)}, output={"width": 640, "height": 360, "fps": 10.0},
                        daemon={"pause_when_unused": True})
            frames_where(rec, lambda f: share(f, GREEN) > 0.3 and share(f[:, :40], GREEN) > 0.5, n=10,
                         what="the wider camera fitted in, treated")
            assert vcam_recorder.latest() is rec and not rec.closed and (rec.width, rec.height) == (176, 144)
            assert daemon.status().state is State.LIVE
        finally:
            app.kill()
            app.wait()
        wait_for(lambda: vcam_recorder.latest() is not rec, what="the Camera opened again once the app left")
        assert rec.closed
        new = vcam_recorder.latest()
        assert (new.width, new.height, new.fps) == (640, 360, 10.0)
        wait_for(lambda: not daemon.status().note, what="nothing held any more")
        # no app reads: nothing to pace for the cards; an app again, and the 30 fps camera goes out at 10
        app = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'rb'); "
                                "time.sleep(120)", str(setup.device)])
        try:
            frames_where(new, lambda f: share(f, GREEN) > 0.3, n=5, what="live video in the new format")
            start, t0 = new.count, time.monotonic()
            time.sleep(2.0)
            rate = (new.count - start) / (time.monotonic() - t0)
        finally:
            app.kill()
            app.wait()
        assert rate <= 12, f"{rate:.1f} frames a second into a 10 fps camera"


def test_a_camera_back_at_another_size_gets_a_virtual_camera_of_its_size(
    setup: Setup, tmp_path: Path
) -> None:
    """With the output's size left to the camera, a camera that comes back at another size (here the file
    replaced under the same name, nothing in the settings changed) gets a virtual camera of its new size
    (no app reads it), with treated frames: what the worker works out from the camera's info each frame
    follows that info."""
    with running(setup) as (_, rec):
        frames_where(rec, lambda f: share(f, GREEN) > 0.3, what="treated frames")
        assert (rec.width, rec.height) == (176, 144)
        os.replace(_clip_at(tmp_path, (320, 180)), setup.clip)  # read from its start at the next loop
        wait_for(lambda: vcam_recorder.latest() is not rec, what="the virtual camera opened again")
        new = vcam_recorder.latest()
        assert (new.width, new.height) == (320, 180)
        frames_where(new, lambda f: share(f, GREEN) > 0.3, what="treated frames at the new size")


def test_with_no_app_reading_the_cards_slow_to_a_keepalive(setup: Setup) -> None:
    """Nobody sees the cards of an unused camera: idle_fps (5 here) for IDLE_FULL_RATE s, then one every
    IDLE_KEEPALIVE s; an app opening it still gets live video within a second (the test above)."""
    setup.write(daemon={"pause_when_unused": True})
    with running(setup) as (daemon, rec):
        wait_for(lambda: daemon.status().state is State.IDLE, what="idle with no reader")
        start = rec.count
        time.sleep(IDLE_FULL_RATE)
        first, wakes = rec.count - start, daemon.monitor_wakes
        time.sleep(IDLE_KEEPALIVE + 1.0)
        later = rec.count - start - first
        assert first >= 5, f"{first} cards in the first {IDLE_FULL_RATE:g} s at 5 fps"
        assert 1 <= later <= 3, f"{later} cards in the next {IDLE_KEEPALIVE + 1:g} s, want one every 5 s"
        wakes = daemon.monitor_wakes - wakes  # it sleeps on inotify: no polling while nothing happens
        assert wakes <= 3, f"the monitor woke {wakes} times in {IDLE_KEEPALIVE + 1:g} idle s"


def test_the_control_socket_sleeps_until_asked_and_closes_at_once(setup: Setup) -> None:
    """It answers without polling (no wake-ups of its own between clients) and close() ends it within
    half a second, removing the socket."""
    path = setup.config.parent / "control.sock"
    with running(setup) as (daemon, _):
        server = ControlServer(daemon, path)
        server.start()
        try:
            wait_for(lambda: daemon.status().state is State.LIVE, what="live")
            assert control_socket.request("status", path)["line"].startswith("live")
            thread = next(t for t in threading.enumerate() if t.name == "vcamd-control")
            time.sleep(0.5)  # the answer's tail (its GIL waits, its way back to the selector) is not polling
            switches = _sleeps(thread)
            time.sleep(2.0)
            woke = _sleeps(thread) - switches
            assert woke <= 1, f"the control thread woke {woke} times in 2 s with nobody asking"
        finally:
            start = time.monotonic()
            server.close()
            took = time.monotonic() - start
        assert took < 0.5 and not thread.is_alive() and not path.exists(), f"close() took {took:.2f} s"


def _sleeps(thread: threading.Thread) -> int:
    """How often ``thread`` has gone to sleep so far (its voluntary context switches, Linux /proc)."""
    for line in Path(f"/proc/self/task/{thread.native_id}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def test_privacy_through_the_control_api_saves_the_setting(setup: Setup) -> None:
    setup.config.write_text(config.render_example(), encoding="utf-8")
    config.update_file(setup.config, {"camera.device": str(setup.clip), "output.backend": "recording",
                                      "output.device": str(setup.device), "effect.name": "desaturate",
                                      "daemon.pause_when_unused": False})
    seen: list[Status] = []
    with running(setup) as (daemon, rec):
        daemon.subscribe(seen.append)
        wait_for(lambda: daemon.status().state is State.LIVE and rec.count > 3, what="live")
        assert daemon.apply({"daemon.privacy": True}).daemon.privacy
        wait_for(lambda: not holds_open(setup.clip), what="the webcam released for privacy")
        frames_where(rec, lambda f: share(f, cards.BACKGROUND) > 0.5, n=2, what="the privacy card")
        assert State.PRIVACY in [s.state for s in seen]
        picture = cards.picture(str(STILL), (176, 144))
        daemon.apply({"daemon.privacy_image": str(STILL)})
        frames_where(rec, lambda f: np.array_equal(f, picture), n=2, what="the chosen privacy picture")
        text = setup.config.read_text(encoding="utf-8")
        assert "privacy = true" in text and "# Send a \"camera paused\" card" in text  # comments kept

        with pytest.raises(VcamdError, match=r"effect\.blur_strength = 0"):
            daemon.apply({"effect.blur_strength": 0})
        assert setup.config.read_text(encoding="utf-8") == text

        daemon.apply({"daemon.privacy": False})
        wait_for(lambda: daemon.status().state is State.LIVE and holds_open(setup.clip), what="live again")
        time.sleep(0.6)  # the watcher sees the file we wrote and finds nothing to change
        assert not daemon.settings().daemon.privacy


def test_a_failing_frame_is_logged_once_and_the_stream_goes_on(
    setup: Setup, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    shutil.copy(STILL, pictures / "a.jpg")
    setup.write(effect={"name": "slideshow", "backgrounds_dir": str(pictures)})
    caplog.set_level(logging.ERROR, logger="vcamd")
    with running(setup) as (daemon, rec):
        wait_for(lambda: rec.count > 5, what="frames")
        (pictures / "a.jpg").write_bytes(b"corrupt")
        daemon.apply({"effect.interval": 1.0})  # a new slideshow: its only picture is now corrupt
        wait_for(lambda: daemon.stats.failed > 10, what="failing frames")
        start = rec.count
        wait_for(lambda: rec.count > start + 10, what="frames still sent")
        failures = [r for r in caplog.records if "could not be treated" in r.getMessage()]
        assert len(failures) == 1 and "a.jpg" in failures[0].getMessage()
        wait_for(lambda: daemon.status().state is State.ERROR, what="the failure shown after a second")
        assert "a.jpg" in daemon.status().message


def test_one_instance_per_user() -> None:
    with InstanceLock(), pytest.raises(AlreadyRunning, match=rf"already running \(pid {os.getpid()}\)"):
        InstanceLock().acquire()
    with InstanceLock():  # free again
        pass


def test_missing_webcam_and_virtual_camera_say_what_and_how(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[camera]\ndevice = "/dev/video97"\n[output]\nname = "No Such Cam"\n', encoding="utf-8")
    assert cli.main(["run", "--no-tray", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()  # a short list, one problem and its fix a line, the webcam first
    assert "Traceback" not in err
    assert lines[0] == "vcamd: error: cannot start; what to fix, the most useful first:"
    assert lines[1].startswith("  1. no webcam at /dev/video97") and "set camera.device" in lines[1]
    assert 'sudo modprobe v4l2loopback video_nr=10 card_label="No Such Cam" exclusive_caps=1' in lines[2]
    # for every boot, commands a pipx install can run (no file of vcamd's source tree named)
    assert ("echo 'options v4l2loopback video_nr=10 card_label=\"No Such Cam\" exclusive_caps=1' | sudo tee "
            "/etc/modprobe.d/vcamd-v4l2loopback.conf") in lines[2] and "packaging/" not in lines[2]
    assert lines[-1].startswith("to try the effects") and "vcamd process" in lines[-1]
    assert all(len(line) < 450 for line in lines) and len(lines) <= 5


def _recorder_status(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / "status.json").read_text()))
    except (OSError, ValueError):
        return {}


def test_sigterm_stops_cleanly_and_a_second_instance_is_refused(setup: Setup, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(vcam_recorder.sitecustomize_dir(tmp_path / "site")),
               VCAMD_RECORDER_DIR=str(tmp_path))
    cmd = [sys.executable, "-m", "vcamd", "run", "--no-tray", "--config", str(setup.config)]
    daemon = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _recorder_status(tmp_path).get("count", 0) >= 10 or daemon.poll() is not None,
                 timeout=60, what="frames from the daemon process")
        assert daemon.poll() is None, daemon.communicate()[1]
        assert _recorder_status(tmp_path)["shape"] == [144, 176, 3]

        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert f"vcamd is already running (pid {daemon.pid})" in second.stderr

        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        returncode = daemon.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        _, err = daemon.communicate()
    assert returncode == 0, err
    assert _recorder_status(tmp_path)["closed"], "the virtual camera was not closed"
    assert "Traceback" not in err
    assert took <= 2.0, f"SIGTERM to exit took {took:.2f} s; the README promises 2 s"
