"""The default anonymizer on a drawn scene: real ONNX Runtime sessions, real model files."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from voirie.anonymize import AnonymizationError, Anonymizer
from voirie.records import Frame


def _frame(pixels: np.ndarray) -> Frame:
    return Frame(pixels=pixels, monotonic_s=0.0, time_utc=datetime.now(timezone.utc), camera_id="cam", sequence=0)


def _plate_scene() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey road scene with a white plate carrying black characters."""
    image = np.full((720, 1280, 3), 90, np.uint8)
    x1, y1, x2, y2 = 560, 420, 760, 465
    cv2.rectangle(image, (x1, y1), (x2, y2), (245, 245, 245), -1)
    cv2.putText(image, "AB 123 CD", (x1 + 8, y2 - 10), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (10, 10, 10), 3)
    return image, (x1, y1, x2, y2)


def test_name_lists_both_models(anonymizer: Anonymizer) -> None:
    assert anonymizer.name.startswith("centerface-int8@voirie-1+platenet@voirie-1+")


def test_drawn_plate_is_masked_in_place(anonymizer: Anonymizer) -> None:
    image, (x1, y1, x2, y2) = _plate_scene()
    original = image[y1:y2, x1:x2].copy()
    result = anonymizer(_frame(image))
    assert result.plates_masked >= 1
    assert result.pixels is image  # in place: no unmasked copy is kept
    # The characters are gone: the patch is now smooth.
    patch = image[y1:y2, x1:x2].astype(np.int16)
    assert np.abs(np.diff(patch, axis=1)).max() < np.abs(np.diff(original.astype(np.int16), axis=1)).max() / 4


def test_read_only_pixels_are_refused(anonymizer: Anonymizer) -> None:
    image, _ = _plate_scene()
    image.flags.writeable = False
    with pytest.raises(AnonymizationError, match="read-only"):
        anonymizer(_frame(image))
