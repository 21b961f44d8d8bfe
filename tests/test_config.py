"""The settings file: the documented example, one-line errors, writing back with comments, `vcamd config`."""

from __future__ import annotations

import select
import sys
import time
from pathlib import Path

import cv2
import pytest
from conftest import ROOT

from vcamd import cli, config
from vcamd.config import Config, ConfigError
from vcamd.service import watch
from vcamd.service.watch import FileWatcher

NO_DEVICES = '[camera]\ndevice = "/dev/video97"\n[output]\nname = "No Such Cam"\n'


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_example_file_documents_every_key_at_its_default() -> None:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert example == config.render_example(), (
        "config.example.toml is out of date: .venv/bin/vcamd config init --force --config config.example.toml"
    )
    assert config.validate(config.tomllib.loads(example)) == Config()
    for section, field in Config.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and model.__doc__, section
        for key, f in model.model_fields.items():
            assert f.description, f"{section}.{key} has no description (it documents config.example.toml)"
            assert f"\n{key} = " in example


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[effect]\nblur_strength = 500\n", ["effect.blur_strength = 500", "less than or equal to 100"]),
        ('[effect]\nname = "sparkles"\n', ["effect.name = 'sparkles'", "blur"]),
        ('[effect]\ncolor = "mauve"\n', ["effect.color = 'mauve'", "#rrggbb"]),
        ("[camera]\nfps = -1\n", ["camera.fps = -1"]),
        ('[effect]\nnmae = "blur"\n',
         ["unknown key effect.nmae = 'blur'", "did you mean effect.name?", "blur_strength"]),
        ("[efect]\n", ["unknown key efect", "did you mean effect?", "camera, output, effect"]),
        ("[effect\nname = 1\n", ["not valid TOML", "line 1"]),
    ],
)
def test_errors_name_the_file_the_key_and_the_value(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = _write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message


def test_update_file_keeps_comments_and_validates_first(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.toml", config.render_example())
    cfg = config.update_file(path, {"effect.name": "desaturate", "daemon.privacy": True})
    assert (cfg.effect.name, cfg.daemon.privacy) == ("desaturate", True)
    text = path.read_text(encoding="utf-8")
    assert "# How blurred the background is" in text and 'name = "desaturate"' in text
    with pytest.raises(ConfigError, match=r"effect\.blur_strength = 0"):
        config.update_file(path, {"effect.blur_strength": 0})
    assert path.read_text(encoding="utf-8") == text


def test_changed_sections() -> None:
    a = Config()
    b = config.apply_changes(a, {"effect.name": "none", "daemon.idle_fps": 1.0})
    assert config.changed_sections(a, b) == {"effect", "daemon"}
    assert config.changed_sections(a, Config()) == set()


def test_file_watcher_sees_each_change_once_after_it_holds_still(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    watcher = FileWatcher(path, settle=0.0)  # looked at by hand: any two looks are far enough apart
    assert not watcher.changed()
    _write(path, "[effect]\n")
    assert not watcher.changed()  # first sight: maybe still being written
    assert watcher.changed()
    assert not watcher.changed()
    _write(path, '[effect]\nname = "none"\n')
    watcher.mark()  # our own write
    assert not watcher.changed() and not watcher.changed()
    path.unlink()
    assert not watcher.changed()
    assert watcher.changed()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
def test_file_watcher_is_woken_by_edits_also_through_a_symlink(tmp_path: Path) -> None:
    """The daemon sleeps on fileno(): an edit of the file, or of a symlink's target in another folder, wakes
    it; with nothing pending it asks for a look only every SLOW_LOOK s; a change is reported once it held
    still for ``settle`` s, even when an event wakes the caller sooner."""
    (tmp_path / "dotfiles").mkdir()
    target = _write(tmp_path / "dotfiles" / "vcamd.toml", "[effect]\n")
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir()
    path.symlink_to(target)
    watcher = FileWatcher(path, settle=0.3)
    try:
        fd = watcher.fileno()
        assert fd is not None
        assert select.select([fd], [], [], 0.0)[0] == []
        assert watcher.due(time.monotonic()) > watch.SLOW_LOOK - 1.0
        _write(target, '[effect]\nname = "none"\n')
        assert select.select([fd], [], [], 1.0)[0] == [fd], "no wake-up for an edit of the symlink's target"
        assert not watcher.changed()  # first sight
        assert 0.0 < watcher.due(time.monotonic()) <= 0.3
        assert not watcher.changed(), "reported before it held still for settle seconds"
        time.sleep(0.3)
        assert watcher.changed() and not watcher.changed()
        assert select.select([fd], [], [], 0.0)[0] == []  # the events were read
    finally:
        watcher.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
def test_file_watcher_polls_while_its_folder_is_missing_then_watches_it(tmp_path: Path) -> None:
    path = tmp_path / "vcamd" / "config.toml"
    watcher = FileWatcher(path, settle=0.2)
    try:
        assert watcher.due(time.monotonic()) <= 0.2  # nothing to watch yet: looked at every settle s
        path.parent.mkdir()
        _write(path, "[effect]\n")
        assert not watcher.changed()
        time.sleep(0.2)
        assert watcher.changed()
        assert watcher.due(time.monotonic()) > watch.SLOW_LOOK - 1.0  # the folder is watched now
        _write(path, '[effect]\nname = "none"\n')
        fd = watcher.fileno()
        assert fd is not None and select.select([fd], [], [], 1.0)[0] == [fd]
    finally:
        watcher.close()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vcamd" / "config.toml"
    rc, out, _ = _cli(capsys, "config", "path", "--config", str(path))
    assert (rc, out) == (0, f"{path}\n")
    rc, _, err = _cli(capsys, "config", "check", "--config", str(path))
    assert rc == 2 and "vcamd config init" in err

    assert _cli(capsys, "config", "init", "--config", str(path))[0] == 0
    assert path.read_text(encoding="utf-8") == config.render_example()
    rc, _, err = _cli(capsys, "config", "init", "--config", str(path))
    assert rc == 2 and "--force" in err
    rc, out, _ = _cli(capsys, "config", "check", "--config", str(path))
    assert (rc, out) == (0, f"ok: {path}\n")

    config.update_file(path, {"effect.name": "image", "effect.background": str(tmp_path / "gone.jpg")})
    rc, _, err = _cli(capsys, "config", "check", "--config", str(path))
    assert rc == 2 and "gone.jpg" in err and err.count("\n") == 1

    config.update_file(path, {"effect.name": "desaturate", "camera.device": "/dev/video3"})
    rc, out, _ = _cli(capsys, "config", "show", "--config", str(path))
    shown = config.validate(config.tomllib.loads(out))
    assert rc == 0 and shown == config.load(path)
    assert shown.effect.name == "desaturate" and shown.output.name == "VBG Camera"  # file + defaults


def test_config_command_refuses_a_bad_file_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "config.toml", '[output]\nfps = "fast"\n')
    for action in ("check", "show"):
        rc, _, err = _cli(capsys, "config", action, "--config", str(path))
        assert rc == 2
        assert err.startswith(f"vcamd: error: {path}: output.fps = 'fast' is invalid: ")
        assert err.count("\n") == 1
        assert "Traceback" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux device checks")
def test_doctor_prints_a_fix_under_each_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "config.toml", NO_DEVICES)
    rc, out, _ = _cli(capsys, "doctor", "--config", str(path))
    lines = out.splitlines()
    assert rc == 1
    assert lines[0] == f"ok    settings: {path}"
    assert "FAIL  no webcam at /dev/video97" in out
    assert any(line.startswith("ok    model ") for line in lines)  # VCAMD_MODEL_DIR has it
    assert lines[-1].startswith("      versions: vcamd ") and "mediapipe" in lines[-1]
    assert f"ok    OpenCV {cv2.__version__}: the fast warps" in out  # the test venv has OpenCV >= 5.1
    for i, line in enumerate(lines):
        if line.startswith("FAIL"):
            assert lines[i + 1].startswith("      fix: "), line
    assert 'card_label="No Such Cam" exclusive_caps=1' in out

    rc, out, _ = _cli(capsys, "devices", "--config", str(path))
    assert rc == 0 and out.startswith("cameras:\n") and "virtual cameras (v4l2loopback):" in out


def test_doctor_names_an_opencv_that_makes_vcamd_slow(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from vcamd import frames

    monkeypatch.setattr(frames, "FAST_WARP", False)
    _, out, _ = _cli(capsys, "doctor", "--config", str(_write(tmp_path / "config.toml", NO_DEVICES)))
    line = next(x for x in out.splitlines() if "OpenCV" in x)
    assert f"OpenCV {cv2.__version__} is slower for vcamd" in line
    assert "pip install -U 'opencv-contrib-python>=5.1'" in line
