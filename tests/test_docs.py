"""The documents: a README for users that fits its promise (short, install and start on the first screen),
links that lead somewhere, and commands that exist."""

from __future__ import annotations

import re

from conftest import ROOT

from vcamd import __version__
from vcamd.commands import COMMANDS

DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_short_and_its_first_screen_says_what_how_and_where() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    first = "\n".join(lines[:16])
    assert "VBG Camera" in first and "docs/before-after.png" in first
    assert "pipx install" in first and "vcamd run" in first and "pick" in first


def test_relative_links_and_pictures_lead_to_files() -> None:
    for doc in DOCS:
        text = doc.read_text()
        targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)", text) + re.findall(r'src="([^"]+)"', text)
        for target in targets:
            if not target.startswith(("http://", "https://")):
                assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def test_every_command_the_readme_shows_exists() -> None:
    text = (ROOT / "README.md").read_text()
    code = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S))
    shown = set(re.findall(r"^vcamd ([a-z]+)", code, re.M) + re.findall(r"`vcamd ([a-z]+)", text))
    assert shown and shown <= set(COMMANDS), shown - set(COMMANDS)
    assert {"run", "setup", "doctor", "effect", "set", "status", "process"} <= shown


def test_the_changelog_keeps_the_usual_form() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert versions[0] == "Unreleased"
    assert __version__ in versions
    kinds = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    assert set(re.findall(r"^### (\w+)", text, re.M)) <= kinds
