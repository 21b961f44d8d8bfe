"""One frame in, one frame out: segmenter -> matte -> effect -> compositor. No threads, no devices.

Promises:
- ``Pipeline.process(frame, t)`` returns the treated BGR frame (BGRA for ``transparent``) of the same size,
  in a buffer that stays valid until the next call.
- ``Pipeline.update(cfg)`` may be called from any thread: it builds the new effect (and model) in the
  caller's thread, raising :class:`VcamdError` and keeping the old settings if they are bad, and the new
  settings take effect all at once at the start of the next frame.
- ``last_ms`` holds the per-stage wall time of the last frame (segment, matte, effect, composite), and
  ``last_treated`` whether its effect hid anything (False for ``none``: that frame is the camera's own).
- With ``framing.auto`` (and a stream or a still alike), :class:`vcamd.engine.framing.Framer` picks the part
  of the camera frame to show from the same frame's matte (the model then runs for effect ``none`` too), and
  the frame is treated as that part enlarged to the frame's size: the matte is cut to it, the effect draws
  the background from it at the output's size (a picture background is not zoomed: only the camera is), and
  the compositor enlarges the camera's pixels only where the person shows. The output keeps its size. Off,
  nothing of it runs. On, the choice of the crop counts as ``framing`` in ``last_ms``.
- ``effect.light_wrap`` applies to the effects whose background is a picture (image, video, slideshow).
- In a stream, the model is not run on every frame while nothing moves: when less than STILL_SHARE of the
  picture changed since the previous frame, the last confidence is used again for up to
  STILL_MODEL_EVERY - 1 frames in a row (the matte's guided filter still follows the current picture);
  any frame where the picture moves, and the segmenter's rescans of the whole frame (every RESCAN_FRAMES
  frames, skipped ones included), run the model. ``model_runs`` counts the frames the model ran on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from vcamd import effect_kinds
from vcamd.config import Config
from vcamd.engine import effects
from vcamd.engine.compositor import Compositor
from vcamd.engine.framing import Framer
from vcamd.engine.matte import Matte
from vcamd.engine.segmenter import Segmenter
from vcamd.engine.types import EMPTY

log = logging.getLogger(__name__)

#: A frame counts as still when less than this share of the matte's work grid changed.
STILL_SHARE = 0.005
#: On still frames the model runs on every this-many-th frame.
STILL_MODEL_EVERY = 3


@dataclass
class _Stage:
    """What one set of settings needs at run time."""

    cfg: Config
    effect: effects.Effect
    segmenter: Segmenter | None
    matte: Matte


@dataclass
class StageTimes:
    """Wall milliseconds of each stage of the last frame."""

    segment: float = 0.0
    matte: float = 0.0
    effect: float = 0.0
    composite: float = 0.0
    framing: float = 0.0
    total: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Every stage's ms; ``framing`` only for a reframed frame (off, the stats stay as they were)."""
        return {k: round(v, 3) for k, v in self.__dict__.items() if k != "framing" or v}


