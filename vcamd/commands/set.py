"""``vcamd set KEY VALUE [KEY VALUE ...]``: change settings; a running vcamd applies them (see
:mod:`vcamd.commands.control` for the promises)."""

from __future__ import annotations

import argparse

from vcamd.commands.control import parse_value, set_changes
from vcamd.errors import VcamdError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pairs", nargs="+", metavar="KEY VALUE", help="e.g. effect.name desaturate")


def main(args: argparse.Namespace) -> int:
    pairs: list[str] = args.pairs
    if len(pairs) % 2:
        raise VcamdError(f"vcamd set takes KEY VALUE pairs; {pairs[-1]!r} has no value "
                         "(e.g. vcamd set effect.name desaturate)")
    return set_changes(args, {k: parse_value(k, v) for k, v in zip(pairs[::2], pairs[1::2], strict=True)})
