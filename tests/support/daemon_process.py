"""``vcamd run`` in a subprocess as a user starts it: a real clip as the webcam, the recording virtual camera.

``running_daemon(tmp_path, config_text, env=..., args=...)`` starts ``python -m vcamd run --config FILE``
with :mod:`vcam_recorder` loaded through ``sitecustomize`` (``output.backend = "recording"``), waits for its
first frames, yields a :class:`DaemonProcess`, then stops it with SIGTERM (by pid) and checks it exited 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from support import vcam_recorder
from support.stream_helpers import CARPHONE, wait_for

#: A settings file with comments and blank lines, whose camera is the carphone clip (176x144, 30 fps).
CONFIG = """\
# my camera settings: comments and layout must survive every change

[camera]
device = "{clip}"   # the webcam stands in

[output]
backend = "recording"
device = "{device}"

[effect]
name = "blur"  # what I like
backgrounds_dir = "{backgrounds}"

[daemon]
pause_when_unused = false  # no app opens the stand-in device
"""


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[str]
    config: Path
    folder: Path  # the recorder's status.json and last.npz
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text()

    def count(self) -> int:
        try:
            return int(json.loads((self.folder / "status.json").read_text())["count"])
        except (OSError, ValueError, KeyError):
            return 0

    def last_sent(self) -> tuple[np.ndarray, float] | None:
        """The last frame sent (every 4th pixel each way) and when (time.time()), or None before the first."""
        try:
            with np.load(self.folder / "last.npz") as f:
                return f["frame"], float(f["t"])
        except (OSError, ValueError, EOFError, KeyError):
            return None

    def last_frame(self) -> np.ndarray | None:
        """The last frame sent (every 4th pixel each way), or None before the first."""
        sent = self.last_sent()
        return sent[0] if sent else None

    def vcamd(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``vcamd ARGS`` as the same user in the same session."""
        return subprocess.run([sys.executable, "-m", "vcamd", *args], env=self.env, capture_output=True,
                              text=True, timeout=60)


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """The settings file of :data:`CONFIG` (+ ``extra``), a stand-in device, and a folder of two photos."""
    from conftest import DATA

    backgrounds = tmp_path / "backgrounds"
    backgrounds.mkdir(exist_ok=True)
    stills = (("a-office", "maxine_input_003054.jpg"), ("b-doctor", "volcomix_doctor-5871743_640.jpg"))
    for name, still in stills:
        (backgrounds / f"{name}.jpg").write_bytes((DATA / "stills" / still).read_bytes())
    device = tmp_path / "video10"
    device.touch()
    path = tmp_path / "vcamd.toml"
    text = CONFIG.format(clip=CARPHONE, device=device, backgrounds=backgrounds)
    path.write_text(text + textwrap.dedent(extra))
    return path


@contextmanager
def running_daemon(tmp_path: Path, config: Path, env: dict[str, str] | None = None,
                   args: tuple[str, ...] = ("--no-tray",)) -> Iterator[DaemonProcess]:
    """``vcamd run ARGS --config CONFIG`` until the block ends (see the module's doc)."""
    folder = tmp_path / "recorder"
    folder.mkdir(exist_ok=True)
    run_env = dict(env or os.environ)
    run_env.update(PYTHONPATH=str(vcam_recorder.sitecustomize_dir(tmp_path / "site")),
                   VCAMD_RECORDER_DIR=str(folder))
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "vcamd", "run", *args, "-v", "--config", str(config)],
                                env=run_env, stderr=log, stdout=log, text=True)
    d = DaemonProcess(proc, config, folder, log_path, {k: v for k, v in run_env.items() if k != "PYTHONPATH"})
    try:
        wait_for(lambda: d.count() >= 5 or proc.poll() is not None, timeout=60, what="frames from the daemon")
        assert proc.poll() is None, d.log()
        yield d
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code: Any = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert code == 0, d.log()
    assert "Traceback" not in d.log(), d.log()
