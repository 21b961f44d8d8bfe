"""The model's graph rewritten for less work: the same confidence, bit for bit, from the real models on real
people, and the LiteRT runtime loads the rewritten graph."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from conftest import AISEGMENT

from vcamd.engine import graph_rewrite, models, runtimes


def _interpreter(model: bytes) -> Interpreter:
    with runtimes.native_stderr_quiet():
        it = Interpreter(model_content=model, num_threads=1)
        it.allocate_tensors()
    return it


def _ops(it: Interpreter) -> set[str]:
    return {op["op_name"] for op in it._get_ops_details()}


def _confidence(it: Interpreter, image: np.ndarray) -> np.ndarray:
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    h, w = inp["shape"][1:3]
    rgb = cv2.cvtColor(cv2.resize(image, (int(w), int(h)), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    it.set_tensor(inp["index"], (rgb.astype(np.float32) / 255.0)[None])
    it.invoke()
    return it.get_tensor(out["index"]).copy()


@pytest.mark.parametrize("model", ["landscape", "general"])
def test_the_rewritten_graph_gives_the_same_confidence(model: str) -> None:
    """The transposed convolution is gone, a 1x1 convolution and a depth-to-space stand in for it, and the
    confidence on real people is the original's (to float rounding; it is the same bit for bit here)."""
    original = models.resolve(model).read_bytes()
    light = graph_rewrite.lighten(original)
    a, b = _interpreter(original), _interpreter(light)
    assert graph_rewrite.TRANSPOSE_CONV in _ops(a) and "DEPTH_TO_SPACE" not in _ops(a)
    assert _ops(b) == _ops(a) - {graph_rewrite.TRANSPOSE_CONV} | {"DEPTH_TO_SPACE"}
    worst, person = 0.0, 0.0
    for path in AISEGMENT:
        image = cv2.imread(str(path))
        x, y = _confidence(a, image), _confidence(b, image)
        assert x.shape == y.shape
        worst = max(worst, float(np.abs(x - y).max()))
        person = max(person, float((x > 0.5).mean()))
    assert worst <= 1e-6
    assert person > 0.1  # the images hold people: the comparison covers confident pixels


def test_what_cannot_be_rewritten_comes_back_as_it_was() -> None:
    light = graph_rewrite.lighten(models.resolve("landscape").read_bytes())
    assert graph_rewrite.lighten(light) is light  # nothing left to rewrite
    junk = b"not a tflite model at all"
    assert graph_rewrite.lighten(junk) is junk


def test_the_litert_runtime_runs_the_rewritten_graph() -> None:
    rt = runtimes.LiteRTRuntime(models.resolve("landscape"))
    try:
        ops = _ops(rt._it)
        assert "DEPTH_TO_SPACE" in ops and graph_rewrite.TRANSPOSE_CONV not in ops
    finally:
        rt.close()
