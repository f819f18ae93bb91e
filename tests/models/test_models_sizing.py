"""Damage sizing through the ground-plane interface."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from voirie.models.sizing import size_detections
from voirie.records import Detections


class TopDownPlane:
    """A camera looking straight down: a real (if simple) ground mapping, 1 px = ``m`` metres,
    unusable (NaN) beyond ``limit_px`` rows, like a plane that sees no road above its horizon."""

    def __init__(self, m: float, limit_px: float = 1e9) -> None:
        self.m, self.limit_px = m, limit_px

    def length_m(self, polyline_px: np.ndarray) -> float:
        if (polyline_px[:, 1] > self.limit_px).any():
            return float("nan")
        return float(np.linalg.norm(np.diff(polyline_px, axis=0), axis=1).sum() * self.m)

    def area_m2(self, polygon_px: np.ndarray) -> float:
        x, y = polygon_px.T * self.m
        return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _found() -> Detections:
    return Detections(
        xyxy=np.array([[0, 0, 10, 200], [50, 50, 90, 70], [0, 900, 300, 950]], np.float32),
        confidence=np.array([0.9, 0.8, 0.5], np.float32),
        class_id=np.array([0, 1, 0]),
        class_names=("crack", "pothole"),
    )


def test_cracks_get_length_potholes_get_area() -> None:
    sized = size_detections(_found(), TopDownPlane(0.01, limit_px=800))
    assert sized.length_m[0] == pytest.approx(2.0)  # 200 px along the longer axis
    assert sized.area_m2[1] == pytest.approx(0.4 * 0.2)
    assert np.isnan(sized.length_m[2])  # beyond the usable road: unknown, not zero
    assert np.isnan(sized.area_m2[0]) and np.isnan(sized.length_m[1])
    assert sized.to_records()[0].length_m == pytest.approx(2.0) and sized.to_records()[2].length_m is None


def test_without_calibration_sizes_stay_unknown() -> None:
    sized = size_detections(_found(), None)
    assert np.isnan(sized.length_m).all() and np.isnan(sized.area_m2).all()


@pytest.mark.skipif(importlib.util.find_spec("voirie.calibration.geometry") is None, reason="calibration not merged")
def test_real_ground_plane_satisfies_the_interface() -> None:
    from voirie.calibration import GroundPlane
    from voirie.models.sizing import GroundMapping

    assert all(hasattr(GroundPlane, m) for m in GroundMapping.__dict__ if m in ("length_m", "area_m2"))
