"""Types the engine's stages hand each other, so that no stage imports a sibling stage."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: A part of a frame in frame pixels: (x0, y0, x1, y1).
Region = tuple[float, float, float, float]
#: The same in whole pixels.
Box = tuple[int, int, int, int]


def inside(a: Region, b: Region) -> bool:
    """Whether ``a`` lies within ``b`` (edges included)."""
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


class MatteResult:
    """The alpha of one frame at two resolutions (uint8, 255 = person): ``small``, and ``full`` at the
    frame's size. ``full`` is either given or made by ``enlarge()`` when first read (and then kept), so a
    reader that needs only ``small`` costs nothing more; like the buffers it is made in, it is valid until
    the matte's next frame. ``picture``, when given, is the camera picture shrunk (BGR uint8, bilinear) that
    the matte was refined on, at ``small``'s size or, with auto-framing, the part of it shown: effects that
    work on a shrunk frame start from it when it is large enough."""

    def __init__(
        self, small: np.ndarray, full: np.ndarray | None = None, *,
        enlarge: Callable[[], np.ndarray] | None = None, picture: np.ndarray | None = None,
    ) -> None:
        if full is None and enlarge is None:
            raise ValueError("a MatteResult needs its full alpha or a way to make it")
        self.small, self.picture = small, picture
        self._full, self._enlarge = full, enlarge

    @property
    def full(self) -> np.ndarray:
        if self._full is None:
            assert self._enlarge is not None
            self._full = self._enlarge()
        return self._full


#: What effects get when no matte is computed (effects that need none).
EMPTY = MatteResult(np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8))
