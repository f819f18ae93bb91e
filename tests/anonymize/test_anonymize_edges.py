"""Plates cut by the frame's top edge: the top row repeated upwards for the plate network, stripes dropped."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.anonymize.detectors import CLASS_NAMES, PLATE, PlateDetector, Window, edge_padded
from voirie.anonymize.evaluate import protected_share
from voirie.anonymize.maskers import expanded_boxes
from voirie.anonymize.plates import PlateNetwork
from voirie.lab.synth.anonymize import render_plate
from voirie.records import Detections


def test_only_a_window_at_the_top_of_the_frame_gets_the_top_row_repeated() -> None:
    image = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    crop, offset = edge_padded(image, Window(0, 50, 0, 120, 1.0), 8)
    assert crop.shape == (58, 120, 3) and offset == (0, 8)
    assert (crop[:8] == image[0, :120]).all() and (crop[8:] == image[:50, :120]).all()
    for window in (Window(50, 100, 80, 200, 1.0), Window(20, 60, 30, 90, 1.0)):  # bottom and sides; inside
        crop, offset = edge_padded(image, window, 8)
        assert offset == (0, 0) and (crop == image[window.top:window.bottom, window.left:window.right]).all()
    assert edge_padded(image, Window(0, 50, 0, 120, 1.0), 0)[1] == (0, 0)


def _plate_cut_by_the_top(seed: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A 1024x640 grey road photo with a plate ``height`` px tall whose upper 60 % is above the frame."""
    rng = np.random.default_rng(seed)
    frame = np.clip(rng.normal(110, 10, (640, 1024, 3)), 0, 255).astype(np.uint8)
    cv2.rectangle(frame, (360, 0), (560, 40), (40, 40, 50), -1)  # the rear of the car ahead
    width = round(height * 4.5)
    plate = cv2.resize(render_plate(rng), (width, height), interpolation=cv2.INTER_AREA)
    visible = plate[height - int(height * 0.4):]
    frame[0:visible.shape[0], 415:415 + width] = visible
    return frame, np.array([415, 0, 415 + width, visible.shape[0]], float)


def _masked(anonymizer: Anonymizer, frame: np.ndarray) -> np.ndarray:
    found = anonymizer.detect(frame)
    masked = np.zeros(frame.shape[:2], bool)
    for x1, y1, x2, y2 in expanded_boxes(found, frame.shape, anonymizer.masker.margin):
        masked[y1:y2, x1:x2] = True
    return masked


def test_a_plate_cut_by_the_top_edge_is_masked() -> None:
    options = AnonymizerOptions(timeout_s=60, horizon="whole_frame")
    frames = [_plate_cut_by_the_top(seed, height) for seed in range(3) for height in (10, 20)]
    anonymizers = {pad: Anonymizer.default(replace(options, plate_edge_pad_px=pad)) for pad in (32, 0)}
    protected = {pad: [protected_share(_masked(a, frame), box) >= 0.9 for frame, box in frames]
                 for pad, a in anonymizers.items()}
    assert all(protected[32]), protected
    assert sum(protected[0]) <= 2, protected  # measured: 0-1 of 8 without the repeated edge


def test_a_stripe_along_the_edge_is_not_a_plate() -> None:
    detector = PlateDetector(PlateNetwork(), threshold=0.5, max_aspect=6.0)
    frame = np.zeros((640, 1024, 3), np.uint8)
    frame[::2] = 255  # contrast everywhere: only the shape decides
    boxes = np.array([[100, 0, 400, 10], [600, 0, 645, 12]], np.float32)  # a 30:1 stripe, a plate
    part = Detections(xyxy=boxes, confidence=np.array([0.9, 0.9], np.float32),
                      class_id=np.full(2, PLATE, np.int64), class_names=CLASS_NAMES)
    kept = detector.combine(frame, [part])
    assert len(kept) == 1 and kept.xyxy[0, 0] < 600 < kept.xyxy[0, 2]


@pytest.mark.parametrize("field, value", [("plate_edge_pad_px", -1), ("plate_edge_pad_px", 500),
                                          ("plate_max_aspect", 0.5)])
def test_bad_edge_settings_are_refused_by_name(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        AnonymizerOptions(**{field: value})
