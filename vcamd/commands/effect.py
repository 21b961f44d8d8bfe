"""``vcamd effect NAME``: ``vcamd set effect.name NAME``; ``image`` with no background set takes the
backgrounds folder's first picture, as the tray's Replace does."""

from __future__ import annotations

import argparse

from vcamd import config, effect_kinds
from vcamd.commands.set import set_changes
from vcamd.engine import effects
from vcamd.service import control as ctl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=", ".join(effect_kinds.NAMES))  # checked as the file is: one line if bad


def main(args: argparse.Namespace) -> int:
    cfg = config.load(config.path_or_default(args.config))
    images = effects.list_images(cfg.effect.backgrounds_dir)
    return set_changes(args, ctl.effect_changes(cfg, args.name, images))
