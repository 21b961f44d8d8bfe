"""Alpha blend of a foreground over a background, on uint8, into preallocated buffers.

Promises:
- ``Compositor.blend(fg, bg, matte)`` returns ``fg * a + bg * (1 - a)`` (a = alpha / 255, the alpha being
  the :class:`MatteResult`'s ``full``) on uint8, within 1 of the exact value, exactly ``fg`` where alpha is
  255 and exactly ``bg`` where it is 0, in a buffer reused by the next call (or in ``bg`` itself with
  ``into_bg=True``), without float copies of whole frames. It is the same, pixel for pixel, as blending
  every pixel with ``cv2.multiply`` (scale 1/255) and ``cv2.add``.
- The cost follows the matte's edges, not the frame's area: the frame is cut into blocks
  (:attr:`Compositor.BAND` rows by 8 columns, or tiled as below), told apart on the matte's ``small``
  (the picture its ``full`` is enlarged from bilinearly, ``cv2.resize`` INTER_LINEAR) by the smallest
  and largest value of the pixels each block's alpha is interpolated from (all 0 there: the block is 0;
  all 255: it is 255), a fifth of the cost of reading the whole alpha. Blocks that are all background
  cost nothing beyond one copy of ``bg``, blocks that are all person are copied from ``fg`` a band-run at
  a time, and only the blocks that hold an edge (5-10 % of a webcam frame) are gathered into one
  contiguous buffer, blended, and scattered back. A block that only looks mixed is blended, so the result
  is the same either way. The rows and columns left over by blocks that do not tile the frame are blended
  directly.
- When the frame is a whole multiple of ``small`` (as 1280x720 is of 320x180), the blocks are sized to
  start on its whole pixels (16 x 8 at 4x, 12 x 12 at 6x) and the edge blocks' alpha is enlarged from it
  too, the same pixel for pixel: the full-size alpha is then not made (unless nearly every block is an
  edge at 12x or more: see ``_MOSAIC_SIDE``).
- ``static=True`` says ``bg`` is the same unchanged picture as last frame's when it is the same buffer
  (image and colour backgrounds): then only the blocks the person covered last frame are restored
  from it, not the whole frame.
- ``wrap`` (0..1, light wrap) lets the background's light bleed onto the person's edge: where alpha is
  strictly between 0 and 255 (the edge blocks, and only there), the blended pixel is mixed with ``bg`` shrunk
  and blurred (LIGHT_BOX), by ``wrap * 4 a (1 - a)`` (at most ``wrap``, at a = 1/2). Pixels where alpha is
  0 or 255 are the same as without it; ``wrap=0`` changes nothing and costs nothing. The blurred light is
  made once for a ``static`` background, every frame otherwise; for tiled blocks (see above) it is
  enlarged for the edge blocks only. The few rows and columns left over by blocks that do not tile the
  frame get no wrap.
- ``box`` (auto-framing): ``fg`` is the whole camera frame and its part ``box`` enlarged to the output is
  drawn, the same, bit for bit, as enlarging the whole part first (:func:`vcamd.frames.upscale`) and blending
  that; it is enlarged only over the person's blocks (rectangles of FRAMED_BANDS bands), straight into the
  output, so it costs the person's share of a frame's enlargement.
"""

from __future__ import annotations

import cv2
import numpy as np

from vcamd import frames
from vcamd.engine.types import MatteResult

_WORD = 8  # columns of a block that does not start on whole pixels of the small matte
_INV255 = 1.0 / 255.0
#: Tiles per row of the mosaic the edge blocks' alpha is enlarged in (16 to 64 cost the same; 1 twice that).
_MOSAIC_COLUMNS = 16
#: The enlarged mosaic's largest side. ``cv2.resize`` finds each pixel's weights in float32: far from the
#: origin they can round to the next of the 2048 fixed-point steps (at 6x, a mosaic 12000 rows high moved
#: pixels by 1 level), while up to here they are the ones of a frame's pixel at the same phase.
_MOSAIC_SIDE = 4096
#: Light wrap: the background's light is blurred by two box filters this wide, in pixels of the small picture
#: (a quarter of the frame's size without one): near a Gaussian of sigma 2, at a seventh of its cost.
LIGHT_BOX = 5
#: Where along an axis a block's pixels of the small picture are sampled: evenly spaced, or at indices.
_Taps = slice | np.ndarray


