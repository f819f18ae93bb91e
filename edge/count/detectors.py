"""Detectors for counting, behind one interface: ``detect(pixels) -> Detections``.

* ``OnnxCountDetector``: any YOLO-format ONNX model with COCO labels, run by the models
  runtime; the default is the shipped ``count-default`` (YOLOX-Nano, COCO).
* ``BackgroundDetector``: the option for a fixed camera where no model runs. OpenCV MOG2/KNN
  background subtraction, blobs grouped by a closing sized in metres, classified by
  size and shape in metres (``pixels_per_metre`` until the camera calibration is used).

Both return boxes in full-frame pixels with ``class_names == CLASSES``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from voirie.edge.count.config import (
    CLASSES,
    BackgroundDetectorConfig,
    CountConfig,
    OnnxDetectorConfig,
    SizeRule,
)
from voirie.edge.count.classes import (CLASS_SCORES, CarScale, ground_size_evidence, merge_labels, merge_riders,
                                      relative_size_evidence)
from voirie.records import Detections

logger = logging.getLogger(__name__)

# Background subtraction has no score; a constant keeps every blob in ByteTrack's first stage.
_BLOB_CONFIDENCE = 0.9
_WARMUP_FRAMES = 25
# Scores kept as evidence (ByteTrack's second stage and the class vote), well under the
# confidence that starts a track.
EVIDENCE_FLOOR = 0.1


class GroundMapper(Protocol):
    """Pixels → metres on the road (``voirie.calibration.GroundPlane`` is one)."""

    def to_ground(self, points_px: np.ndarray) -> np.ndarray:
        """(N, 2) pixels → (N, 2) metres; NaN where a pixel sees no road."""
        ...


class CountDetector(Protocol):
    """What the counter needs from a detector."""

    def detect(self, pixels: np.ndarray) -> Detections:
        """Objects in one BGR frame, boxes in that frame's pixels, labels from ``CLASSES``."""
        ...

    def reset(self) -> None:
        """Forget scene state (after a gap, a light change or a day/IR switch)."""
        ...


def classify_blob(length_m: float, height_m: float, rules: tuple[SizeRule, ...]) -> str | None:
    """First size rule that fits a blob ``length_m`` long and ``height_m`` high, or None."""
    ratio = height_m / max(length_m, 1e-6)
    for rule in rules:
        if length_m <= rule.max_length_m and rule.min_height_ratio <= ratio <= rule.max_height_ratio:
            return rule.class_name
    return None


class BackgroundDetector:
    """Moving blobs on a fixed camera, classified by their size in metres."""

    def __init__(self, config: BackgroundDetectorConfig, pixels_per_metre: float | None, detect_width: int = 640,
                 light_change_fraction: float = 0.6, ground: GroundMapper | None = None) -> None:
        if ground is None and (pixels_per_metre is None or pixels_per_metre <= 0):
            raise ValueError(f"pixels_per_metre must be > 0 without a calibration, got {pixels_per_metre}")
        self.config = config
        self.pixels_per_metre = pixels_per_metre
        self.ground = ground
        self.detect_width = detect_width
        self.light_change_fraction = light_change_fraction
        self.light_changes = 0
        self.reset()

    def reset(self) -> None:
        """Start a fresh background model (the old one no longer matches the scene)."""
        self._frames = 0
        if self.config.method == "knn":
            self._subtractor = cv2.createBackgroundSubtractorKNN(history=self.config.history, detectShadows=True)
        else:
            self._subtractor = cv2.createBackgroundSubtractorMOG2(
                history=self.config.history, varThreshold=self.config.var_threshold, detectShadows=True
            )

    def _foreground(self, pixels: np.ndarray) -> tuple[np.ndarray, float]:
        width = pixels.shape[1]
        scale = min(1.0, self.detect_width / width)
        small = pixels if scale == 1.0 else cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        # OpenCV learns at 1/frames until `history` frames have passed, i.e. fast for the
        # first minute: a car waiting at the line then melts into the background. Learn fast
        # only for a short warm-up, then at the configured 1/history.
        self._frames += 1
        rate = 1.0 / self._frames if self._frames < _WARMUP_FRAMES else 1.0 / self.config.history
        raw = self._subtractor.apply(small, learningRate=rate)
        # 127 marks shadows: a shadow is not an object and would merge neighbours.
        mask = np.where(raw == 255, 255, 0).astype(np.uint8)
        return mask, scale

    def detect(self, pixels: np.ndarray) -> Detections:
        """Blobs of the current frame; empty (and counted) when the whole scene changed."""
        mask, scale = self._foreground(pixels)
        if cv2.countNonZero(mask) > self.light_change_fraction * mask.size:
            # Lights on/off or an IR switch: the whole frame differs. Relearn rather than
            # report one frame-sized "truck".
            self.light_changes += 1
            logger.info("light change: background model reset")
            self.reset()
            return Detections.empty(CLASSES)
        ppm = (self.pixels_per_metre or 20.0) * scale
        grow = max(3, int(round(0.5 * ppm)) | 1)  # close gaps under ~0.5 m: one vehicle, one blob
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return self._blobs_to_detections(stats[1:count], ppm, scale)

    def _local_scale(self, stats: np.ndarray, ppm: float, scale: float) -> np.ndarray:
        """Pixels per metre (detection resolution) at each blob: calibrated, else uniform."""
        if self.ground is None or not len(stats):
            return np.full(len(stats), ppm)
        x, y, w, h = (stats[:, i].astype(float) / scale for i in range(4))
        left = self.ground.to_ground(np.stack([x, y + h], 1))
        right = self.ground.to_ground(np.stack([x + w, y + h], 1))
        metres = np.hypot(*(right - left).T)  # NaN where the bottom edge is off the road
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(metres > 0.05, stats[:, 2] / metres, np.nan)

    def _blobs_to_detections(self, stats: np.ndarray, ppm: float, scale: float) -> Detections:
        boxes, class_ids = [], []
        for (x, y, w, h, area), local in zip(stats.tolist(), self._local_scale(stats, ppm, scale)):
            if not np.isfinite(local) or area / local**2 < self.config.min_area_m2:
                continue
            name = classify_blob(w / local, h / local, self.config.size_rules)
            if name is None:
                continue
            boxes.append((x / scale, y / scale, (x + w) / scale, (y + h) / scale))
            class_ids.append(CLASSES.index(name))
        if not boxes:
            return Detections.empty(CLASSES)
        return Detections(
            xyxy=np.asarray(boxes, np.float32),
            confidence=np.full(len(boxes), _BLOB_CONFIDENCE, np.float32),
            class_id=np.asarray(class_ids, np.int64),
            class_names=CLASSES,
        )


