"""Still frames sent instead of the camera: "camera paused", "camera starting", "camera unavailable".

Promise: ``card(size, title, detail)`` is a BGR frame of ``size`` (w, h) with the title large and the detail
small, both centred and shrunk to fit; ``picture(path, size)`` is an image cover-fitted to ``size``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vcamd import frames, media
from vcamd.errors import VcamdError

BACKGROUND = (46, 38, 34)  # BGR: a dark slate
TITLE, DETAIL = (235, 235, 235), (170, 170, 170)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _centred(img: np.ndarray, text: str, y: int, scale: float, colour: tuple[int, int, int]) -> None:
    w = img.shape[1]
    thickness = max(1, round(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    while tw > w * 0.9 and scale > 0.3:
        scale *= 0.9
        thickness = max(1, round(scale * 2))
        (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    cv2.putText(img, text, ((w - tw) // 2, y + th // 2), FONT, scale, colour, thickness, cv2.LINE_AA)


def card(size: tuple[int, int], title: str, detail: str = "") -> np.ndarray:
    """A plain card with a title and an optional line of detail."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = BACKGROUND
    scale = max(0.5, w / 640)
    _centred(img, title, int(h * 0.45), scale, TITLE)
    if detail:
        _centred(img, detail, int(h * 0.6), scale * 0.45, DETAIL)
    return img


def picture(path: str, size: tuple[int, int]) -> np.ndarray:
    """The image at ``path`` filling ``size``; raises VcamdError naming the file if it cannot be read."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise VcamdError(f"privacy image {p}: no such file; check daemon.privacy_image")
    try:
        return frames.cover_fit(media.read_image(p), size)
    except media.MediaError as e:
        raise VcamdError(f"privacy image {e}; replace it") from None
