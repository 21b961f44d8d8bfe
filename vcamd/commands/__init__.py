"""The table of ``vcamd`` sub-commands: name -> (module, one-line summary), imported only when run.

Each module named here owns its command: ``add_arguments(parser)`` adds its options to its own
``argparse`` sub-parser and ``main(args) -> int`` runs it and returns the exit status (0 done, 1 a failure,
2 bad input). ``vcamd.cli`` builds the parser from this table, so this is the one place that lists commands;
``vcamd --help`` shows them in this order.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol, cast


class CommandModule(Protocol):
    """What a command's module provides."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def main(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Command:
    """One row of the table: the module that owns the command and what ``--help`` says of it."""

    module: str
    summary: str

    def load(self) -> CommandModule:
        """The command's module, imported now (a command's imports cost only when it runs)."""
        module: ModuleType = importlib.import_module(self.module)
        return cast(CommandModule, module)


COMMANDS: dict[str, Command] = {
    "run": Command("vcamd.commands.run", "run the daemon: webcam -> virtual camera (the default command)"),
    "process": Command("vcamd.commands.process", "apply an effect to image or video files"),
    "effect": Command("vcamd.commands.effect", "switch effect (blur, image, desaturate, ...)"),
    "set": Command("vcamd.commands.set", "change settings; a running vcamd applies them"),
    "next": Command("vcamd.commands.control", "running vcamd: the next background picture"),
    "prev": Command("vcamd.commands.control", "running vcamd: the previous background picture"),
    "pause": Command("vcamd.commands.control", "running vcamd: camera paused (privacy on)"),
    "resume": Command("vcamd.commands.control", "running vcamd: camera back on (privacy off)"),
    "status": Command("vcamd.commands.status", "running vcamd: its status line"),
    "preview": Command("vcamd.commands.preview", "a window showing what apps receive, live"),
    "doctor": Command("vcamd.commands.doctor", "check the set-up and print a fix for each problem"),
    "devices": Command("vcamd.commands.devices", "list cameras and virtual cameras"),
    "setup": Command("vcamd.commands.setup",
                     "Linux desktop: install what the tray and the PipeWire camera need"),
    "config": Command("vcamd.commands.config", "the settings file: init, path, check, show"),
    "autostart": Command("vcamd.commands.autostart", "start at login: enable, disable, status"),
    "models": Command("vcamd.commands.models", "segmentation models: list, path, fetch"),
    "bench": Command("vcamd.commands.bench", "time vcamd against the naive pipeline"),
}
