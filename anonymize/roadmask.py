"""Over-masking of road damage on the sample drive (the damage model needs those pixels).

The anonymized frame is what the damage model sees, so every blurred pixel of damaged
asphalt is evidence lost. The sample drive's frames are real road photos with human
damage labels (``truth.json``): per frame we report the share of the labelled damage
boxes masked (minus the pasted face and plate and the person/car around them), and
whether the true face/plate box is protected (>= 90 % masked).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from voirie.anonymize.anonymizer import Anonymizer
from voirie.anonymize.evaluate import PROTECTED_SHARE, protected_share
from voirie.anonymize.maskers import expanded_boxes

logger = logging.getLogger(__name__)


def damage_mask(damage: list[dict], width: int, height: int) -> np.ndarray:
    """Boolean HxW: the labelled damage boxes (``{"xyxy": [x0, y0, x1, y1]}``) of one frame."""
    mask = np.zeros((height, width), bool)
    for item in damage:
        x0, y0, x1, y1 = (int(round(v)) for v in item["xyxy"])
        mask[max(0, y0):y1, max(0, x0):x1] = True
    return mask


@dataclass(frozen=True)
class FrameResult:
    """One frame: road share masked (outside the true boxes) and protection of the true boxes."""

    index: int
    road_masked: float  # share of the labelled road damage masked
    face: bool | None  # None: no face in this frame
    plate: bool | None


def measure_frame(
    anonymizer: Anonymizer, pixels: np.ndarray, truth: dict, road: np.ndarray
) -> tuple[float, bool | None, bool | None]:
    """Masked share of ``road`` (the pixels the damage model needs; true objects excluded) and
    face/plate protection."""
    detections = anonymizer.detect(pixels)
    margin = getattr(anonymizer.masker, "margin", 0.0)
    masked = np.zeros(pixels.shape[:2], bool)
    for x1, y1, x2, y2 in expanded_boxes(detections, pixels.shape, margin):
        masked[y1:y2, x1:x2] = True
    road = road.copy()
    for key in ("face_xyxy", "plate_xyxy"):
        if truth.get(key):
            x1, y1, x2, y2 = truth[key]
            # The object (person, car) stands on the road around its face/plate: never count it.
            w, h = x2 - x1, y2 - y1
            road[max(0, y1 - 3 * h) : y2 + 8 * h, max(0, x1 - 2 * w) : x2 + 2 * w] = False
    road_share = float(masked[road].mean()) if road.any() else 0.0
    hits = [protected_share(masked, _core(truth[k], inset)) >= PROTECTED_SHARE if truth.get(k) else None
            for k, inset in (("face_xyxy", FACE_INSET), ("plate_xyxy", 0.0))]
    return road_share, hits[0], hits[1]


# The drive's face box is the whole head sprite; the face proper is its middle ~60 %.
FACE_INSET = 0.2


def _core(box: list[int], inset: float) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * inset, (y2 - y1) * inset
    return np.array([x1 + dx, y1 + dy, x2 - dx, y2 - dy])


def measure_drive(anonymizer: Anonymizer, video: Path, truth_path: Path, stride: int = 1) -> list[FrameResult]:
    """Run the anonymizer's detectors over every ``stride``-th frame of the sample drive."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    per_frame, photos = truth["per_frame"], truth["photos"]
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"cannot read video {video}")
    results, index = [], 0
    try:
        while True:
            ok, pixels = capture.read()
            if not ok or index >= len(per_frame):
                break
            if index % stride == 0:
                damage = damage_mask(photos[per_frame[index]["photo"]]["damage"], pixels.shape[1], pixels.shape[0])
                share, face, plate = measure_frame(anonymizer, pixels, per_frame[index], damage)
                results.append(FrameResult(index, share, face, plate))
            index += 1
    finally:
        capture.release()
    return results


def summarize(results: list[FrameResult]) -> dict[str, float | int | None]:
    """Mean and max share of road damage masked, frames over 1 %, face/plate recall over frames showing them."""
    shares = np.array([r.road_masked for r in results])
    faces = [r.face for r in results if r.face is not None]
    plates = [r.plate for r in results if r.plate is not None]
    return {
        "frames": len(results),
        "road_masked_mean": round(float(shares.mean()), 5),
        "road_masked_max": round(float(shares.max()), 5),
        "frames_road_over_1pct": int((shares > 0.01).sum()),
        "face_recall": round(sum(faces) / len(faces), 4) if faces else None,
        "plate_recall": round(sum(plates) / len(plates), 4) if plates else None,
    }
