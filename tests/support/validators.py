"""The real validators the packaging and autostart tests run: desktop-file-validate, systemd-analyze."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def desktop_validate(path: Path) -> None:
    """Assert that ``desktop-file-validate`` accepts ``path`` without a warning (skip if it is missing)."""
    exe = shutil.which("desktop-file-validate")
    if not exe:
        pytest.skip("desktop-file-validate is missing (Debian: desktop-file-utils)")
    r = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def systemd_verify(unit: Path) -> None:
    """Assert that ``systemd-analyze --user verify`` accepts ``unit`` silently (skip where it cannot run)."""
    exe = shutil.which("systemd-analyze")
    if not exe:
        pytest.skip("systemd-analyze is not installed")
    r = subprocess.run([exe, "--user", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    if "Failed to initialize manager" in r.stderr or "Failed to lookup" in r.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
