"""Model runtimes: run a selfie-segmentation ``.tflite`` on one RGB image at the model's input size.

Promises:
- ``open_runtime(name, path, video=...)`` returns a :class:`Runtime` for ``name``: ``litert`` (the default:
  Google AI Edge LiteRT's interpreter, ``ai-edge-litert``) or ``mediapipe`` (MediaPipe Tasks'
  ImageSegmenter, the optional extra ``vcamd[mediapipe]``). A model that cannot be loaded, or a runtime that
  is not installed, raises :class:`RuntimeLoadError` (one line naming the file or the fix).
- ``Runtime.run(rgb, timestamp_ms)`` takes an (h, w, 3) uint8 RGB image of exactly ``input_size`` and
  returns the person confidence, float32 (h, w) in [0, 1], at the model's resolution, in a buffer the next
  call reuses. Both runtimes give the same confidence for the same image (to within 1e-3; tests check it).
- LiteRT runs on the caller's thread (one interpreter thread: it costs less CPU per call than two), on the
  model's graph as :func:`vcamd.engine.graph_rewrite.lighten` rewrites it (the same output, a third less
  work). It feeds the image as RGB / 255 into the interpreter's own input buffer and copies the output into
  one buffer allocated at load. It starts no helper program, opens no network connection and writes no file.
- Importing this module imports neither runtime; each loads only when opened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vcamd.engine import graph_rewrite
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

#: The runtimes ``segmentation.runtime`` may name.
NAMES = ("litert", "mediapipe")
#: Interpreter threads for LiteRT: one measured cheaper in CPU per call than two (1.8 ms against 3.7 ms).
LITERT_THREADS = 1


class RuntimeLoadError(VcamdError):
    """The model could not be loaded into the runtime, or the runtime is not installed."""


class Runtime(Protocol):
    """A loaded model."""

    #: (width, height) of the images ``run`` takes.
    input_size: tuple[int, int]

    def run(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        """Person confidence of ``rgb`` (uint8, at ``input_size``) as float32 (h, w), in a reused buffer."""
        ...

    def close(self) -> None:
        """Release the model (safe to call twice)."""
        ...


@contextlib.contextmanager
def native_stderr_quiet() -> Iterator[None]:
    """Hide what the runtimes' C++ side writes to file descriptor 2 while a model loads (TFLite's delegate
    notice and absl warnings, which GLOG_minloglevel does not reach), unless debug logging is on."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiteRTRuntime:
    """The model in LiteRT's interpreter, on the caller's thread."""

    def __init__(self, path: Path, threads: int = LITERT_THREADS) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise RuntimeLoadError(
                "segmentation.runtime = 'litert' needs the ai-edge-litert package: pip install ai-edge-litert"
            ) from None
        try:
            model = graph_rewrite.lighten(path.read_bytes())
        except OSError as e:
            raise RuntimeLoadError(f"model {path}: cannot be read ({e.strerror or e})") from None
        try:
            with native_stderr_quiet():
                it = Interpreter(model_content=model, num_threads=threads)
                it.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            raise RuntimeLoadError(f"model {path}: LiteRT could not load it ({e})") from None
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        shape = tuple(int(v) for v in inp["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or inp["dtype"] is not np.float32:
            raise RuntimeLoadError(
                f"model {path}: takes {shape} {inp['dtype'].__name__}, not one float32 RGB image; "
                "use a MediaPipe selfie-segmentation model"
            )
        oshape = tuple(int(v) for v in out["shape"])
        if len(oshape) != 4 or oshape[:3] != shape[:3]:
            raise RuntimeLoadError(f"model {path}: its output {oshape} is not a mask of its input's size")
        self._it: Any = it
        self._input: Callable[[], np.ndarray] = it.tensor(inp["index"])
        self._output: Callable[[], np.ndarray] = it.tensor(out["index"])
        self._channel = oshape[3] - 1  # the person channel: the last, as MediaPipe's confidence_masks[-1]
        self.input_size = (shape[2], shape[1])
        self._conf = np.empty((shape[1], shape[2]), np.float32)
        self._scale = np.float32(1.0 / 255.0)

    def run(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        if self._it is None:
            raise RuntimeLoadError("the LiteRT model was closed")
        view = self._input()
        np.multiply(rgb, self._scale, out=view[0])
        del view  # LiteRT refuses to run while a view of its buffers is held
        self._it.invoke()
        view = self._output()
        np.copyto(self._conf, view[0, :, :, self._channel])
        del view
        return self._conf

    def close(self) -> None:
        self._it = None
        self._input = self._output = _closed


def _closed() -> np.ndarray:
    raise RuntimeLoadError("the LiteRT model was closed")


class MediaPipeRuntime:
    """The model in MediaPipe Tasks' ImageSegmenter (VIDEO mode for streams, with increasing timestamps)."""

    def __init__(self, path: Path, input_size: tuple[int, int], *, video: bool) -> None:
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError:
            raise RuntimeLoadError(
                "segmentation.runtime = 'mediapipe' needs MediaPipe: pip install 'vcamd[mediapipe]', or set "
                "segmentation.runtime = 'litert'"
            ) from None
        self.video = video
        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        opts = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=mode,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        try:
            with native_stderr_quiet():
                self._task: Any = vision.ImageSegmenter.create_from_options(opts)
        except (RuntimeError, ValueError) as e:
            raise RuntimeLoadError(f"model {path}: MediaPipe could not load it ({e})") from None
        import mediapipe as mp

        self._mp: Any = mp
        self.input_size = input_size
        self._conf = np.empty((input_size[1], input_size[0]), np.float32)
        self._last_ts = -1

    def run(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        if self._task is None:
            raise RuntimeLoadError("the MediaPipe model was closed")
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        if self.video:
            ts = self._last_ts + 1 if timestamp_ms is None else int(timestamp_ms)
            ts = max(ts, self._last_ts + 1)
            self._last_ts = ts
            result = self._task.segment_for_video(image, ts)
        else:
            result = self._task.segment(image)
        mask = result.confidence_masks[-1].numpy_view()
        # A copy: the view points into MediaPipe's buffer, which does not outlive ``result``.
        np.copyto(self._conf, mask.reshape(self._conf.shape))
        return self._conf

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()


def open_runtime(name: str, path: Path, *, video: bool, input_size: tuple[int, int] | None = None) -> Runtime:
    """Load ``path`` into runtime ``name`` (see the module's promises).

    ``input_size`` is needed for ``mediapipe`` only (LiteRT reads it from the model); None: 256x256.
    """
    if name == "litert":
        return LiteRTRuntime(path)
    if name == "mediapipe":
        return MediaPipeRuntime(path, input_size or (256, 256), video=video)
    raise RuntimeLoadError(f"segmentation.runtime = {name!r}: use one of {', '.join(NAMES)}")
