"""Shared test set-up: real data and models from ../shared, and a private HOME for config and cache."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmarks' harness and metrics serve the tests too
SHARED = Path(os.environ.get("VCAMD_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
MODELS = SHARED / "models"
os.environ["VCAMD_MODEL_DIR"] = str(MODELS)
os.environ.setdefault("GLOG_minloglevel", "2")

AISEGMENT = sorted((DATA / "images" / "aisegment").glob("*.jpg"))
VIDEOS = DATA / "videos"
ARTIFACTS = ROOT / "tests" / "artifacts"

if not AISEGMENT:
    raise RuntimeError(f"test data not found at {DATA}; the tests need ../shared/data beside the checkout")


def gt_mask(image: Path) -> np.ndarray:
    """The ground-truth matte (uint8, 255 = person) of a ../shared/data image."""
    p = Path(str(image).replace("/images/", "/masks/")).with_suffix(".png")
    m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
    assert m is not None, p
    return m


def detail(img: np.ndarray, where: np.ndarray) -> float:
    """How much fine detail (mean absolute Laplacian of the grey picture) ``img`` has where ``where`` is True;
    a blur brings it down."""
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_64F))[where].mean())


@pytest.fixture(autouse=True)
def _private_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Keep every test away from the real user's config, cache and state."""
    home = tmp_path_factory.mktemp("home")
    dirs = {"XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache", "XDG_STATE_HOME": ".state",
            "XDG_RUNTIME_DIR": "run"}
    for var, sub in dirs.items():
        (home / sub).mkdir(mode=0o700)  # platformdirs ignores a runtime dir others may read
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("VCAMD_INSTANCE", home.name)  # this test's own "one daemon per user" lock
    yield
    # vcamd.cli.main run in this process logs to the stderr it found: pytest's capture, closed after the test
    for handler in logging.root.handlers[:]:
        if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
            logging.root.removeHandler(handler)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """A folder for pictures a person may want to look at after the run (tests/artifacts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
