"""``vcamd set KEY VALUE [KEY VALUE ...]``: control without a tray, through the settings file
(``vcamd effect`` uses it too).

Promises (what it prints on stdout is the product):
- ``set KEY VALUE [KEY VALUE ...]`` checks every change as the settings file is checked (the key exists, the
  value fits; a changed effect's picture, folder or video and a model path are there), then writes them into
  the settings file with its comments and layout kept (only the changed lines differ), atomically. A running
  daemon applies them within a second (its live reload); ``set`` waits for that and says so. A bad key or
  value: one line ``vcamd: error: ...``, exit 2, the file untouched. No daemon running: the file is still
  written, and the line says vcamd is not running.
- VALUE is read as a TOML literal when it is one (``60``, ``true``, ``0.5``, ``"text"``), else as text; a
  setting that takes text gets the text as typed (``camera.device 0`` is ``"0"``). A leading ``~`` is the
  home folder; the picture and folder settings are stored as absolute paths.
- ``effect NAME`` is ``set effect.name NAME``; ``image`` with no background set takes the backgrounds
  folder's first picture, as the tray's Replace does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import tomlkit

from vcamd import config
from vcamd.commands.config import check_files
from vcamd.errors import VcamdError
from vcamd.service import control_socket
from vcamd.service.control_socket import NotRunning

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Settings that hold a file or folder: stored absolute, so the daemon finds them whatever its folder.
PATH_KEYS = ("effect.background", "effect.backgrounds_dir", "daemon.privacy_image")
#: Settings that hold a file or a name: made absolute only when such a file is here.
FILE_OR_NAME_KEYS = ("camera.device", "output.device", "segmentation.model")
#: What the checks of the effect's files look at.
FILE_SECTIONS = ("effect.", "segmentation.model")
APPLY_WAIT = 2.0  # longest ``set`` waits to see the running daemon take a change (its reload: < 1 s)


def parse_value(key: str, text: str) -> Any:
    """The value ``text`` stands for in setting ``key`` (see the module's promises)."""
    try:
        value: Any = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    try:
        takes_text = isinstance(config.get(config.Config(), key), str)
    except AttributeError:  # an unknown key: the checks name it
        takes_text = False
    if takes_text and not isinstance(value, str):
        value = text
    if isinstance(value, str) and value.startswith("~"):
        value = os.path.expanduser(value)
    if isinstance(value, str) and value and (
        key in PATH_KEYS or (key in FILE_OR_NAME_KEYS and Path(value).exists())
    ):
        value = str(Path(value).absolute())
    return value


def save(path: Path, changes: dict[str, Any]) -> config.Config:
    """Check ``changes`` against the settings in ``path`` and write them, comments kept; the new settings.

    Raises VcamdError (one line) and leaves the file untouched when the file or a change is bad.
    """
    new = config.apply_changes(config.load(path), changes)
    if any(key.startswith(FILE_SECTIONS) for key in changes):
        check_files(new)
    return config.update_file(path, changes)


def _toml(value: Any) -> str:
    return str(tomlkit.item(value).as_string())


def _applied(new: config.Config, keys: list[str], deadline: float) -> tuple[bool, str]:
    """Wait until the running daemon's settings show ``keys`` as in ``new``: (applied, its settings file)."""
    want = {k: config.get(new, k) for k in keys}
    while True:
        reply = control_socket.request("get", keys=keys)
        if reply.get("values") == want or time.monotonic() >= deadline:
            return reply.get("values") == want, str(reply.get("config", ""))
        time.sleep(0.05)


def set_changes(args: argparse.Namespace, changes: dict[str, Any]) -> int:
    """Save ``changes`` and report whether the running daemon took them."""
    path = config.path_or_default(args.config).absolute()
    new = save(path, changes)
    what = ", ".join(f"{k} = {_toml(config.get(new, k))}" for k in changes)
    try:
        applied, daemon_file = _applied(new, list(changes), time.monotonic() + APPLY_WAIT)
    except NotRunning:
        sys.stdout.write(f"{what} (saved in {path}); vcamd is not running: it applies this when it starts\n")
        return 0
    if daemon_file and Path(daemon_file).resolve() != path.resolve():
        sys.stdout.write(f"{what} (saved in {path}); the running vcamd reads {daemon_file}, not this file: "
                         f"add --config {daemon_file}\n")
        return 1
    if not applied:
        sys.stdout.write(f"{what} (saved in {path}); the running vcamd did not take it: see its log\n")
        return 1
    note = control_socket.request("status")["status"].get("note", "")  # a format held while an app reads
    sys.stdout.write(f"{what} (saved in {path}; applied{'; ' + note if note else ''})\n")
    return 0



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pairs", nargs="+", metavar="KEY VALUE", help="e.g. effect.name desaturate")


def main(args: argparse.Namespace) -> int:
    pairs: list[str] = args.pairs
    if len(pairs) % 2:
        raise VcamdError(f"vcamd set takes KEY VALUE pairs; {pairs[-1]!r} has no value "
                         "(e.g. vcamd set effect.name desaturate)")
    return set_changes(args, {k: parse_value(k, v) for k, v in zip(pairs[::2], pairs[1::2], strict=True)})
