"""``vcamd models list | path | fetch [NAME]``: the segmentation models.

Promises: ``list`` names each built-in model, its input size and where it is (or "not downloaded");
``path`` prints the file each named model resolves to (``VCAMD_MODEL_DIR``, the cache, or a path given),
never downloading; ``fetch`` downloads what is missing into the cache and prints the paths. A model that
is not there, or cannot be fetched (offline), is one line ``vcamd: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from vcamd.engine import models

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "path", "fetch"])
    parser.add_argument("name", nargs="?", default=models.AUTO,
                        help="auto (both built-in models), a name, or a path")


def main(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name, info in models.MODELS.items():
            found = models.find(name)
            w, h = info.input_size
            log.info("%-10s %dx%d  %s", name, w, h, found or "not downloaded")
        return 0
    names = list(models.MODELS) if args.name == models.AUTO else [args.name]
    for name in names:
        sys.stdout.write(f"{models.resolve(name, allow_download=args.action == 'fetch')}\n")
    return 0
