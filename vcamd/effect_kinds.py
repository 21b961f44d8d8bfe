"""What effects there are: the one table of their names, menu labels and what each needs from the settings.

Promises:
- :data:`KINDS` is the only list of effects. The settings file's ``effect.name`` accepts exactly
  :data:`NAMES`; the tray's Effect menu shows the kinds that have a ``label``, in this order; the command
  line's ``--effect`` choices are :data:`NAMES`; the engine draws each kind with the class its registry
  (:mod:`vcamd.engine.effects`) gives that name, and refuses to load if a kind has none.
- It sits below the settings (the file's vocabulary is the settings' concern, and they sit below the engine),
  and imports nothing of vcamd's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One effect: its ``effect.name``, its label in the tray ("" = not in the menu), the setting it needs
    ("background", "backgrounds_dir", "color" or ""), what it does, and whether it gives a picture with
    alpha (files only: a camera has none)."""

    name: str
    label: str
    needs: str
    does: str
    alpha: bool = False


KINDS: tuple[Kind, ...] = (
    Kind("blur", "Blur", "", "the background blurred (effect.blur_strength)"),
    Kind("image", "Replace", "background", "a picture behind you (effect.background)"),
    Kind("video", "", "background", "a video behind you (effect.background)"),
    Kind("slideshow", "", "backgrounds_dir", "the pictures of effect.backgrounds_dir in turn"),
    Kind("desaturate", "Desaturate", "", "the background in grey"),
    Kind("color", "Colour", "color", "a plain colour behind you (effect.color)"),
    Kind("none", "Off", "", "the camera as it is"),
    Kind("mask", "", "color", "you in white on effect.color"),
    Kind("transparent", "", "", "you on a transparent background: for files (a camera has no alpha: apps "
         "get the plain picture)", alpha=True),
)
NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
#: The kinds that show a picture or video of another place (the tray's Replace stands for them all).
REPLACING: tuple[str, ...] = tuple(k.name for k in KINDS if k.needs in ("background", "backgrounds_dir"))
