"""One model session: the bytes of a stored evidence JPEG → detections in the frame's pixels.

Both engines run exactly this, so ``--engine ray`` and ``--engine local`` find the same
detections on the same photos.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from voirie.models import ModelError, load_detector
from voirie.reanalyse.errors import ReanalyseError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Photo:
    """A stored evidence photo and the size of the frame its record describes."""

    record_id: str
    path: str
    image_width: int
    image_height: int


@dataclass(frozen=True)
class FoundDamage:
    """One detection of the re-analysing model, its box in the frame record's pixels."""

    class_name: str
    confidence: float
    box_xyxy: tuple[float, float, float, float]


class PhotoAnalyser:
    """A loaded model (one ONNX Runtime session) that analyses stored photos one by one."""

    def __init__(self, model: str, threads: int = 0) -> None:
        try:
            self.detector = load_detector(model, threads=threads)
        except ModelError as error:
            raise ReanalyseError(str(error)) from error
        self.model_id = self.detector.model_id
        self.model_version = self.detector.model_version

    def analyse(self, jpeg: bytes, frame_size: tuple[int, int]) -> list[FoundDamage]:
        """Detections on one JPEG, scaled to ``frame_size`` (width, height): the server keeps
        boxes in the device frame's pixels while evidence may be a smaller thumbnail."""
        pixels = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ReanalyseError(f"evidence of {len(jpeg)} bytes does not decode as an image")
        found = self.detector.detect(pixels)
        scale = np.array([frame_size[0] / pixels.shape[1], frame_size[1] / pixels.shape[0]] * 2)
        boxes = np.asarray(found.xyxy, np.float64) * scale
        return [FoundDamage(found.class_names[int(c)], round(float(p), 6), tuple(round(float(v), 3) for v in box))
                for c, p, box in zip(found.class_id, found.confidence, boxes)]

    def analyse_photo(self, photo: Photo) -> list[FoundDamage] | None:
        """Detections of one stored photo; None (logged) when it cannot be read or decoded."""
        try:
            with open(photo.path, "rb") as handle:
                return self.analyse(handle.read(), (photo.image_width, photo.image_height))
        except (OSError, ReanalyseError) as error:
            logger.warning("skipping photo of record %s: %s", photo.record_id, error)
            return None
