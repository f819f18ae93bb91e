"""Maskers: in place, irreversible, box grown by the margin, nothing outside touched."""

from __future__ import annotations

import numpy as np
import pytest

from voirie.anonymize import BlurMasker, PixelateMasker, SolidMasker, make_masker
from voirie.anonymize.detectors import CLASS_NAMES
from voirie.anonymize.maskers import expanded_boxes
from voirie.records import Detections


def _detections(*boxes: tuple[float, float, float, float]) -> Detections:
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(-1, 4), confidence=np.ones(len(boxes), np.float32),
        class_id=np.zeros(len(boxes), np.int64), class_names=CLASS_NAMES,
    )


@pytest.fixture()
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)


def test_margin_grows_the_box_and_clips_to_the_image() -> None:
    boxes = expanded_boxes(_detections((100, 100, 200, 150), (-20, 180, 40, 260)), (200, 300, 3), 0.2)
    assert boxes.tolist() == [[80, 90, 220, 160], [0, 164, 52, 200]]


@pytest.mark.parametrize("masker", [BlurMasker(0.2), PixelateMasker(0.2), SolidMasker(0.2)], ids=type)
def test_mask_is_in_place_and_only_inside_the_grown_box(masker, noise: np.ndarray) -> None:
    original = noise.copy()
    result = masker.mask(noise, _detections((100, 100, 200, 150)))
    assert result is noise
    inside = np.zeros(noise.shape[:2], bool)
    inside[90:160, 80:220] = True
    assert np.array_equal(noise[~inside], original[~inside])
    # Detail is destroyed: a noise patch loses nearly all its variation.
    assert noise[90:160, 80:220].std() < original[90:160, 80:220].std() / 4


def test_pixelate_keeps_at_most_cells_blocks(noise: np.ndarray) -> None:
    PixelateMasker(0.0, cells=4).mask(noise, _detections((0, 0, 300, 200)))
    assert len(np.unique(noise.reshape(-1, 3), axis=0)) <= 16


def test_solid_fills_one_colour(noise: np.ndarray) -> None:
    SolidMasker(0.0, color=(1, 2, 3)).mask(noise, _detections((10, 10, 20, 20)))
    assert (noise[10:20, 10:20] == (1, 2, 3)).all()


def test_empty_and_degenerate_boxes_change_nothing(noise: np.ndarray) -> None:
    original = noise.copy()
    BlurMasker().mask(noise, Detections.empty(CLASS_NAMES))
    BlurMasker(0.0).mask(noise, _detections((500, 500, 600, 600)))
    assert np.array_equal(noise, original)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        BlurMasker(margin=-1)
    with pytest.raises(ValueError, match="masker must be one of"):
        make_masker("smudge", 0.2)  # type: ignore[arg-type]
