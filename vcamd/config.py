"""The TOML settings file: pydantic models, loading with one-line errors, and saving that keeps comments.

Promises:
- ``load(path)`` returns a fully validated :class:`Config` or raises :class:`ConfigError` whose message is one
  line naming the file, the key, the bad value and what is allowed.
- Unknown keys are errors (they are almost always typos).
- ``update_file(path, changes)`` writes dotted-key changes back with tomlkit, keeping the user's comments and
  layout, validates the result first, and replaces the file atomically.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

import platformdirs
import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vcamd.errors import VcamdError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "vcamd"

EffectName = Literal[
    "blur", "image", "video", "slideshow", "desaturate", "color", "none", "mask", "transparent"
]
EFFECTS: tuple[str, ...] = EffectName.__args__  # type: ignore[attr-defined]


class ConfigError(VcamdError):
    """A settings file (or a settings change) that cannot be used; the message is one line."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


_COLOR_RE = re.compile(r"^#?[0-9a-fA-F]{6}$")
_NAMED_COLORS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "green": (0, 177, 64),
    "blue": (0, 71, 187),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "red": (220, 20, 60),
}


def parse_color(text: str) -> tuple[int, int, int]:
    """Return ``(b, g, r)`` for ``#rrggbb``, ``rrggbb`` or a few names; raise ValueError otherwise."""
    t = text.strip().lower()
    if t in _NAMED_COLORS:
        r, g, b = _NAMED_COLORS[t]
        return (b, g, r)
    if not _COLOR_RE.match(t):
        names = ", ".join(sorted(_NAMED_COLORS))
        raise ValueError(f"colour {text!r} is not #rrggbb or one of {names}")
    t = t.lstrip("#")
    r, g, b = int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16)
    return (b, g, r)


class CameraSettings(_Section):
    """The physical webcam (or a video file / URL standing in for one)."""

    device: str = "0"
    width: int = Field(1280, ge=64, le=7680)
    height: int = Field(720, ge=48, le=4320)
    fps: float = Field(30.0, gt=0, le=240)
    fourcc: str = Field("MJPG", min_length=4, max_length=4)
    mirror: bool = False


class OutputSettings(_Section):
    """The virtual camera apps see. Zero width/height/fps means: the camera's."""

    name: str = Field("VBG Camera", min_length=1)
    backend: Literal["auto", "v4l2loopback", "obs", "unitycapture"] | str = "auto"
    device: str = ""
    width: int = Field(0, ge=0, le=7680)
    height: int = Field(0, ge=0, le=4320)
    fps: float = Field(0.0, ge=0, le=240)


class EffectSettings(_Section):
    """What happens to the background."""

    name: EffectName = "blur"
    blur_strength: int = Field(60, ge=1, le=100)
    background: str = ""
    backgrounds_dir: str = ""
    interval: float = Field(30.0, gt=0)
    color: str = "#00b140"
    mirror: bool = False
    light_wrap: float = Field(0.0, ge=0.0, le=1.0)

    @field_validator("color")
    @classmethod
    def _check_color(cls, v: str) -> str:
        parse_color(v)
        return v


class SegmentationSettings(_Section):
    """How the person is found and how the matte is shaped."""

    model: str = "landscape"
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    softness: float = Field(0.3, ge=0.0, le=1.0)
    smoothing: float = Field(0.5, ge=0.0, lt=1.0)
    refine: bool = True


class DaemonSettings(_Section):
    """Living all day: pausing, privacy and stats."""

    pause_when_unused: bool = True
    idle_fps: float = Field(2.0, gt=0, le=30)
    privacy: bool = False
    privacy_image: str = ""
    stats: bool = False


class TraySettings(_Section):
    """The tray icon."""

    enabled: bool = True


class Config(_Section):
    """The whole settings file."""

    camera: CameraSettings = Field(default_factory=CameraSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    effect: EffectSettings = Field(default_factory=EffectSettings)
    segmentation: SegmentationSettings = Field(default_factory=SegmentationSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    tray: TraySettings = Field(default_factory=TraySettings)


def default_path() -> Path:
    """Where the settings file lives for this user (``$XDG_CONFIG_HOME/vcamd/config.toml`` on Linux)."""
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def _describe(err: ValidationError, where: str, data: dict[str, Any] | None = None) -> str:
    """One line for the first error of a ValidationError: file, dotted key, bad value, what is allowed."""
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"])
    if e["type"] == "extra_forbidden":
        return f"{where}: unknown key '{key}' (a typo?); see config.example.toml for the keys"
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    value = e.get("input")
    return f"{where}: {key} = {value!r} is invalid: {msg}"


def validate(data: dict[str, Any], where: str = "config") -> Config:
    """Build a Config from plain data, raising ConfigError with one line on the first problem."""
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, where)) from None


def load(path: Path | None = None, *, missing_ok: bool = True) -> Config:
    """Read and validate ``path`` (default: the user's file). A missing file gives the defaults if allowed."""
    p = Path(path) if path is not None else default_path()
    if not p.exists():
        if missing_ok:
            return Config()
        raise ConfigError(f"{p}: no such file; create it with: vcamd config init")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read it ({e.strerror}); check its permissions") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return validate(data, str(p))


def apply_changes(cfg: Config, changes: dict[str, Any]) -> Config:
    """A new Config with dotted-key ``changes`` (``{"effect.name": "blur"}``) applied and validated."""
    data = cfg.model_dump()
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if section not in data or not key:
            raise ConfigError(f"unknown setting '{dotted}'")
        data[section][key] = value
    return validate(data, "setting")


def update_file(path: Path, changes: dict[str, Any]) -> Config:
    """Write dotted-key ``changes`` into the TOML file at ``path``, keeping its comments; return the result.

    The file is created if missing. The result is validated before anything is written, and the file is
    replaced atomically, so a reader never sees half a file.
    """
    p = Path(path)
    doc = tomlkit.parse(p.read_text(encoding="utf-8")) if p.exists() else tomlkit.document()
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if section not in doc:
            doc[section] = tomlkit.table()
        doc[section][key] = value
    new_text = tomlkit.dumps(doc)
    cfg = validate(tomllib.loads(new_text), str(p))
    atomic_write_text(p, new_text)
    return cfg


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
