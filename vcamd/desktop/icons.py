"""Tray icons drawn with Pillow: a camera on a disc whose colour and mark tell the daemon's state.

Promises: ``icon(state)`` returns a new square RGBA image (``SIZE`` pixels) for every :class:`State`;
different states give visibly different images (colour, plus a slash for privacy and a ``!`` for errors,
so they read without colour too). No files, no display needed.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from vcamd.service.control import State

SIZE = 64

#: Disc colour per state (RGB).
COLORS: dict[State, tuple[int, int, int]] = {
    State.STARTING: (120, 128, 138),
    State.LIVE: (34, 150, 70),
    State.IDLE: (70, 110, 160),
    State.PRIVACY: (225, 125, 0),
    State.ERROR: (200, 40, 40),
    State.STOPPED: (120, 128, 138),
}
_WHITE = (255, 255, 255, 255)


def icon(state: State, size: int = SIZE) -> Image.Image:
    """The tray image for ``state``, drawn at 4x and scaled down for smooth edges."""
    s = size * 4
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((0, 0, s - 1, s - 1), fill=(*COLORS[state], 255))
    u = s / 64  # drawing unit: the glyph is laid out on a 64-grid
    # camera body and lens
    d.rounded_rectangle((12 * u, 21 * u, 42 * u, 43 * u), radius=4 * u, fill=_WHITE)
    d.polygon([(43 * u, 32 * u), (53 * u, 24 * u), (53 * u, 40 * u)], fill=_WHITE)
    if state is State.PRIVACY:
        dark = (*COLORS[state], 255)
        d.line((14 * u, 50 * u, 50 * u, 14 * u), fill=dark, width=round(9 * u))
        d.line((14 * u, 50 * u, 50 * u, 14 * u), fill=_WHITE, width=round(4 * u))
    elif state is State.ERROR:
        dark = (*COLORS[state], 255)
        d.rectangle((25 * u, 24 * u, 29 * u, 35 * u), fill=dark)
        d.rectangle((25 * u, 37 * u, 29 * u, 40 * u), fill=dark)
    return img.resize((size, size), Image.Resampling.LANCZOS)
