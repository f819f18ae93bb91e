"""Plate finder: the PP-OCRv4 text detector that ``rapidocr-onnxruntime`` ships (Apache-2.0).

A number plate is a short line of large characters, and no plate model with a clear
licence can be fetched here, so we mask text regions: every plate is text (measured in
``voirie anonymize eval``), at the cost of also masking some signs. The DB text detector
outputs a per-pixel text probability; its regions are shrunk text cores, so each box is
grown back ("unclip") before the masker adds its own margin.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import onnxruntime as ort

from voirie.anonymize.centerface import FaceBoxes
from voirie.anonymize.errors import AnonymizationError
from voirie.anonymize.onnx_model import PPOCR_DET, ModelSpec, make_session, read_verified, run_with_deadline

logger = logging.getLogger(__name__)

_UNCLIP_RATIO = 1.6  # the value PP-OCR uses to grow its shrunk text cores back


class TextDetector:
    """Runs the DB text detector on BGR images whose sides are multiples of 32."""

    def __init__(
        self, threads: int = 1, spec: ModelSpec = PPOCR_DET, model_path: str | None = None, spinning: bool = False
    ) -> None:
        path = model_path or spec.locate()
        self._session: ort.InferenceSession = make_session(read_verified(path, spec.sha256), threads, spinning)
        self._input = self._session.get_inputs()[0].name
        self.model_id = spec.model_id

    def detect(self, image: np.ndarray, threshold: float, timeout_s: float, pixel_threshold: float = 0.3) -> FaceBoxes:
        """Text boxes in ``image`` pixels with their mean probability (>= ``threshold``)."""
        height, width = image.shape[:2]
        if height % 32 or width % 32:
            raise AnonymizationError(f"text detector input must have sides multiple of 32, got {width}x{height}")
        blob = to_blob(image)
        (prob,) = run_with_deadline(self._session, {self._input: blob}, timeout_s, "PP-OCR text detector")
        if not np.isfinite(prob).all():
            raise AnonymizationError("text detector returned non-finite values")
        return regions(prob[0, 0], threshold, pixel_threshold)


def to_blob(image: np.ndarray) -> np.ndarray:
    """BGR uint8 image to the 1x3xHxW float input of the PP-OCR detector."""
    # PP-OCR normalises BGR pixels to [-1, 1] (mean 0.5, std 0.5 on 0-1 values).
    return image.transpose(2, 0, 1)[None].astype(np.float32) * (2.0 / 255.0) - 1.0


def regions(prob: np.ndarray, threshold: float, pixel_threshold: float) -> FaceBoxes:
    """Connected text regions of a probability map, grown back by the unclip ratio."""
    binary = (prob > pixel_threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes, scores = [], []
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if min(w, h) < 2:
            continue
        score = float(prob[y : y + h, x : x + w][labels[y : y + h, x : x + w] == label].mean())
        if score < threshold:
            continue
        # DB unclip: offset = area * ratio / perimeter, applied on every side.
        grow = area * _UNCLIP_RATIO / max(2.0 * (w + h), 1.0)
        boxes.append([x - grow, y - grow, x + w + grow, y + h + grow])
        scores.append(score)
    if not boxes:
        return FaceBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    xyxy = np.asarray(boxes, np.float32)
    xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, prob.shape[1])
    xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, prob.shape[0])
    return FaceBoxes(xyxy, np.asarray(scores, np.float32))
