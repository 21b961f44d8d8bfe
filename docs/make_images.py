"""Make the README's pictures in docs/: run ``.venv/bin/python docs/make_images.py`` from the checkout.

- ``before-after.png``: a webcam still from ../shared/data (NVIDIA MAXINE sample, MIT) as it is, blurred
  and desaturated by :class:`vcamd.engine.pipeline.Pipeline` (VCAMD_MODEL_DIR set, as for the tests).
- ``tray-icons.png``: the tray icon of each state.
- ``tray-menu.png``: the tray menu, cut from the screenshot ``tests/test_tray.py`` leaves in tests/artifacts
  (run that test first).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from vcamd.config import Config
from vcamd.desktop import icons
from vcamd.engine.pipeline import Pipeline
from vcamd.service.control import State

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
STILL = ROOT.parent / "shared" / "data" / "stills" / "maxine_LeFret_000900.jpg"
MENU_SHOT = ROOT / "tests" / "artifacts" / "tray_daemon_effect_menu.png"
PANEL = (320, 180)


def save(img: Image.Image, name: str) -> None:
    """Save as a small palette PNG and say where and how big."""
    target = DOCS / name
    img.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(target, optimize=True)
    sys.stdout.write(f"{target}: {target.stat().st_size} bytes\n")


def before_after() -> None:
    frame = cv2.imread(str(STILL), cv2.IMREAD_COLOR)
    if frame is None:
        sys.exit(f"cannot read {STILL}")
    panels = [("camera", frame)]
    for label, name in (("vcamd: blur", "blur"), ("vcamd: desaturate", "desaturate")):
        with Pipeline(Config.model_validate({"effect": {"name": name}}), video=False) as pipe:
            panels.append((label, pipe.process(frame).copy()))
    out = Image.new("RGB", (PANEL[0] * len(panels), PANEL[1]))
    for i, (label, img) in enumerate(panels):
        small = cv2.cvtColor(cv2.resize(img, PANEL, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        tile = Image.fromarray(small)
        draw = ImageDraw.Draw(tile)
        draw.rectangle((0, PANEL[1] - 22, PANEL[0], PANEL[1]), fill=(0, 0, 0))
        draw.text((8, PANEL[1] - 18), label, fill=(255, 255, 255))
        out.paste(tile, (i * PANEL[0], 0))
    save(out, "before-after.png")


def tray_icons() -> None:
    states = (State.STARTING, State.LIVE, State.IDLE, State.PRIVACY, State.ERROR)
    size, cell = 48, 88
    out = Image.new("RGBA", (cell * len(states), size + 24), (0, 0, 0, 0))
    draw = ImageDraw.Draw(out)
    for i, state in enumerate(states):
        out.alpha_composite(icons.icon(state, size), (i * cell + (cell - size) // 2, 0))
        w = draw.textlength(state.value)
        draw.text((i * cell + (cell - w) / 2, size + 6), state.value, fill=(110, 110, 110, 255))
    save(out, "tray-icons.png")


def tray_menu() -> None:
    if not MENU_SHOT.exists():
        sys.stdout.write(f"{MENU_SHOT} missing: run tests/test_tray.py first\n")
        return
    shot = Image.open(MENU_SHOT).convert("RGB")
    box = shot.getbbox()  # the desktop is black: the box holds the tray and its menus
    assert box is not None
    menu = shot.crop(box).convert("RGBA")
    px = np.asarray(menu).copy()
    px[(px[..., :3] == 0).all(axis=2), 3] = 0  # the black desktop becomes transparent
    save(Image.fromarray(px), "tray-menu.png")


if __name__ == "__main__":
    before_after()
    tray_icons()
    tray_menu()
