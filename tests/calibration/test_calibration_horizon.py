"""The horizon/tilt check the quality gate calls on survey frames."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from voirie.calibration import CameraCalibration
from voirie.calibration.horizon import HorizonCheck, HorizonMonitor, check_horizon, expected_horizon, vanishing_point
from voirie.lab.synth.calibration import render_road_view

from .conftest import TRUE_K, vehicle_dict


@pytest.mark.parametrize("pitch", [0.0, 5.0, 12.0])
def test_expected_horizon_row_for_level_camera(pitch: float) -> None:
    plane = CameraCalibration.model_validate(vehicle_dict(pitch_deg=pitch)).ground_plane()
    horizon = expected_horizon(plane)
    assert horizon.row_at_centre_px == pytest.approx(TRUE_K[1, 2] - TRUE_K[1, 1] * math.tan(math.radians(pitch)))
    assert horizon.tilt_deg == pytest.approx(0.0, abs=1e-9)


def test_horizon_tilts_with_roll() -> None:
    plane = CameraCalibration.model_validate(vehicle_dict(roll_deg=3.0)).ground_plane()
    horizon = expected_horizon(plane)
    assert abs(horizon.tilt_deg) == pytest.approx(3.0, abs=0.05)
    # the horizon is where road points far away project
    far = plane.ground_to_pixel(np.array([[-500.0, 5000.0], [500.0, 5000.0]]))
    assert horizon.row_px(far[:, 0]) == pytest.approx(far[:, 1], abs=2.0)


def test_frame_matching_the_calibration_passes() -> None:
    plane = CameraCalibration.model_validate(vehicle_dict(pitch_deg=8.0, yaw_deg=2.0)).ground_plane()
    check = check_horizon(plane, render_road_view(plane))
    assert check.ok is True
    assert abs(check.error_deg) < 0.3
    assert check.segments_used >= 4


@pytest.mark.parametrize("knock_deg", [-3.0, 2.5])
def test_knocked_camera_fails_the_check(knock_deg: float) -> None:
    actual = CameraCalibration.model_validate(vehicle_dict(pitch_deg=8.0 + knock_deg)).ground_plane()
    calibrated = CameraCalibration.model_validate(vehicle_dict(pitch_deg=8.0)).ground_plane()
    check = check_horizon(calibrated, render_road_view(actual))
    assert check.ok is False
    assert check.error_deg == pytest.approx(knock_deg, abs=0.3)
    assert "horizon off by" in check.reason


def test_frame_without_lines_is_undecided() -> None:
    plane = CameraCalibration.model_validate(vehicle_dict()).ground_plane()
    check = check_horizon(plane, np.full((480, 640, 3), 90, np.uint8))
    assert check.ok is None and check.error_deg is None
    assert "too few" in check.reason


def test_resized_frame_is_checked_and_other_aspect_refused() -> None:
    plane = CameraCalibration.model_validate(vehicle_dict(pitch_deg=8.0)).ground_plane()
    frame = cv2.resize(render_road_view(plane), (320, 240), interpolation=cv2.INTER_AREA)
    check = check_horizon(plane, frame)
    assert check.ok is True and abs(check.error_deg) < 0.5
    assert check.expected.row_at_centre_px == pytest.approx((expected_horizon(plane).row_at_centre_px + 0.5) / 2 - 0.5)
    with pytest.raises(ValueError, match="aspect ratio"):
        check_horizon(plane, np.zeros((240, 240, 3), np.uint8))


def test_vanishing_point_of_exact_segments() -> None:
    vp = np.array([300.0, 150.0])
    starts = np.array([[0.0, 400.0], [600.0, 450.0], [100.0, 470.0], [500.0, 300.0]])
    segments = np.hstack([starts, starts + 0.5 * (vp - starts)])
    outlier = np.array([[10.0, 10.0, 60.0, 200.0]])
    point, inliers = vanishing_point(np.vstack([segments, outlier]))
    assert point == pytest.approx(vp, abs=1e-6)
    assert inliers.tolist() == [True, True, True, True, False]


def _check(plane_expected, error: float | None) -> HorizonCheck:
    return HorizonCheck(None if error is None else abs(error) < 1.5, error, plane_expected, None, 0, "")


def test_monitor_tolerates_noisy_frames_and_flags_a_shift() -> None:
    expected = expected_horizon(CameraCalibration.model_validate(vehicle_dict()).ground_plane())
    rng = np.random.default_rng(4)
    monitor = HorizonMonitor(window=25, tolerance_deg=1.5, min_frames=8)
    assert monitor.update(_check(expected, 0.2)) is None  # too few frames to say
    for error in rng.normal(0, 0.8, 30):  # noisy, some frames beyond 1.5 deg on their own
        status = monitor.update(_check(expected, float(error)))
    monitor.update(_check(expected, None))  # a frame without lines changes nothing
    assert status is True and monitor.ok is True
    for error in rng.normal(-3.0, 0.8, 25):  # the camera was knocked 3 deg
        status = monitor.update(_check(expected, float(error)))
    assert status is False
    assert monitor.median_error_deg == pytest.approx(-3.0, abs=0.5)


def test_monitor_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="min_frames"):
        HorizonMonitor(window=5, min_frames=10)
