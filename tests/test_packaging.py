"""packaging/: each file checked by a real validator and kept in step with what ``vcamd autostart`` writes."""

from __future__ import annotations

import plistlib
import re
import shutil
import textwrap
from pathlib import Path

from conftest import ROOT
from support.validators import desktop_validate, systemd_verify

from vcamd import config, outputs
from vcamd.desktop import autostart
from vcamd.outputs import v4l2loopback

PKG = ROOT / "packaging"


def without_comments(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


def test_modprobe_options_name_the_camera_vcamd_looks_for() -> None:
    text = (PKG / "linux" / "modprobe.d" / "vcamd-v4l2loopback.conf").read_text()
    [line] = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert line == 'options v4l2loopback video_nr=10 card_label="VBG Camera" exclusive_caps=1'
    assert line == f"options v4l2loopback {v4l2loopback.options(config.OutputSettings().name)}"  # vcamd says
    label = re.search(r'card_label="([^"]+)"', line)
    assert label and label.group(1) == config.OutputSettings().name  # the name apps list is the default
    loads = (PKG / "linux" / "modules-load.d" / "vcamd-v4l2loopback.conf").read_text()
    assert without_comments(loads).split() == ["v4l2loopback"]


def test_systemd_unit_verifies_and_matches_autostart(tmp_path: Path) -> None:
    text = (PKG / "linux" / "vcamd.service").read_text()
    assert without_comments(text) == autostart.systemd_unit(["/usr/bin/vcamd", "run", "--no-tray"])
    assert "Restart=on-failure" in text
    # systemd-analyze checks that ExecStart exists: point it at this checkout's vcamd for the check
    vcamd = shutil.which("vcamd") or str(Path(autostart.launch_command()[0]))
    unit = tmp_path / "vcamd.service"
    unit.write_text(text.replace("/usr/bin/vcamd", vcamd))
    systemd_verify(unit)


def test_desktop_file_validates_and_matches_autostart() -> None:
    path = PKG / "linux" / "vcamd.desktop"
    desktop_validate(path)
    assert without_comments(path.read_text()) == autostart.desktop_entry(["vcamd", "run"], autostart=False)


def test_launch_agent_plist() -> None:
    path = PKG / "macos" / f"{autostart.LABEL}.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == autostart.LABEL
    assert Path(agent["ProgramArguments"][0]).name == "vcamd" and agent["ProgramArguments"][1:] == ["run"]
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert path.read_bytes() == autostart.launch_agent(agent["ProgramArguments"])


def test_windows_notes_settings_are_valid_and_name_the_cameras(tmp_path: Path) -> None:
    text = (PKG / "windows" / "README.md").read_text()
    assert "Unity Capture" in text and f'giving the name `{config.OutputSettings().name}`' in text
    snippets = re.findall(r"```toml\n(.*?)```", text, re.S)
    names = []
    for i, snippet in enumerate(snippets):
        (tmp_path / f"{i}.toml").write_text(textwrap.dedent(snippet))
        names.append(config.load(tmp_path / f"{i}.toml").output.name)
    assert names == ["Unity Video Capture", outputs.OBS_NAME]
