"""Face and plate detectors with the common ``detect(image, timeout_s) -> Detections`` shape.

Each detector scales the frame so its longer side is at most ``max_side`` (speed: the
network cost grows with the pixel count), pads it to a multiple of 32 with black (never
stretching), runs its network and maps the boxes back to frame pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from voirie.anonymize.centerface import CenterFace, FaceBoxes
from voirie.anonymize.plates import TextDetector
from voirie.records import Detections

logger = logging.getLogger(__name__)

CLASS_NAMES = ("face", "plate")
FACE, PLATE = 0, 1


class Detector(Protocol):
    """Finds what must be masked; raises on any failure (the caller fails closed)."""

    model_id: str

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections: ...


@dataclass(frozen=True)
class Letterbox:
    """How a frame was scaled and padded for a network input."""

    image: np.ndarray
    scale: float


def letterbox(image: np.ndarray, max_side: int) -> Letterbox:
    """Scale so the longer side is <= ``max_side``, then pad right/bottom to multiples of 32."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    padded_h, padded_w = max(32, -(-h // 32) * 32), max(32, -(-w // 32) * 32)
    if (padded_h, padded_w) != (h, w):
        image = cv2.copyMakeBorder(image, 0, padded_h - h, 0, padded_w - w, cv2.BORDER_CONSTANT, value=0)
    return Letterbox(np.ascontiguousarray(image), scale)


def to_detections(boxes: FaceBoxes, scale: float, class_id: int) -> Detections:
    """Network boxes (letterboxed pixels) to frame-pixel ``Detections`` of one class."""
    return Detections(
        xyxy=(boxes.xyxy / scale).astype(np.float32),
        confidence=boxes.score.astype(np.float32),
        class_id=np.full(len(boxes.xyxy), class_id, np.int64),
        class_names=CLASS_NAMES,
    )


class FaceDetector:
    """CenterFace over the whole frame at ``max_side``."""

    def __init__(self, network: CenterFace, threshold: float = 0.2, max_side: int = 1280) -> None:
        if not 0 < threshold < 1 or max_side < 32:
            raise ValueError(f"face threshold must be in (0, 1) and max_side >= 32, got {threshold}, {max_side}")
        self.network, self.threshold, self.max_side = network, threshold, max_side
        self.model_id = network.model_id

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections:
        """Faces in ``image`` (frame pixels)."""
        boxed = letterbox(image, self.max_side)
        return to_detections(self.network.detect(boxed.image, self.threshold, timeout_s), boxed.scale, FACE)


class PlateDetector:
    """PP-OCR text regions over the whole frame at ``max_side``, kept when plate-sized."""

    def __init__(self, network: TextDetector, threshold: float = 0.5, max_side: int = 960) -> None:
        if not 0 < threshold < 1 or max_side < 32:
            raise ValueError(f"plate threshold must be in (0, 1) and max_side >= 32, got {threshold}, {max_side}")
        self.network, self.threshold, self.max_side = network, threshold, max_side
        self.model_id = network.model_id

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections:
        """Text regions (plate candidates) in ``image`` (frame pixels)."""
        boxed = letterbox(image, self.max_side)
        return to_detections(self.network.detect(boxed.image, self.threshold, timeout_s), boxed.scale, PLATE)
