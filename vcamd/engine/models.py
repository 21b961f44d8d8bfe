"""Named segmentation models: where they live, and a one-time download into the user cache.

Promises:
- ``resolve(name)`` returns the path of a usable ``.tflite`` file for a built-in name (``landscape``,
  ``general``) or a path, looking in ``$VCAMD_MODEL_DIR`` first, then the user cache dir.
- A missing built-in model is downloaded once, atomically (temp file + rename), and checked to be TFLite;
  with no network the error is one line saying where to put the file.
- ``$VCAMD_MODEL_BASE_URL`` replaces MediaPipe's model storage (used by tests and mirrors).
"""

from __future__ import annotations

import http.client
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from vcamd import files
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

BASE_URL = "https://storage.googleapis.com/mediapipe-models/image_segmenter"


@dataclass(frozen=True)
class ModelInfo:
    """A built-in model: its file name, other names it may be found under, its URL path and input size."""

    name: str
    filename: str
    aliases: tuple[str, ...]
    url_path: str
    input_size: tuple[int, int]  # (width, height)


MODELS: dict[str, ModelInfo] = {
    "landscape": ModelInfo(
        "landscape",
        "selfie_segmenter_landscape.tflite",
        ("selfie_segmentation_landscape.tflite",),
        "selfie_segmenter_landscape/float16/latest/selfie_segmenter_landscape.tflite",
        (256, 144),
    ),
    "general": ModelInfo(
        "general",
        "selfie_segmenter.tflite",
        ("selfie_segmentation.tflite",),
        "selfie_segmenter/float16/latest/selfie_segmenter.tflite",
        (256, 256),
    ),
}


#: Not a file: the segmenter picks ``landscape`` or ``general`` by the picture's shape (both are fetched).
AUTO = "auto"


class ModelError(VcamdError):
    """No usable model file."""


def cache_dir() -> Path:
    """The per-user folder models are downloaded into."""
    return Path(platformdirs.user_cache_dir("vcamd")) / "models"


def search_dirs() -> list[Path]:
    """Folders searched for built-in models, in order."""
    dirs = []
    env = os.environ.get("VCAMD_MODEL_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(cache_dir())
    return dirs


def is_tflite(data: bytes) -> bool:
    """True if ``data`` starts like a TFLite flatbuffer (file identifier ``TFL3`` at offset 4)."""
    return len(data) >= 8 and data[4:8] == b"TFL3"


def _check_file(path: Path) -> Path:
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelError(f"model {path}: cannot read it ({e.strerror})") from None
    if not is_tflite(head):
        raise ModelError(f"model {path}: not a TFLite model file; point segmentation.model at a .tflite file")
    return path


def find(name: str) -> Path | None:
    """The path of built-in model ``name`` if some search dir already has it, else None."""
    info = MODELS[name]
    for d in search_dirs():
        for fn in (info.filename, *info.aliases):
            p = d / fn
            if p.is_file():
                return p
    return None


def download(info: ModelInfo, dest_dir: Path | None = None, *, timeout: float = 30.0) -> Path:
    """Fetch ``info`` into ``dest_dir`` (default: the cache), atomically; return the final path."""
    dest_dir = dest_dir or cache_dir()
    base = os.environ.get("VCAMD_MODEL_BASE_URL", BASE_URL).rstrip("/")
    url = f"{base}/{info.url_path}"
    dest = dest_dir / info.filename
    hint = (
        f"download {url} by hand and put it in {dest_dir}, or set VCAMD_MODEL_DIR to a folder holding "
        f"{info.filename}"
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    log.debug("downloading the %s model from %s", info.name, url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise ModelError(
            f"model '{info.name}' is not on this machine and could not be downloaded ({reason}); {hint}"
        ) from None
    if not is_tflite(data):
        raise ModelError(f"model '{info.name}': {url} did not return a TFLite file; {hint}")
    files.atomic_write(dest, data)
    log.info("saved the %s model to %s (%d bytes)", info.name, dest, len(data))
    return dest


def resolve(name_or_path: str, *, allow_download: bool = True) -> Path:
    """Return a checked model file for a built-in name or a path (see module docstring)."""
    if name_or_path == AUTO:
        resolve("general", allow_download=allow_download)
        return resolve("landscape", allow_download=allow_download)
    if name_or_path in MODELS:
        found = find(name_or_path)
        if found is None:
            if not allow_download:
                info = MODELS[name_or_path]
                raise ModelError(
                    f"model '{name_or_path}' is not downloaded yet; run 'vcamd models fetch' or put "
                    f"{info.filename} in {cache_dir()}"
                )
            found = download(MODELS[name_or_path])
        return _check_file(found)
    p = Path(name_or_path).expanduser()
    if not p.is_file():
        names = ", ".join(MODELS)
        raise ModelError(
            f"model {name_or_path!r}: no such file; use one of {names} or the path of a .tflite file"
        )
    return _check_file(p)


def input_size(name_or_path: str) -> tuple[int, int] | None:
    """The (width, height) a built-in model expects, or None for a custom file (read from the model)."""
    info = MODELS.get(name_or_path)
    return info.input_size if info else None
