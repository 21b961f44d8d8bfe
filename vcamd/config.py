"""The TOML settings file: pydantic models, loading with one-line errors, and saving that keeps comments.

Promises:
- ``load(path)`` returns a fully validated :class:`Config` or raises :class:`ConfigError` whose message is one
  line naming the file, the key, the bad value and what is allowed.
- Unknown keys are errors (they are almost always typos).
- ``update_file(path, changes)`` writes dotted-key changes back with tomlkit, keeping the user's comments and
  layout, validates the result first, and replaces the file atomically; a file that cannot be read or parsed
  is a ConfigError, never another exception.
- ``render_example()`` is the documented file (every key, its default and a comment), built from the field
  descriptions below; ``config.example.toml`` and ``vcamd config init`` are exactly this text.
"""

from __future__ import annotations

import difflib
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

import platformdirs
import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vcamd import effect_kinds, files
from vcamd.errors import VcamdError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "vcamd"

MIN_OUTPUT_SIDE = 16  # smaller rounds to nothing once made even for I420
#: The largest virtual camera: 4K at 60 fps (what apps take; a camera's larger frames are scaled down to it).
MAX_OUTPUT_WIDTH, MAX_OUTPUT_HEIGHT, MAX_OUTPUT_FPS = 3840, 2160, 60.0


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

    device: str = Field(
        "0",
        description='Which camera: an index ("0"), a device path ("/dev/video0"), or a video file or URL '
        "standing in for a camera (a file plays at its own frame rate and loops). See: vcamd devices.",
    )
    width: int = Field(
        1280, ge=64, le=7680, description="Width to ask the camera for; the log says what it gave."
    )
    height: int = Field(720, ge=48, le=4320, description="Height to ask the camera for.")
    fps: float = Field(30.0, gt=0, le=240, description="Frame rate to ask the camera for.")
    fourcc: str = Field(
        "MJPG",
        min_length=4,
        max_length=4,
        description='Pixel format to ask the camera for: "MJPG" gives most USB webcams 30 fps at 720p and '
        '1080p; "YUYV" is uncompressed and slower over USB.',
    )


class OutputSettings(_Section):
    """The virtual camera apps see. Zero width/height/fps means: the camera's."""

    name: str = Field(
        "VBG Camera",
        min_length=1,
        description="The name apps list. Linux: the card_label of a v4l2loopback device; Windows: a Unity "
        'Capture device name, or "OBS Virtual Camera"; macOS: OBS\'s camera is always "OBS Virtual Camera".',
    )
    backend: Literal["auto", "v4l2loopback", "pipewire", "obs", "unitycapture", "none"] | str = Field(
        "auto",
        description='"auto": on Linux the v4l2loopback device and the PipeWire camera, whichever can work '
        '(both at once), Unity Capture (or OBS for "OBS Virtual Camera") on Windows, OBS on macOS; '
        '"pipewire": only the PipeWire camera (no kernel module); "none": no virtual camera, only `vcamd '
        'preview` shows the frames; or the name of a pyvirtualcam backend.',
    )
    device: str = Field(
        "", description='A device to use instead of finding one by name, e.g. "/dev/video10" on Linux.'
    )
    width: int = Field(
        0, ge=0, le=MAX_OUTPUT_WIDTH,
        description="Width sent to apps, at most 3840; 0 = the camera's. A change of width, height or fps "
        "while an app reads the camera waits until no app reads it (the call keeps its video).",
    )
    height: int = Field(0, ge=0, le=MAX_OUTPUT_HEIGHT, description="Height sent to apps, at most 2160; 0 = "
                        "the camera's.")
    fps: float = Field(0.0, ge=0, le=MAX_OUTPUT_FPS, description="Frame rate announced to apps, at most 60; "
                       "0 = the camera's.")

    @field_validator("width", "height")
    @classmethod
    def _check_size(cls, v: int) -> int:
        if 0 < v < MIN_OUTPUT_SIDE:
            raise ValueError(f"0 (the camera's) or at least {MIN_OUTPUT_SIDE} pixels")
        return v


