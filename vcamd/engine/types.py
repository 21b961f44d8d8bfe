"""Types the engine's stages hand each other, so that no stage imports a sibling stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A part of a frame in frame pixels: (x0, y0, x1, y1).
Region = tuple[float, float, float, float]
#: The same in whole pixels.
Box = tuple[int, int, int, int]


def inside(a: Region, b: Region) -> bool:
    """Whether ``a`` lies within ``b`` (edges included)."""
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


@dataclass
class MatteResult:
    """The alpha of one frame at two resolutions (uint8, 255 = person). ``box``, when given, holds all of
    ``full`` that is not 0 (so readers may skip the rest); None: anywhere."""

    small: np.ndarray
    full: np.ndarray
    box: Box | None = None


#: What effects get when no matte is computed (effects that need none).
EMPTY = MatteResult(np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8))
