"""The package by role, and imports in one direction (docs/architecture.md, "The layers").

commands -> desktop -> service -> (outputs, engine) -> (config, media) -> (files, errors); the engine's stages
import none of their siblings (only the shared types and the model files); the frame engine loads no device,
tray or daemon code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vcamd"

#: Higher imports lower, never the other way; equal ranks are siblings that must not import each other.
RANKS = {
    "__main__": 7, "cli": 6,
    "commands": 5,
    "desktop": 4,
    "service": 3,
    "outputs": 2, "engine": 2,
    "config": 1, "media": 1, "frames": 1,
    "files": 0, "errors": 0, "distro": 0, "effect_kinds": 0, "": 0,  # "": the package itself (__version__)
}
#: Inside the engine: the stages see only the shared types, the model files and the model runtimes (with
#: the rewrite of the model's graph they load); the pipeline sees all.
ENGINE_BASE = {"types", "models", "runtimes", "graph_rewrite"}
ENGINE_STAGES = {"segmenter", "matte", "effects", "compositor"}


def _part(module: str) -> str:
    """The role of ``vcamd.X.Y``: X ("" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every vcamd import in ``path``, at any depth (lazy imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "vcamd"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "vcamd":
            if node.module == "vcamd":  # from vcamd import config, media: each name is a module
                found += [(node.lineno, f"vcamd.{a.name}") for a in node.names if a.name != "__version__"]
                found += [(node.lineno, "vcamd") for a in node.names if a.name == "__version__"]
            else:
                found.append((node.lineno, node.module))
                # from vcamd.engine import effects: the names may be modules of that package
                pkg = PACKAGE.parent.joinpath(*node.module.split("."))
                found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                          if (pkg / f"{a.name}.py").exists()]
    return found


def violations() -> list[str]:
    """Every import of the tree that runs against the direction, as ``file:line: a -> b``."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = _module_name(path)
        mine = _part(me)
        for line, target in _imports(path):
            theirs = _part(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line}: {me} -> {target}"
            if theirs not in RANKS:
                bad.append(f"{where} (unknown part {theirs!r}: add it to RANKS)")
            elif mine == theirs:
                if mine == "engine" and not _engine_ok(me, target):
                    bad.append(f"{where} (an engine stage imports a sibling stage)")
            elif RANKS[theirs] >= RANKS[mine]:
                bad.append(where)
    return bad


def _engine_ok(me: str, target: str) -> bool:
    """A stage is vcamd.engine.X or a module of the package vcamd.engine.X: its modules see each other."""
    mine, theirs = (m.split(".")[2] if m.count(".") >= 2 else "" for m in (me, target))
    if mine == "pipeline" or theirs in ENGINE_BASE or target == "vcamd.engine" or mine == theirs:
        return True
    return mine not in ENGINE_STAGES | ENGINE_BASE


def test_every_module_has_a_role() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir()
                                                      and (p / "__init__.py").exists()}
    assert top - {"__init__"} <= set(RANKS), sorted(top - set(RANKS))


def test_imports_run_one_way() -> None:
    assert violations() == []


def test_the_check_finds_a_wrong_way_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule can fail: a service module importing the tray, an effect importing the matte."""
    fake = tmp_path / "vcamd"
    for part in ("service", "desktop", "engine"):
        (fake / part).mkdir(parents=True)
        (fake / part / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "desktop" / "tray.py").write_text("")
    (fake / "engine" / "matte.py").write_text("")
    (fake / "service" / "daemon.py").write_text("def f():\n    from vcamd.desktop.tray import Tray\n")
    (fake / "engine" / "effects.py").write_text("from vcamd.engine import matte\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = violations()
    assert any("vcamd.service.daemon -> vcamd.desktop.tray" in v for v in found), found
    assert any("sibling stage" in v and "effects" in v for v in found), found


def test_the_engine_loads_no_device_tray_or_daemon_code() -> None:
    code = (
        "import sys, vcamd.engine.pipeline\n"
        "parts = ('vcamd.service', 'vcamd.outputs', 'vcamd.desktop', 'vcamd.commands')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyvirtualcam', 'pystray', 'gi')\n"
        "             or m.startswith(parts))\n"
        "print(bad)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout.strip() == "[]", r.stdout


def test_the_daemons_parts_do_not_import_the_daemon() -> None:
    """The daemon wires its parts (the output guard, the settings monitor, the camera, ...); none imports it
    back, so each can be read and tested on its own."""
    for path in sorted((PACKAGE / "service").glob("*.py")):
        if path.stem != "daemon":
            assert "vcamd.service.daemon" not in {m for _, m in _imports(path)}, path.name
