"""Model lookup and the one-time download, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from conftest import MODELS

from vcamd.cli import main
from vcamd.engine import models
from vcamd.engine.segmenter import Segmenter

REAL = (MODELS / "selfie_segmentation_landscape.tflite").read_bytes()
LANDSCAPE = models.MODELS["landscape"]


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/good/...`` serves the real model, ``/html/...`` a web page, ``/short/...`` a cut-off download."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        mode = self.path.split("/")[1]
        if mode == "good":
            body, length = REAL, len(REAL)
        elif mode == "html":
            body = b"<html><body>Sign in to continue</body></html>" * 10
            length = len(body)
        elif mode == "short":
            body, length = REAL[:1000], len(REAL)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No model anywhere: an empty VCAMD_MODEL_DIR (the cache is already private, see conftest)."""
    empty = tmp_path / "models"
    empty.mkdir()
    monkeypatch.setenv("VCAMD_MODEL_DIR", str(empty))
    return empty


def _cache_files() -> list[str]:
    d = models.cache_dir()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_fetch_downloads_once_and_the_model_works(
    server: str, no_models: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VCAMD_MODEL_BASE_URL", f"{server}/good")
    _Handler.requests.clear()
    assert main(["models", "fetch", "landscape"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == models.cache_dir() / LANDSCAPE.filename
    assert path.read_bytes() == REAL
    assert _Handler.requests == [f"/good/{LANDSCAPE.url_path}"]
    assert _cache_files() == [LANDSCAPE.filename]  # no temporary file left beside it
    assert models.resolve("landscape") == path  # found now: no second download
    assert main(["models", "path", "landscape"]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    assert len(_Handler.requests) == 1
    with Segmenter("landscape", video=False) as seg:  # MediaPipe loads what was downloaded
        conf = seg.segment(np.zeros((144, 256, 3), np.uint8))
    assert conf.shape == (144, 256)


@pytest.mark.parametrize(
    ("mode", "why"), [("html", "did not return a TFLite file"), ("short", "could not be downloaded"),
                      ("missing", "Not Found")]
)
def test_bad_downloads_leave_nothing(
    server: str, no_models: Path, monkeypatch: pytest.MonkeyPatch, mode: str, why: str
) -> None:
    monkeypatch.setenv("VCAMD_MODEL_BASE_URL", f"{server}/{mode}")
    with pytest.raises(models.ModelError) as err:
        models.resolve("landscape")
    message = str(err.value)
    assert why in message and "\n" not in message
    assert _cache_files() == []


def test_offline_says_where_to_put_the_file(
    no_models: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("VCAMD_MODEL_BASE_URL", f"http://127.0.0.1:{port}")
    assert main(["models", "fetch", "landscape"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vcamd: error: ")
    assert str(models.cache_dir()) in err[0] and LANDSCAPE.filename in err[0] and "VCAMD_MODEL_DIR" in err[0]
    assert _cache_files() == []


def test_path_without_download_and_list(
    no_models: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["models", "path", "general"]) == 2
    err = capsys.readouterr().err
    assert "vcamd models fetch" in err and len(err.strip().splitlines()) == 1
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().err + caplog.text
    assert "landscape" in listing and "general" in listing and "not downloaded" in listing


def test_model_dir_wins_and_paths_are_checked(tmp_path: Path) -> None:
    assert models.resolve("landscape") == MODELS / "selfie_segmentation_landscape.tflite"  # conftest's dir
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"not a model at all")
    with pytest.raises(models.ModelError, match="not a TFLite model"):
        models.resolve(str(fake))
    with pytest.raises(models.ModelError, match="no such file"):
        models.resolve(str(tmp_path / "none.tflite"))
