"""Quality gate: blurred, dark, bright and same-position frames are rejected with a reason."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from voirie.capture.quality import QualityConfig, QualityGate, score
from voirie.records import GeoFix

T0 = datetime(2025, 5, 14, 8, 30, tzinfo=timezone.utc)


def _scene(seed: int = 0) -> np.ndarray:
    """A textured mid-grey street-like picture: sharp edges and fine grain."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(120, 25, (720, 1280, 3)), 0, 255).astype(np.uint8)
    for x in range(0, 1280, 80):
        cv2.rectangle(image, (x, 100), (x + 40, 300), (230, 230, 230), -1)
    return image


def _fix(lat: float = 47.2595, lon: float = -0.0780) -> GeoFix:
    return GeoFix(lat=lat, lon=lon, time_utc=T0)


def test_sharp_well_exposed_frame_is_kept() -> None:
    gate = QualityGate()
    verdict = gate.check(_scene(), _fix())
    assert verdict.kept and verdict.reason is None and gate.kept == 1
    assert verdict.scores.sharpness > gate.config.min_sharpness


@pytest.mark.parametrize(
    ("transform", "reason"),
    [
        (lambda im: cv2.GaussianBlur(im, (0, 0), 4), "blurred"),
        (lambda im: (im * 0.08).astype(np.uint8), "too_dark"),
        (lambda im: np.clip(im.astype(np.int16) + 170, 0, 255).astype(np.uint8), "too_bright"),
    ],
)
def test_bad_frames_are_rejected_with_their_reason(transform, reason: str) -> None:
    gate = QualityGate()
    verdict = gate.check(transform(_scene()), _fix())
    assert not verdict.kept and verdict.reason == reason
    assert gate.rejected == {reason: 1} and gate.kept == 0


def test_same_position_as_previous_kept_frame_is_rejected() -> None:
    gate = QualityGate()
    assert gate.check(_scene(0), _fix()).kept
    # 0.3 m further east: same place; 4 m further: a new photo.
    assert gate.check(_scene(1), _fix(lon=-0.0780 + 0.3 / 75500)).reason == "same_position"
    assert gate.check(_scene(2), _fix(lon=-0.0780 + 4.0 / 75500)).kept
    assert gate.rejected == {"same_position": 1} and gate.kept == 2


def test_a_rejected_frame_does_not_move_the_reference_position() -> None:
    gate = QualityGate()
    gate.check(_scene(), _fix())
    blurred = cv2.GaussianBlur(_scene(), (0, 0), 4)
    assert gate.check(blurred, _fix(lon=-0.0780 + 4.0 / 75500)).reason == "blurred"
    assert gate.check(_scene(3), _fix(lon=-0.0780 + 0.2 / 75500)).reason == "same_position"


def test_scores_are_within_their_ranges() -> None:
    scores = score(np.zeros((10, 10, 3), np.uint8))
    assert scores.brightness == 0 and scores.dark_fraction == 1 and scores.bright_fraction == 0
    assert score(np.full((10, 10, 3), 255, np.uint8)).bright_fraction == 1


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="min_brightness"):
        QualityConfig(min_brightness=200, max_brightness=100)
