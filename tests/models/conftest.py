"""Tiny real ONNX detectors built with the ``onnx`` helper API, so the suite needs no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def build_onnx(
    path: Path,
    raw: np.ndarray,
    input_shape: tuple = (1, 3, 64, 64),
    opset: int = 17,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a model whose output is ``raw + 0 * mean(input)``: a fixed, known prediction.

    The input is really used (ReduceMean), so ONNX Runtime runs a real graph on real tensors.
    """
    const = numpy_helper.from_array(raw.astype(np.float32), "raw")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["raw", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(raw.shape))],
        initializer=[const, numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(model, str(path))
    return path


def ultralytics_raw(boxes_cxcywh: list[tuple], scores: list[list[float]], anchors: int = 16) -> np.ndarray:
    """A ``1×(4+C)×N`` output with the given rows at the first anchors, zeros elsewhere."""
    classes = len(scores[0])
    raw = np.zeros((1, 4 + classes, anchors), np.float32)
    raw[0, 4:, :] = 0.0
    raw[0, :4, :] = 1.0  # tiny 1-px boxes with zero score elsewhere
    for i, (box, score) in enumerate(zip(boxes_cxcywh, scores)):
        raw[0, :4, i] = box
        raw[0, 4:, i] = score
    return raw


@pytest.fixture()
def damage_onnx(tmp_path: Path) -> Path:
    """An ultralytics-layout 2-class model (crack, pothole) with a 64×64 input and known boxes."""
    raw = ultralytics_raw(
        [(32, 32, 20, 10), (33, 32, 20, 10), (10, 50, 8, 8)],
        [[0.9, 0.1], [0.6, 0.1], [0.05, 0.7]],
    )
    meta = {"names": "{0: 'crack', 1: 'pothole'}", "imgsz": "[64, 64]", "task": "detect"}
    return build_onnx(tmp_path / "tiny_damage.onnx", raw, metadata=meta)
