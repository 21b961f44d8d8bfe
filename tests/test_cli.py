"""The shape of the ``vcamd`` command: one table of commands, global options before and after each command,
exit statuses in ``--help``, "did you mean" for a typo, and each command's imports paid only when it runs."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from vcamd import cli
from vcamd.commands import COMMANDS
from vcamd.errors import Problems


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``vcamd ARGS`` as a user runs it: a new interpreter."""
    return subprocess.run([sys.executable, "-m", "vcamd", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_every_command_of_the_table_owns_its_arguments_and_main() -> None:
    for name, entry in COMMANDS.items():
        module = entry.load()
        parser = argparse.ArgumentParser(prog=f"vcamd {name}")
        module.add_arguments(parser)
        assert callable(module.main), name
    helptext = cli.build_parser().format_help()
    for name, entry in COMMANDS.items():
        assert name in helptext and entry.summary[:40] in " ".join(helptext.split()), name


def test_help_documents_the_exit_statuses() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "exit status:\n  0  done\n  1  a failure" in r.stdout and "  2  bad input" in r.stdout
    r = run("set", "--help")
    assert r.returncode == 0 and "KEY VALUE" in r.stdout and "2  bad input" in r.stdout


def test_global_options_before_and_after_the_command(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    for args in (["--config", str(config), "set", "effect.name", "blur"],
                 ["set", "effect.name", "desaturate", "--config", str(config)],
                 ["-v", "--config", str(config), "set", "effect.blur_strength", "70", "-v"]):
        r = run(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert "vcamd is not running" in r.stdout and str(config) in r.stdout, r.stdout
    text = config.read_text()
    assert 'name = "desaturate"' in text and "blur_strength = 70" in text
    r = run("--config", str(config), "status")
    assert (r.returncode, r.stdout) == (1, "") and "not running" in r.stderr
    r = run("-v", "doctor")
    assert "versions: vcamd" in r.stdout, r.stdout + r.stderr
    r = run("--config", str(config), "config", "path")
    assert (r.returncode, r.stdout) == (0, f"{config}\n")
    r = run("config", "path", f"--config={config}")
    assert (r.returncode, r.stdout) == (0, f"{config}\n")


def test_the_option_given_last_wins_and_every_v_counts() -> None:
    args = cli.parse(["-v", "--config", "a.toml", "status", "-vv", "--json", "--config", "b.toml"])
    assert (args.command, args.config, args.verbose, args.json) == ("status", Path("b.toml"), 3, True)
    args = cli.parse(["--config", "a.toml", "status"])
    assert (args.command, args.config, args.verbose) == ("status", Path("a.toml"), 0)
    assert cli.parse(["--config=c.toml", "--no-tray"]).command == "run"  # no command: run
    assert cli.parse([]).command == "run" and cli.parse(["-v"]).verbose == 1


@pytest.mark.parametrize(("args", "says"), [
    (["stauts"], "vcamd: error: no command 'stauts'; did you mean status? (vcamd --help lists them)\n"),
    (["--config", "x.toml", "doctr"], "vcamd: error: no command 'doctr'; did you mean doctor?"),
    (["set", "efect.name", "blur"], "vcamd: error: unknown setting 'efect.name' (did you mean effect.name?)"),
    (["set", "effect.nmae", "blur"], "unknown key effect.nmae = 'blur' (did you mean effect.name?)"),
])
def test_a_typo_gets_did_you_mean(tmp_path: Path, args: list[str], says: str) -> None:
    r = run(*args, "--config", str(tmp_path / "c.toml")) if args[0] != "--config" else run(*args)
    assert r.returncode == 2 and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "c.toml").exists()


def test_a_command_imports_only_what_it_needs() -> None:
    """``vcamd status`` (a keyboard shortcut's) loads no other command, no OpenCV and no model runtime."""
    code = ("import sys; from vcamd import cli; cli.main(['status']); "
            "print(sorted(m for m in sys.modules if m in ('cv2', 'numpy', 'ai_edge_litert') "
            "or m.startswith('vcamd.commands.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = r.stdout.strip().splitlines()[-1]
    assert loaded == "['vcamd.commands.control', 'vcamd.commands.status']", r.stdout


def test_several_problems_are_one_line_in_a_log_and_a_short_list_on_the_command_line() -> None:
    e = Problems(["no webcam at /dev/video0: plug one in", "no virtual camera: load v4l2loopback"], "try: x")
    assert str(e) == "no webcam at /dev/video0: plug one in; no virtual camera: load v4l2loopback"
    assert e.report().splitlines() == ["cannot start; what to fix, the most useful first:",
                                       "  1. no webcam at /dev/video0: plug one in",
                                       "  2. no virtual camera: load v4l2loopback", "try: x"]