class ModelDetector(Protocol):
    def detect(self, pixels: np.ndarray) -> Detections: ...


def _coco_names() -> tuple[str, ...]:
    # "_" joins multi-word labels so split() keeps them whole.
    raw = (
        "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign "
        "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag "
        "tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
        "tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot "
        "hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
        "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
    )
    return tuple(name.replace("_", " ") for name in raw.split())


COCO80 = _coco_names()


def load_model_detector(path: str) -> ModelDetector:
    """The models runtime's detector for a YOLO-format ONNX file with COCO labels.

    A file without label metadata (YOLOX exports) gets the 80 COCO names in index order;
    labels stored in the file (ultralytics exports) are kept.
    """
    from voirie.models import load_detector

    detector = load_detector(path, confidence=EVIDENCE_FLOOR)
    generic = tuple(f"class{i}" for i in range(len(COCO80)))
    if tuple(detector.class_names) == generic:
        detector = load_detector(path, confidence=EVIDENCE_FLOOR, class_names=COCO80)
    return detector


def _names_a_file(model: str) -> bool:
    """A path (``…/x.onnx``) rather than a registry name (``count-default``)."""
    return model.endswith(".onnx") or "/" in model or "\\" in model


def verify_model(config: OnnxDetectorConfig) -> str:
    """Name the counting model a config asks for; raise when it is neither a file nor registered."""
    if _names_a_file(config.model):
        if not Path(config.model).is_file():
            raise FileNotFoundError(f"counting model {config.model} not found")
        return config.model
    from voirie.models.registry import find_model

    manifest, _ = find_model(config.model)  # ModelError lists the registered names
    return f"{manifest.name} {manifest.version}"


class OnnxCountDetector:
    """A COCO detector whose labels become counted classes, riders merged into their vehicle.

    Boxes are kept from a low score (``EVIDENCE_FLOOR``): ByteTrack uses them to continue
    tracks, never to start one (that takes ``confidence``), and the class vote uses their
    scores. ``ground`` (a calibration or uniform scale) lets box sizes decide between car
    and truck_bus when the labels hesitate.
    """

    def __init__(self, config: OnnxDetectorConfig, model: ModelDetector | None = None,
                 ground: GroundMapper | None = None) -> None:
        if model is None and _names_a_file(config.model) and not Path(config.model).is_file():
            raise ValueError(f"ONNX model not found: {config.model}")
        self.config = config
        self.ground = ground
        self.model = model if model is not None else load_model_detector(config.model)
        self.car_scale = CarScale()  # the scene's geometry, kept across light changes

    def reset(self) -> None:
        """A detector that looks at one frame at a time has no scene state."""

    def detect(self, pixels: np.ndarray) -> Detections:
        """Road users in one frame; per-class evidence in ``metadata["class_scores"]``."""
        found = self.model.detect(pixels)
        mapped = np.array([CLASSES.index(self.config.class_map[n]) if n in self.config.class_map else -1
                           for n in found.names()], np.int64)
        keep = np.flatnonzero((mapped >= 0) & (np.asarray(found.confidence) >= EVIDENCE_FLOOR))
        if not len(keep):
            return Detections.empty(CLASSES)
        objects = merge_labels(np.asarray(found.xyxy, np.float32)[keep], mapped[keep],
                               np.asarray(found.confidence, np.float32)[keep])
        objects = merge_riders(objects)
        if self.ground is not None:
            objects = ground_size_evidence(objects, self.ground)
        else:
            objects = relative_size_evidence(objects, self.car_scale)
        return Detections(xyxy=objects.xyxy, confidence=objects.confidence().astype(np.float32),
                          class_id=objects.best_class().astype(np.int64), class_names=CLASSES,
                          metadata={CLASS_SCORES: objects.scores})


def build_detector(config: CountConfig, ground: GroundMapper | None = None) -> CountDetector:
    """The detector a config asks for (sizes from ``ground`` when calibrated)."""
    if isinstance(config.detector, OnnxDetectorConfig):
        return OnnxCountDetector(config.detector, ground=ground)
    return BackgroundDetector(config.detector, config.pixels_per_metre, config.detect_width,
                              config.health.light_change_fraction, ground if config.calibration else None)
