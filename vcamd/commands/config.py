"""``vcamd config init | path | check | show``: the settings file from the command line.

Promises (output on stdout is the product; problems are one-line :class:`VcamdError`, exit 2):
- ``init`` writes the documented file (every key, its default, a comment) and refuses to overwrite without
  ``--force``.
- ``path`` prints where the file is (``--config`` or the user config dir), whether or not it exists.
- ``check`` validates the file and builds its effect (so a missing background picture shows now), and
  prints ``ok: PATH``.
- ``show`` prints every setting in force: the file's values, defaults for the rest.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vcamd import config, files
from vcamd.engine import effects, models
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)


def init(path: Path, force: bool = False) -> None:
    """Write the documented settings file at ``path``."""
    if path.exists() and not force:
        raise VcamdError(f"{path} exists already; edit it, or overwrite it with: vcamd config init --force")
    files.atomic_write(path, config.render_example())
    log.info("wrote %s; a running vcamd applies your edits within a second", path)


def check(path: Path) -> config.Config:
    """Validate ``path`` and build what its settings name; raise VcamdError on the first problem."""
    cfg = config.load(path, missing_ok=False)
    try:
        check_files(cfg)
    except VcamdError as e:
        raise VcamdError(f"{path}: {e}") from None
    return cfg


def check_files(cfg: config.Config) -> None:
    """Build what the settings name (the effect's files, a model path); raise VcamdError if one is bad."""
    effects.build(cfg.effect).close()
    if cfg.segmentation.model not in (*models.MODELS, models.AUTO):  # a path: it must be there
        models.resolve(cfg.segmentation.model, allow_download=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["init", "path", "check", "show"])
    parser.add_argument("--force", action="store_true", help="init: overwrite an existing file")


def main(args: argparse.Namespace) -> int:
    path = config.path_or_default(args.config)
    if args.action == "init":
        init(path, args.force)
    elif args.action == "path":
        sys.stdout.write(f"{path}\n")
    elif args.action == "check":
        check(path)
        sys.stdout.write(f"ok: {path}\n")
    elif args.action == "show":
        where = str(path) if path.exists() else f"defaults ({path} does not exist)"
        sys.stdout.write(f"# settings in force: {where}\n{config.to_toml(config.load(path))}")
    return 0