@dataclass
class Pipeline:
    """The frame engine. ``video=True`` for streams (temporal smoothing, VIDEO-mode model)."""

    cfg: Config = field(default_factory=Config)
    video: bool = True
    #: Makes the loaders effects decode their files through (the daemon's run on helper threads).
    loader: effects.LoaderFactory = effects.Loader

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: _Stage | None = None
        self._stage = self._build(self.cfg, None)
        self._compositor = Compositor()
        self._framer = Framer(self.cfg.framing)
        self._mirror_buf: np.ndarray | None = None
        self._conf: np.ndarray | None = None
        self._conf_key: tuple[object, ...] = ()
        self._reused = 0
        self.model_runs = 0
        self.last_ms = StageTimes()
        self.last_treated = False

    def _build(self, cfg: Config, current: _Stage | None) -> _Stage:
        effect = effects.build(cfg.effect, self.loader)
        try:
            alpha = effect_kinds.BY_NAME[cfg.effect.name].alpha
            needs_model = effect.needs_matte or alpha or cfg.framing.auto
            segmenter = None
            if needs_model:
                same_model = current is not None and current.segmenter is not None and (
                    (current.cfg.segmentation.model, current.cfg.segmentation.refine,
                     current.cfg.segmentation.runtime)
                    == (cfg.segmentation.model, cfg.segmentation.refine, cfg.segmentation.runtime)
                )
                segmenter = current.segmenter if same_model and current else Segmenter(
                    cfg.segmentation.model, video=self.video, refine=cfg.segmentation.refine,
                    runtime=cfg.segmentation.runtime,
                )
            matte = Matte(cfg.segmentation, video=self.video)
            if current is not None and current.matte.settings.model == cfg.segmentation.model:
                matte.adopt_history(current.matte)
        except BaseException:
            effect.close()
            raise
        return _Stage(cfg, effect, segmenter, matte)

    @property
    def crop(self) -> tuple[int, int, int, int] | None:
        """The part of the camera frame, (x0, y0, x1, y1), the last output shows, enlarged to its size
        (auto-framing); None when framing was off for it."""
        return self._framer.box if self._framer.crop is not None else None

    @property
    def effect(self) -> effects.Effect:
        """The effect in use (or about to be, if an update is pending)."""
        with self._lock:
            return (self._pending or self._stage).effect

    def step(self, n: int) -> None:
        """Show the ``n``-th next (negative: previous) background now (slideshow; no-op for other effects)."""
        self.effect.step(n)

    def update(self, cfg: Config) -> None:
        """Switch to ``cfg`` between frames; raises VcamdError (old settings kept) if it cannot be built."""
        with self._lock:
            base = self._pending or self._stage
        new = self._build(cfg, base)
        with self._lock:
            old_pending, self._pending = self._pending, new
            self.cfg = cfg
        if old_pending is not None:
            self._release(old_pending, new, self._stage)

    @staticmethod
    def _release(old: _Stage, *keep: _Stage) -> None:
        """Close what ``old`` holds that none of ``keep`` shares."""
        if all(old.effect is not k.effect for k in keep):
            old.effect.close()
        if old.segmenter is not None and all(old.segmenter is not k.segmenter for k in keep):
            old.segmenter.close()

    def _take_pending(self) -> _Stage:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            old, self._stage = self._stage, pending
            self._release(old, pending)
        return self._stage

    def process(self, frame: np.ndarray, t: float = 0.0, timestamp_ms: int | None = None) -> np.ndarray:
        """Treat one BGR uint8 frame taken at stream time ``t`` seconds."""
        st = self._take_pending()
        t0 = time.perf_counter()
        if st.cfg.effect.mirror:
            if self._mirror_buf is None or self._mirror_buf.shape != frame.shape:
                self._mirror_buf = np.empty_like(frame)
            cv2.flip(frame, 1, dst=self._mirror_buf)
            frame = self._mirror_buf
        times = self.last_ms = StageTimes()
        alpha = effect_kinds.BY_NAME[st.cfg.effect.name].alpha
        hides = st.effect.needs_matte or alpha
        self.last_treated = hides
        if st.segmenter is None:
            if self._framer.crop is not None:
                self._framer.reset()
            out = st.effect.render(frame, EMPTY, t)
            times.total = (time.perf_counter() - t0) * 1000
            return out
        conf = self._confidence(st, frame, timestamp_ms if timestamp_ms is not None else int(t * 1000))
        t1 = time.perf_counter()
        matte = st.matte.compute(conf, frame, st.segmenter.region)
        t2 = time.perf_counter()
        size = (frame.shape[1], frame.shape[0])
        view, box = frame, None
        if st.cfg.framing.auto:
            self._framer.settings = st.cfg.framing
            box = self._framer.place(matte.small, size, t)
            if box is not None:
                view, matte = frame[box[1] : box[3], box[0] : box[2]], self._framer.crop_matte(matte, size)
        elif self._framer.crop is not None:
            self._framer.reset()
        t3 = time.perf_counter()
        if alpha:
            out = self._compositor.with_alpha(st.effect.render(view, matte, t, size), matte.full)
            t4 = t5 = time.perf_counter()
        elif not hides:  # no effect, only framing
            out = st.effect.render(view, matte, t, size)
            t4 = t5 = time.perf_counter()
        else:
            bg = st.effect.render(view, matte, t, size)
            t4 = time.perf_counter()
            out = self._compositor.blend(
                st.effect.foreground(frame), bg, matte, into_bg=st.effect.scratch_background,
                static=st.effect.static_background,
                wrap=st.cfg.effect.light_wrap if st.effect.wraps_light else 0.0, box=box,
            )
            t5 = time.perf_counter()
        if st.cfg.framing.auto:
            times.framing = max(1e-3, (t3 - t2) * 1000)
        times.segment, times.matte = (t1 - t0) * 1000, (t2 - t1) * 1000
        times.effect, times.composite = (t4 - t3) * 1000, (t5 - t4) * 1000
        times.total = (t5 - t0) * 1000
        return out

    def _confidence(self, st: _Stage, frame: np.ndarray, ts: int) -> np.ndarray:
        """The model's confidence for ``frame``, or the last one again on a still frame (module promises)."""
        seg = st.segmenter
        assert seg is not None
        moving = st.matte.observe(frame) if self.video else 1.0
        key = (seg, frame.shape)
        if (moving < STILL_SHARE and self._conf is not None and key == self._conf_key
                and self._reused < STILL_MODEL_EVERY - 1 and not seg.rescan_due):
            self._reused += 1
            seg.skip()
            return self._conf
        self._conf, self._conf_key, self._reused = seg.segment(frame, ts), key, 0
        self.model_runs += 1
        return self._conf

    def close(self) -> None:
        """Release the model and any files the effects hold."""
        with self._lock:
            stages = [s for s in (self._pending, self._stage) if s is not None]
            self._pending = None
        for s in stages:
            s.effect.close()
            if s.segmenter is not None:
                s.segmenter.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