def _taps(n: int, block: int, src: int, dst: int) -> tuple[int, _Taps]:
    """For ``n`` blocks of ``block`` pixels along an axis enlarged bilinearly from ``src`` to ``dst`` pixels:
    a run length of ``src`` pixels that holds every block's taps, and where each block's run starts, plus
    one (a slice when the starts are evenly spaced, as for whole multiples)."""
    first = np.arange(n) * block
    scale = src / dst
    # The taps of pixel x are floor(u) and floor(u) + 1 (clamped), u = (x + 0.5) * scale - 0.5.
    lo = np.floor((first + 0.5) * scale - 0.5).astype(np.intp)
    hi = np.minimum(np.floor((first + block - 0.5) * scale - 0.5).astype(np.intp) + 1, src - 1)
    start = np.minimum(lo, src - 2)  # from -1: the sample at start + 1 stays in the picture
    size = int((hi - start).max()) + 1
    at = start + 1
    steps = np.diff(at)
    if n > 1 and steps[0] > 0 and (steps == steps[0]).all():
        return size, slice(int(at[0]), int(at[-1]) + 1, int(steps[0]))
    return size, at


class Compositor:
    """Blends into buffers sized on first use and reused while the frame size stays the same."""

    #: Rows per band of blocks. 16 took 5-9 % less than 8 at 720p and 1080p (fewer runs to copy, fewer
    #: gathers) for a few more edge pixels; the result is the same for any band.
    BAND = 16
    #: Auto-framing: bands enlarged from the camera's crop in one call, over the columns any of them needs
    #: (fewer calls against fewer pixels; 4 bands, 64 rows at 720p).
    FRAMED_BANDS = 4

    def __init__(self) -> None:
        self._shape: tuple[int, ...] = ()
        self._last_bg: np.ndarray | None = None
        self._last_person: np.ndarray | None = None
        self._windows: dict[tuple[int, ...], tuple[np.ndarray, _Taps, _Taps]] = {}
        self._bh, self._bw = self.BAND, _WORD  # the block (rows, columns) of the blend under way
        self._light: np.ndarray | None = None  # light wrap: the background's light, small
        self._light_of: np.ndarray | None = None  # the static background it was made of
        self._wrap_table: tuple[float, np.ndarray] | None = None

    def _ensure(self, shape: tuple[int, ...]) -> None:
        if shape == self._shape:
            return
        self._shape = shape
        self._a3 = np.empty(shape, np.uint8)
        self._inv3 = np.empty(shape, np.uint8)
        self._prod = np.empty(shape, np.uint8)
        self._out = np.empty(shape, np.uint8)
        self._bgra: np.ndarray | None = None
        self._fg: np.ndarray | None = None
        self._last_bg = self._last_person = None

    def blend(
        self, fg: np.ndarray, bg: np.ndarray, matte: MatteResult, *, into_bg: bool = False,
        static: bool = False, wrap: float = 0.0, box: tuple[int, int, int, int] | None = None,
    ) -> np.ndarray:
        """``fg`` over ``bg`` with ``matte``'s alpha (255 = fg); all three the same height and width, or,
        with ``box`` (x0, y0, x1, y1; auto-framing), ``fg`` the whole camera frame, of which that part,
        enlarged to ``bg``'s size, is drawn.

        ``into_bg=True`` writes the result into ``bg`` (for backgrounds rebuilt every frame) and saves a copy.
        ``static=True``: ``bg``, when it is last frame's buffer, holds the same picture. The blocks are told
        apart on ``matte.small``, and ``matte.full`` is read only where needed. ``wrap``: light wrap. (Module
        promises.)
        """
        small = matte.small
        self._ensure(bg.shape)
        out = bg if into_bg else self._out
        h, w = bg.shape[:2]
        w8 = w - w % _WORD
        if w8 == 0 or h < self.BAND or not (fg.flags.c_contiguous and bg.flags.c_contiguous):
            self._last_bg = None
            if box is not None:
                fg = self._framed(fg, box, [(0, 0, w, h)])
            self._blend_rect(fg, bg, matte.full, out, 0, h, 0, w)
            return out
        block = self._tiled_block(small.shape, (h, w))
        self._bh, self._bw = block or (self.BAND, _WORD)
        if block is not None:
            w8 = w  # the block tiles the frame
        hm = h // self._bh * self._bh
        blocks = (hm // self._bh, w8 // self._bw)
        person, edge = self._classify_small(small, blocks, (w, h), (self._bh, self._bw))
        frame = fg
        if box is not None and (hm < h or w8 < w):  # the camera's picture for the leftover rows, columns
            rest = [r for r in ((0, hm, w, h), (w8, 0, w, hm)) if r[0] < r[2] and r[1] < r[3]]
            fg = self._framed(frame, box, rest)
        where = np.nonzero(edge)
        a = self._edge_alpha(small, where, blocks) if block is not None else None
        if a is None:
            a = self._gather(matte.full, edge, where)
        under = self._gather(bg, edge, where), a  # before ``out`` changes
        light = None
        if wrap > 0 and len(where[0]):
            light = self._edge_light(bg, small if block is not None else None, where, edge, static)
        if out is not bg:
            last = self._last_person
            if static and bg is self._last_bg and last is not None and last.shape == person.shape:
                self._copy_runs(last, bg, out)  # only where the person was: the rest is bg already
            else:
                np.copyto(out, bg)
        self._last_bg, self._last_person = (bg, person) if static and out is not bg else (None, None)
        if box is None:
            self._copy_runs(person, fg, out)  # edge blocks too, so fg's edges are now in ``out``, in cache
        else:
            self._warp_person(frame, box, person, out)
        self._blend_edges(edge, where, self._gather(out, edge, where), *under, out, light, wrap)
        if hm < h:
            self._blend_rect(fg, bg, matte.full, out, hm, h, 0, w)
        if w8 < w:
            self._blend_rect(fg, bg, matte.full, out, 0, hm, w8, w)
        return out

    def _warp_person(self, frame: np.ndarray, box: tuple[int, int, int, int], person: np.ndarray,
                     out: np.ndarray) -> None:
        """Put ``frame``'s part ``box``, enlarged to ``out``'s size, into ``out`` over every ``person`` block:
        straight into ``out``, a group of FRAMED_BANDS bands at a time over the columns any of them needs
        (the whole frame where OpenCV warps slowly), the other blocks those rectangles cover put back."""
        nb, nw = person.shape
        bh, bw, g = self._bh, self._bw, self.FRAMED_BANDS
        covered = np.ones_like(person)
        rects = [(0, 0, nw * bw, nb * bh)]
        if frames.FAST_WARP:
            groups = np.zeros((-(-nb // g) * g, nw), bool)
            groups[:nb] = person
            cols: np.ndarray = np.asarray(groups.reshape(-1, g, nw).any(axis=1))
            some = np.flatnonzero(cols.any(axis=1))
            first = np.argmax(cols[some], axis=1)
            last = nw - np.argmax(cols[some, ::-1], axis=1)
            covered = np.zeros_like(groups)
            rects = []
            for b, c0, c1 in zip(some.tolist(), first.tolist(), last.tolist(), strict=True):
                covered[b * g : (b + 1) * g, c0:c1] = True
                rects.append((c0 * bw, b * g * bh, c1 * bw, min(nb, (b + 1) * g) * bh))
            covered = covered[:nb]
        keep = covered & ~person
        at = np.nonzero(keep)
        kept = self._gather(out, keep, at)
        self._framed(frame, box, rects, out)
        self._views(out, keep)[at] = kept.reshape(len(at[0]), bh, bw, *out.shape[2:])

    def _framed(self, frame: np.ndarray, box: tuple[int, int, int, int],
                rects: list[tuple[int, int, int, int]], into: np.ndarray | None = None) -> np.ndarray:
        """``frame``'s part ``box`` enlarged to the output's size, made in ``rects`` only, into ``into`` or a
        reused buffer."""
        if into is None:
            if self._fg is None:
                self._fg = np.empty(self._shape, np.uint8)
            into = self._fg
        h, w = self._shape[:2]
        x0, y0, x1, y1 = box
        for rect in rects:
            frames.upscale(frame[y0:y1, x0:x1], (w, h), dst=into, rect=rect)
        return into

    def _tiled_block(self, small: tuple[int, ...], size: tuple[int, int]) -> tuple[int, int] | None:
        """(rows, columns) of a block that starts on a whole pixel of ``small`` (shape) enlarged to ``size``
        (h, w) and tiles the frame, near BAND x 8 pixels (16 x 8 for 4x, as 1280x720 is of 320x180; 12 x 12
        for 6x, 1920x1080); None when the frame is not a whole multiple of ``small`` or no such block tiles
        it."""
        (sh, sw), (h, w) = small, size
        if h % sh or w % sw:
            return None
        fy, fx = h // sh, w // sw
        bw = fx * max(1, round(_WORD / fx))
        if bw < _WORD:
            bw *= 2
        bh = fy * max(1, round(self.BAND * _WORD / bw / fy))
        return (bh, bw) if h % bh == 0 and w % bw == 0 else None

    def _edge_alpha(self, small: np.ndarray, where: tuple[np.ndarray, ...], blocks: tuple[int, int]
                    ) -> np.ndarray | None:
        """The alpha of the blocks at ``where`` as one contiguous (n * rows, columns[, channels]) image, as
        ``cv2.resize`` enlarges ``small`` (alpha, or any picture of its size) to the frame (only for a
        :meth:`_tiled_block`): pixel for pixel the same, without the whole frame's alpha. None when the
        mosaic would be too large for that (see _MOSAIC_SIDE).

        Each block's pixels of ``small`` (the ones its alpha is interpolated from, with one more on each
        side) are laid out as a tile of a mosaic, which one ``cv2.resize`` enlarges by the same factors.
        A block starts on a whole pixel of ``small``, so in its tile's enlargement its rows and columns sit
        at whole offsets with the same weights and the same taps: the same alpha, bit for bit. The tiles at
        the picture's edges see its edge pixel repeated, which is what the resize does there.
        """
        n = len(where[0])
        ch = small.shape[2:]
        if n == 0:
            return np.empty((0, self._bw, *ch), np.uint8)
        sh, sw = small.shape[:2]
        bh, bw = self._bh, self._bw
        fy, fx = blocks[0] * bh // sh, blocks[1] * bw // sw
        ty, tx = bh // fy + 2, bw // fx + 2
        padded = cv2.copyMakeBorder(small, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
        s0, s1 = padded.strides[:2]
        at = np.lib.stride_tricks.as_strided(padded, (*blocks, ty, tx, *ch),
                                             ((ty - 2) * s0, (tx - 2) * s1, s0, s1, *padded.strides[2:]),
                                             writeable=False)
        # At most _MOSAIC_SIDE pixels a side, so the resize's float positions are as exact as in the frame.
        cols = max(_MOSAIC_COLUMNS, -(-n // (_MOSAIC_SIDE // (ty * fy))))
        if cols * tx * fx > _MOSAIC_SIDE:
            return None
        rows = -(-n // cols)
        tiles = np.zeros((rows * cols, ty, tx, *ch), np.uint8)
        tiles[:n] = at[where]
        order = (0, 2, 1, 3, *range(4, 4 + len(ch)))
        mosaic = tiles.reshape(rows, cols, ty, tx, *ch).transpose(order).reshape(rows * ty, cols * tx, *ch)
        big = cv2.resize(mosaic, (cols * tx * fx, rows * ty * fy), interpolation=cv2.INTER_LINEAR)
        inner = big.reshape(rows, ty * fy, cols, tx * fx, *ch)[:, fy : fy + bh, :, fx : fx + bw]
        return inner.transpose(order).reshape(-1, bw, *ch)[: n * bh]

    def _classify_small(
        self, small: np.ndarray, blocks: tuple[int, int], size: tuple[int, int], block: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray]:
        """(person, edge) per ``block`` (rows, columns) from ``small``, which enlarged to ``size`` (w, h) is
        the alpha."""
        key = (*small.shape, *blocks, *size, *block)
        if key not in self._windows:
            (sh, sw), (w, h) = small.shape, size
            (kh, rows), (kw, cols) = (_taps(n, b, src, dst) for n, b, src, dst in (
                (blocks[0], block[0], sh, h), (blocks[1], block[1], sw, w)))
            self._windows[key] = np.ones((kh, kw), np.uint8), rows, cols
        kernel, rows, cols = self._windows[key]
        # Anchor (1, 1): the window sampled at p starts at p - 1, so the first block's may start at -1 (the
        # resize's clamped edge), which erode and dilate leave out as they do all beyond the picture.
        # Rows, then columns: two plain gathers cost a third of one fancy index on both.
        most = cv2.dilate(small, kernel, anchor=(1, 1))[rows][:, cols]
        least = cv2.erode(small, kernel, anchor=(1, 1))[rows][:, cols]
        person = most != 0
        return person, person & (least != 255)

    def _views(self, img: np.ndarray, edge: np.ndarray) -> np.ndarray:
        """``img`` seen as (band, word, row, column[, 3]) blocks, for fancy-indexing whole blocks at once."""
        nb, nw = edge.shape
        bh, bw = self._bh, self._bw
        s0, s1 = img.strides[:2]
        return np.lib.stride_tricks.as_strided(
            img,
            (nb, nw, bh, bw, *img.shape[2:]),
            (s0 * bh, s1 * bw, s0, s1, *img.strides[2:]),
            writeable=img.flags.writeable,
        )

    def _gather(self, img: np.ndarray, edge: np.ndarray, where: tuple[np.ndarray, ...]) -> np.ndarray:
        """The blocks of ``img`` at ``where`` as one contiguous (n * rows, columns[, 3]) image."""
        return self._views(img, edge)[where].reshape(len(where[0]) * self._bh, self._bw, *img.shape[2:])

    def _blend_edges(
        self, edge: np.ndarray, where: tuple[np.ndarray, ...], f: np.ndarray, b: np.ndarray, a: np.ndarray,
        out: np.ndarray, light: np.ndarray | None = None, wrap: float = 0.0,
    ) -> None:
        """Blend the gathered edge blocks (``f`` over ``b`` by ``a``), mix in the gathered ``light`` (light
        wrap) if given, and put them back into ``out``."""
        rows = a.shape[0]
        if not rows:
            return
        bw = self._bw
        a3 = self._a3.reshape(-1)[: rows * bw * 3].reshape(rows, bw, 3)
        inv3 = self._inv3.reshape(-1)[: rows * bw * 3].reshape(rows, bw, 3)
        cv2.cvtColor(a, cv2.COLOR_GRAY2BGR, dst=a3)
        cv2.bitwise_not(a3, dst=inv3)
        cv2.multiply(f, a3, dst=f, scale=_INV255)
        cv2.multiply(b, inv3, dst=b, scale=_INV255)
        cv2.add(f, b, dst=f)
        if light is not None:
            self._mix_light(f, a, light, wrap, a3, inv3)
        self._views(out, edge)[where] = f.reshape(len(where[0]), self._bh, bw, 3)

    def _edge_light(self, bg: np.ndarray, small: np.ndarray | None, where: tuple[np.ndarray, ...],
                    edge: np.ndarray, static: bool) -> np.ndarray:
        """The background's light (``bg`` shrunk to ``small``'s size, or a quarter of the frame's without a
        tiled ``small``, and blurred) at the edge blocks, as one contiguous (n * rows, columns, 3) image."""
        h, w = bg.shape[:2]
        size = (small.shape[1], small.shape[0]) if small is not None else (max(1, w // 4), max(1, h // 4))
        light = self._light
        if not (static and bg is self._light_of and light is not None and light.shape[:2] == size[::-1]):
            light = cv2.resize(bg, size, interpolation=cv2.INTER_LINEAR)
            for _ in range(2):
                cv2.blur(light, (LIGHT_BOX, LIGHT_BOX), dst=light)
            self._light, self._light_of = light, bg if static else None
        edges = self._edge_alpha(light, where, edge.shape) if small is not None else None
        if edges is None:
            edges = self._gather(cv2.resize(light, (w, h), interpolation=cv2.INTER_LINEAR), edge, where)
        return edges

    def _mix_light(self, f: np.ndarray, a: np.ndarray, light: np.ndarray, wrap: float, w3: np.ndarray,
                   inv3: np.ndarray) -> None:
        """Mix ``light`` into the blended edge pixels ``f`` by ``wrap * 4 a (1 - a)`` (module promises), in
        place; ``w3`` and ``inv3`` are scratch of ``f``'s shape."""
        if self._wrap_table is None or self._wrap_table[0] != wrap:
            x = np.arange(256) / 255.0
            self._wrap_table = wrap, np.round(255.0 * wrap * 4.0 * x * (1.0 - x)).astype(np.uint8)
        cv2.cvtColor(cv2.LUT(a, self._wrap_table[1]), cv2.COLOR_GRAY2BGR, dst=w3)
        cv2.bitwise_not(w3, dst=inv3)
        cv2.multiply(f, inv3, dst=f, scale=_INV255)
        cv2.multiply(light, w3, dst=light, scale=_INV255)
        cv2.add(f, light, dst=f)

    def _copy_runs(self, person: np.ndarray, fg: np.ndarray, out: np.ndarray) -> None:
        """Copy ``fg`` over every horizontal run of blocks that holds some person."""
        nb, nw = person.shape
        step = np.zeros((nb, nw + 2), np.int8)
        step[:, 1:-1] = person
        d = np.diff(step, axis=1)
        bands, starts = np.nonzero(d == 1)
        ends = np.nonzero(d == -1)[1]
        band, bw = self._bh, self._bw
        for y, x0, x1 in zip((bands * band).tolist(), (starts * bw).tolist(), (ends * bw).tolist(),
                             strict=True):
            out[y : y + band, x0:x1] = fg[y : y + band, x0:x1]

    def _blend_rect(
        self, fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, out: np.ndarray,
        y0: int, y1: int, x0: int, x1: int,
    ) -> None:
        a3 = self._a3[y0:y1, x0:x1]
        inv3 = self._inv3[y0:y1, x0:x1]
        prod = self._prod[y0:y1, x0:x1]
        dst = out[y0:y1, x0:x1]
        cv2.cvtColor(alpha[y0:y1, x0:x1], cv2.COLOR_GRAY2BGR, dst=a3)
        cv2.bitwise_not(a3, dst=inv3)
        cv2.multiply(fg[y0:y1, x0:x1], a3, dst=prod, scale=_INV255)
        cv2.multiply(bg[y0:y1, x0:x1], inv3, dst=dst, scale=_INV255)
        cv2.add(prod, dst, dst=dst)

    def with_alpha(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """``frame`` as BGRA with ``alpha`` as its alpha channel (transparent stills), in a reused buffer."""
        self._ensure(frame.shape)
        if self._bgra is None:
            self._bgra = np.empty((*frame.shape[:2], 4), np.uint8)
        cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA, dst=self._bgra)
        cv2.mixChannels([alpha], [self._bgra], [0, 3])
        return self._bgra
