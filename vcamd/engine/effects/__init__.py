"""Backgrounds: what is shown behind the person. The registry of effects, and :func:`build`.

Modules: :mod:`.base` (the Effect base class, its Loader, reading pictures), :mod:`.stills` (drawn from the
frame or one picture: blur, colour, mask, desaturate, image, none, transparent), :mod:`.loaded` (decoded
while they show: slideshow, video).

Promises:
- :data:`REGISTRY` gives each kind of effect (:data:`vcamd.effect_kinds.KINDS`: name, label, what it needs)
  the class that draws it; importing this package fails if a kind has no class, or a class no kind.
- Every effect's ``render(frame, matte, t, size)`` returns a BGR uint8 background of ``size`` (w, h; default
  the frame's) in a buffer the effect reuses, where ``t`` is the stream time in seconds; with auto-framing
  ``frame`` is the part of the camera frame shown (a view), and a picture background is not zoomed with it.
- Files are read and resized when the effect is built or the output size changes, never per frame (a
  background video decodes one frame per output frame at most, at the output's frame rate, and loops; one
  smaller than the output is enlarged into the frame's background as the other effects draw theirs).
- An effect holds what it shows, not the file it came from: a picture fitted to the output, a video's
  frames in a few reused buffers.
- The video and slideshow effects decode through a :class:`Loader` given to :func:`build`: the default one
  decodes when asked, on the caller's thread (``vcamd process``: every frame exact, in order); the daemon
  gives one that decodes on a helper thread (:mod:`vcamd.service.loader`; the engine itself starts no
  threads), so its worker never waits for a file: until a new picture is ready the previous one shows.
- Time runs from the effect's first frame: a video background starts at its first frame, a slideshow at
  its first picture, whenever the effect is switched on; a video background seeks (never decodes forward
  from the start) when it jumps or loops.
- A missing or unreadable file raises :class:`EffectError` with one line naming the file and the fix, at
  build time, so a bad setting never reaches the running stream. A file that goes bad later (deleted,
  corrupted) makes ``render`` raise EffectError, unless the previous picture can stay (slideshow).
"""

from __future__ import annotations

from vcamd import effect_kinds
from vcamd.config import EffectSettings
from vcamd.engine.effects.base import Effect, EffectError, Loader, LoaderFactory, list_images, read_image
from vcamd.engine.effects.loaded import SlideshowEffect, VideoEffect
from vcamd.engine.effects.stills import (
    BlurEffect,
    ColorEffect,
    DesaturateEffect,
    ImageEffect,
    MaskEffect,
    NoEffect,
)

__all__ = ["REGISTRY", "Effect", "EffectError", "Loader", "LoaderFactory", "SlideshowEffect", "build",
           "list_images", "read_image"]

#: ``effect.name`` -> the class that draws it (each built from the settings by its ``from_settings``).
#: ``transparent`` draws nothing behind you: the pipeline gives the matte as alpha (its kind's ``alpha``).
REGISTRY: dict[str, type[Effect]] = {
    "blur": BlurEffect, "image": ImageEffect, "video": VideoEffect, "slideshow": SlideshowEffect,
    "desaturate": DesaturateEffect, "color": ColorEffect, "none": NoEffect, "mask": MaskEffect,
    "transparent": NoEffect,
}
if tuple(REGISTRY) != effect_kinds.NAMES:
    raise ImportError(f"vcamd.engine.effects.REGISTRY {tuple(REGISTRY)} is not effect_kinds.NAMES")


def build(settings: EffectSettings, loader: LoaderFactory = Loader) -> Effect:
    """The effect named by ``settings.name``, with its files loaded (raises EffectError on bad files);
    ``loader(name)`` makes the :class:`Loader` the video and slideshow effects decode through."""
    cls = REGISTRY.get(settings.name)
    if cls is None:
        raise EffectError(f"effect.name = {settings.name!r}: unknown effect")
    return cls.from_settings(settings, loader)