class EffectSettings(_Section):
    """What happens to the background."""

    name: str = Field(
        "blur", description="; ".join(f"{k.name}: {k.does}" for k in effect_kinds.KINDS) + ".",
    )
    blur_strength: int = Field(60, ge=1, le=100, description="How blurred the background is, 1..100.")
    background: str = Field("", description="The picture (effect image) or video (effect video) behind you.")
    backgrounds_dir: str = Field("", description="A folder of pictures for effect slideshow.")
    interval: float = Field(30.0, gt=0, description="Seconds each slideshow picture stays.")
    color: str = Field(
        "#00b140", description="#rrggbb, or black, white, green, blue, gray, red: for effect color and mask."
    )
    mirror: bool = Field(False, description="Show yourself as in a mirror (flip left-right).")
    light_wrap: float = Field(
        0.6, ge=0.0, le=1.0,
        description="For image, video and slideshow: how much of the background's light bleeds onto your "
        "edge (a few pixels), so you sit in the picture rather than on it; 0 = none.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if v not in effect_kinds.NAMES:
            *most, last = (repr(n) for n in effect_kinds.NAMES)
            raise ValueError(f"Input should be {', '.join(most)} or {last}")
        return v

    @field_validator("color")
    @classmethod
    def _check_color(cls, v: str) -> str:
        parse_color(v)
        return v


class SegmentationSettings(_Section):
    """How the person is found and how the matte is shaped."""

    model: str = Field(
        "auto",
        description='"auto" (landscape for wide pictures, general for 4:3, square and portrait ones), '
        '"landscape" (256x144, fastest), "general" (256x256), or the path of a .tflite model.',
    )
    threshold: float = Field(
        0.6, gt=0.0, lt=1.0, description="Model confidence at the middle of your edge; higher = tighter."
    )
    softness: float = Field(
        0.2, ge=0.0, le=1.0, description="Confidence width of the soft edge around you; 0 = hard."
    )
    smoothing: float = Field(
        0.97, ge=0.0, lt=1.0,
        description="Steadiness against flicker from frame to frame; 0 = none. With refine, it only "
        "holds still parts of the picture: moving edges follow at once.",
    )
    refine: bool = Field(
        True,
        description="Look closer at you (a crop around you), snap the matte's edges to the camera picture, "
        "and smooth only where the picture is still.",
    )
    runtime: Literal["litert", "mediapipe"] = Field(
        "litert",
        description='What runs the model: "litert" (Google AI Edge LiteRT, offline and quiet) or "mediapipe" '
        "(MediaPipe Tasks: needs pip install 'vcamd[mediapipe]'; its PyPI wheels send usage statistics to "
        "Google).",
    )


class FramingSettings(_Section):
    """Auto-framing: a virtual camera operator that keeps your head and shoulders centred."""

    auto: bool = Field(
        False,
        description="Crop and zoom the camera picture smoothly so your head and shoulders stay centred at a "
        "steady size (the picture apps get keeps its size).",
    )
    zoom: float = Field(
        1.5, ge=1.0, le=2.0,
        description="The most it may zoom in, 1.0..2.0 (the crop is at least 1/zoom of the picture).",
    )
    speed: float = Field(
        1.0, ge=0.25, le=4.0,
        description="How fast the crop follows you, 0.25..4 (1: centred again within a second).",
    )


class DaemonSettings(_Section):
    """Living all day: pausing, privacy and stats."""

    pause_when_unused: bool = Field(
        True,
        description="Linux: when no app reads the virtual camera, release the webcam (its light goes off) "
        "and send a still frame; an app opening it gets live video again within a second.",
    )
    idle_fps: float = Field(
        2.0, gt=0, le=30, description="Frame rate of still frames: paused, privacy, camera missing "
        "(paused with no app reading: for 2 s, then one every 5 s)."
    )
    privacy: bool = Field(
        False, description='Send a "camera paused" card (or privacy_image) and release the webcam.'
    )
    privacy_image: str = Field("", description="A picture to send while privacy is on; empty = the card.")
    stats: bool = Field(False, description="Log fps, per-stage ms and dropped frames every 5 s (as --stats).")


class TraySettings(_Section):
    """The tray icon."""

    enabled: bool = Field(True, description="Show a tray icon (vcamd run --no-tray overrides it).")


class Config(_Section):
    """The whole settings file."""

    camera: CameraSettings = Field(default_factory=CameraSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    effect: EffectSettings = Field(default_factory=EffectSettings)
    segmentation: SegmentationSettings = Field(default_factory=SegmentationSettings)
    framing: FramingSettings = Field(default_factory=FramingSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    tray: TraySettings = Field(default_factory=TraySettings)


def default_path() -> Path:
    """Where the settings file lives for this user (``$XDG_CONFIG_HOME/vcamd/config.toml`` on Linux)."""
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def path_or_default(path: str | Path | None) -> Path:
    """``path`` (from ``--config``) if given, else the user's settings file."""
    return Path(path) if path else default_path()


def get(cfg: Config, dotted: str) -> Any:
    """The value of a dotted setting (``"effect.name"``)."""
    section, _, key = dotted.partition(".")
    return getattr(getattr(cfg, section), key)


def _describe(err: ValidationError, where: str, data: dict[str, Any] | None = None) -> str:
    """One line for the first error of a ValidationError: file, dotted key, bad value, what is allowed."""
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"])
    value = e.get("input")
    if e["type"] == "extra_forbidden":
        hint = _did_you_mean(e["loc"])
        return f"{where}: unknown key {key} = {value!r}{hint}; {_known_keys(e['loc'][:-1])}"
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{where}: {key} = {value!r} is invalid: {msg}"


def _section(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The settings model of the section at ``loc`` (the whole file if empty)."""
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        sub = field.annotation if field is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            break
        model = sub
    return model


def _known_keys(loc: tuple[int | str, ...]) -> str:
    """``"effect takes: name, blur_strength, ..."`` for the section at ``loc`` (the top level if empty)."""
    where = ".".join(str(p) for p in loc) or "the file"
    return f"{where} takes: {', '.join(_section(loc).model_fields)}"


def _did_you_mean(loc: tuple[int | str, ...]) -> str:
    """``" (did you mean effect.name?)"`` for the unknown key at ``loc``; ``" (a typo?)"`` if none is near."""
    near = difflib.get_close_matches(str(loc[-1]), _section(loc[:-1]).model_fields, n=1)
    return f" (did you mean {'.'.join([*map(str, loc[:-1]), near[0]])}?)" if near else " (a typo?)"


def validate(data: dict[str, Any], where: str = "config") -> Config:
    """Build a Config from plain data, raising ConfigError with one line on the first problem."""
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, where)) from None


def load(path: Path | None = None, *, missing_ok: bool = True) -> Config:
    """Read and validate ``path`` (default: the user's file). A missing file gives the defaults if allowed."""
    p = path_or_default(path)
    if not p.exists():
        if missing_ok:
            return Config()
        raise ConfigError(f"{p}: no such file; create it with: vcamd config init")
    return validate(_parse(p, read_text(p)), str(p))


def read_text(p: Path) -> str:
    """The text of settings file ``p``; ConfigError (one line) if it cannot be read or is not UTF-8."""
    try:
        return p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read it ({e.strerror}); check its permissions") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None


def _parse(p: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None


def apply_changes(cfg: Config, changes: dict[str, Any]) -> Config:
    """A new Config with dotted-key ``changes`` (``{"effect.name": "blur"}``) applied and validated."""
    data = cfg.model_dump()
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if section not in data or not key:
            near = difflib.get_close_matches(section, data, n=1) if key else []
            hint = f" (did you mean {near[0]}.{key}?)" if near else ""
            raise ConfigError(f"unknown setting '{dotted}'{hint}; settings are SECTION.KEY, "
                              f"{_known_keys(())}")
        data[section][key] = value
    return validate(data, "setting")


def update_file(path: Path, changes: dict[str, Any]) -> Config:
    """Write dotted-key ``changes`` into the TOML file at ``path``, keeping its comments; return the result.

    The file is created if missing. The result is validated before anything is written, and the file is
    replaced atomically, so a reader never sees half a file.
    """
    p = Path(path)
    text = read_text(p) if p.exists() else ""
    _parse(p, text)  # a one-line ConfigError for a broken file, before anything changes
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if section not in doc:
            doc[section] = tomlkit.table()
        doc[section][key] = value
    new_text = tomlkit.dumps(doc)
    cfg = validate(tomllib.loads(new_text), str(p))
    files.atomic_write(p, new_text)
    return cfg


def changed_sections(old: Config, new: Config) -> set[str]:
    """The names of the sections (``camera``, ``effect``, ...) whose settings differ."""
    return {name for name in Config.model_fields if getattr(old, name) != getattr(new, name)}


def to_toml(cfg: Config) -> str:
    """Every setting of ``cfg`` as TOML text."""
    return tomlkit.dumps(cfg.model_dump())


EXAMPLE_HEADER = """\
# vcamd settings: every key with its default, and what it does.
# Where it lives: vcamd config path. Start yours with: vcamd config init. Check it with: vcamd config check.
# A running daemon applies an edit within a second; a bad value is logged and the last good settings stay.
"""


def _comment(text: str) -> str:
    return "".join(f"# {line}\n" for line in textwrap.wrap(" ".join(text.split()), 100))


def render_example() -> str:
    """The documented settings file: each section and key with a comment, set to its default."""
    parts = [EXAMPLE_HEADER]
    defaults = Config()
    for section in Config.model_fields:
        settings = getattr(defaults, section)
        parts.append(f"\n[{section}]\n{_comment(type(settings).__doc__ or '')}")
        for key, field in type(settings).model_fields.items():
            parts.append(f"\n{_comment(field.description or '')}{key} = ")
            parts.append(f"{tomlkit.item(getattr(settings, key)).as_string()}\n")
    return "".join(parts)
