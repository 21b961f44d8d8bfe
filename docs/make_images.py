"""Make the README's pictures in docs/: run ``.venv/bin/python docs/make_images.py`` from the checkout.

- ``before-after.png``: a webcam still from ../shared/data (NVIDIA MAXINE sample, MIT) as it is, blurred
  and desaturated by :class:`vcamd.engine.pipeline.Pipeline` (VCAMD_MODEL_DIR set, as for the tests).
- ``light-wrap.png``: edges of that still over a made-up evening sky (bright warm light) by effect ``image``,
  without light wrap (left) and with the default ``effect.light_wrap`` (right), crops enlarged 2x.
- ``framing.png``: that still shrunk to two thirds and off to one side of a grey wall (a camera further
  away), and as auto-framing shows it after three seconds (effect blur).
- ``tray-icons.png``: the tray icon of each state.
- ``tray-menu.png``: the tray menu, cut from the screenshot ``tests/test_tray.py`` leaves in tests/artifacts
  (run that test first).
"""

from __future__ import annotations

import sys
import tempfile
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
STILLS = ROOT.parent / "shared" / "data" / "stills"
STILL = STILLS / "maxine_LeFret_000900.jpg"
#: Light-wrap crops of STILL: (x, y, size), the head's side and a shoulder.
WRAP_CROPS = ((690, 0, 200), (370, 390, 200))
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
    named = [("camera", frame)]
    for label, name in (("vcamd: blur", "blur"), ("vcamd: desaturate", "desaturate")):
        with Pipeline(Config.model_validate({"effect": {"name": name}}), video=False) as pipe:
            named.append((label, pipe.process(frame).copy()))
    save(panels(named), "before-after.png")


def sky(size: tuple[int, int]) -> np.ndarray:
    """A made-up evening sky (BGR): warm bright light above, deep blue below."""
    w, h = size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    top, bottom = np.array([120, 210, 255], np.float32), np.array([90, 40, 20], np.float32)
    return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).astype(np.uint8)


def light_wrap() -> None:
    frame = cv2.imread(str(STILL), cv2.IMREAD_COLOR)
    if frame is None:
        sys.exit(f"cannot read {STILL}")
    outs = []
    with tempfile.TemporaryDirectory() as tmp:
        background = Path(tmp) / "sky.png"
        cv2.imwrite(str(background), sky((frame.shape[1], frame.shape[0])))
        for wrap in (0.0, Config().effect.light_wrap):
            cfg = Config.model_validate({"effect": {"name": "image", "background": str(background),
                                                    "light_wrap": wrap}})
            with Pipeline(cfg, video=False) as pipe:
                outs.append(pipe.process(frame).copy())
    rows = []
    for x, y, size in WRAP_CROPS:
        tiles = [cv2.resize(o[y : y + size, x : x + size], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                 for o in outs]
        rows.append(np.hstack([tiles[0], np.full((2 * size, 4, 3), 255, np.uint8), tiles[1]]))
    picture = Image.fromarray(cv2.cvtColor(np.vstack(rows), cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(picture)
    after = f"light_wrap = {Config().effect.light_wrap}"
    for text, x in (("light_wrap = 0", 8), (after, picture.width // 2 + 10)):
        draw.rectangle((x - 4, 4, x + 8 + draw.textlength(text), 22), fill=(0, 0, 0))
        draw.text((x, 8), text, fill=(255, 255, 255))
    save(picture, "light-wrap.png")


def panels(named: list[tuple[str, np.ndarray]]) -> Image.Image:
    """BGR pictures side by side at PANEL size, each labelled along its bottom."""
    out = Image.new("RGB", (PANEL[0] * len(named), PANEL[1]))
    for i, (label, img) in enumerate(named):
        small = cv2.cvtColor(cv2.resize(img, PANEL, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        tile = Image.fromarray(small)
        draw = ImageDraw.Draw(tile)
        draw.rectangle((0, PANEL[1] - 22, PANEL[0], PANEL[1]), fill=(0, 0, 0))
        draw.text((8, PANEL[1] - 18), label, fill=(255, 255, 255))
        out.paste(tile, (i * PANEL[0], 0))
    return out


def framing() -> None:
    still = cv2.imread(str(STILL), cv2.IMREAD_COLOR)
    if still is None:
        sys.exit(f"cannot read {STILL}")
    w, h = 1280, 720
    frame = np.full((h, w, 3), 128, np.uint8)  # as benchmarks/framing.py's "far" clips: a grey wall
    small = cv2.resize(still, (w * 2 // 3, h * 2 // 3), interpolation=cv2.INTER_AREA)
    frame[h - small.shape[0] :, 40 : 40 + small.shape[1]] = small
    cfg = Config.model_validate({"effect": {"name": "blur"}, "framing": {"auto": True}})
    with Pipeline(cfg, video=True) as pipe:
        for i in range(90):  # three seconds at 30 fps: time to settle
            out = pipe.process(frame, i / 30)
    save(panels([("camera", frame), ("vcamd: blur, auto-frame", out.copy())]), "framing.png")


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
    light_wrap()
    framing()
    tray_icons()
    tray_menu()
