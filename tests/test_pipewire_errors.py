"""The PipeWire camera's bad input, each one line with its fix: no PipeWire daemon, no GStreamer plugin, no
PyGObject; and ``auto`` with neither v4l2loopback nor PipeWire. ``vcamd run`` stops at its first check, so
these take a second each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stream_helpers import CARPHONE

from vcamd import outputs
from vcamd.config import OutputSettings
from vcamd.errors import VcamdError
from vcamd.outputs import v4l2loopback

needs_no_loopback = pytest.mark.skipif(v4l2loopback.find_loopback("VBG Camera") is not None,
                                       reason='a v4l2loopback "VBG Camera" exists here')


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
         prelude: str = "") -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "run"  # an XDG_RUNTIME_DIR where no PipeWire listens
    runtime.mkdir(exist_ok=True)
    runtime.chmod(0o700)  # platformdirs takes it (for vcamd's lock) only if it is private
    base = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWIRE_")}
    base.update(XDG_RUNTIME_DIR=str(runtime), **(env or {}))
    code = f"{prelude}import sys; from vcamd import cli; sys.exit(cli.main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "run", "--no-tray", "--camera", str(CARPHONE), *args],
                          env=base, capture_output=True, text=True, timeout=120)


def test_no_pipewire_daemon_is_one_line_with_the_fix(tmp_path: Path) -> None:
    run = _run(tmp_path, "--output-backend", "pipewire")
    assert run.returncode == 2
    first = run.stderr.splitlines()[0]
    assert first.startswith('vcamd: error: output.backend = "pipewire": PipeWire camera: no PipeWire daemon')
    assert "systemctl --user enable --now pipewire wireplumber" in first
    assert "Traceback" not in run.stderr


def test_no_gstreamer_plugin_is_one_line_with_the_packages(tmp_path: Path) -> None:
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    run = _run(tmp_path, "--output-backend", "pipewire",
               env={"GST_PLUGIN_SYSTEM_PATH_1_0": str(empty), "GST_PLUGIN_SYSTEM_PATH": str(empty),
                    "GST_PLUGIN_PATH_1_0": "", "GST_PLUGIN_PATH": "",
                    "GST_REGISTRY_1_0": str(tmp_path / "reg"), "GST_REGISTRY": str(tmp_path / "reg")})
    assert run.returncode == 2
    first = run.stderr.splitlines()[0]
    assert "GStreamer has no pipewiresink" in first
    assert "sudo apt install gstreamer1.0-pipewire" in first  # this machine's distribution: Debian


def test_no_pygobject_is_one_line_with_the_fix(tmp_path: Path) -> None:
    run = _run(tmp_path, "--output-backend", "pipewire", prelude="import sys; sys.modules['gi'] = None; ")
    assert run.returncode == 2
    first = run.stderr.splitlines()[0]
    assert "PipeWire camera: no GStreamer for Python" in first and "gir1.2-gstreamer-1.0" in first


@needs_no_loopback
def test_auto_with_neither_output_names_both_fixes(tmp_path: Path) -> None:
    run = _run(tmp_path)  # output.backend = "auto"
    assert run.returncode == 2
    lines = run.stderr.splitlines()  # a short list: one problem and its fix a line
    assert lines[0] == "vcamd: error: cannot start; what to fix, the most useful first:", run.stderr
    loopback = next(line for line in lines if "no virtual camera" in line)
    pw = lines[lines.index(loopback) + 1]
    assert 'sudo modprobe v4l2loopback video_nr=10 card_label="VBG Camera" exclusive_caps=1' in loopback
    assert ". or, with no kernel module, a PipeWire camera: no PipeWire daemon" in pw
    assert "systemctl --user enable --now pipewire wireplumber" in pw
    # the webcam is there: only the virtual camera is missing, so the way to see the effects is vcamd preview
    assert lines[-1].startswith("to see yourself with the effect meanwhile: vcamd preview")


def test_pipewire_elsewhere_than_linux_says_so() -> None:
    with pytest.raises(VcamdError, match=r'"pipewire" is for Linux; set output.backend = "auto"'):
        outputs.targets(OutputSettings(backend="pipewire"), "win32")
