"""A survey camera's calibration: the horizon the anonymizer follows, and which frames it sizes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from voirie.calibration import CalibrationError, CameraCalibration
from voirie.calibration.config import PoleMountConfig
from voirie.edge.survey.calibration import SurveyCalibration, anonymizer_options, load_optional, vehicle_calibration


@pytest.mark.parametrize("pitch_deg", [0.0, 3.0, 12.0, 25.0])
def test_horizon_row_follows_the_pitch(pitch_deg: float) -> None:
    calibration = SurveyCalibration.from_calibration(
        vehicle_calibration("car-1", "front", (1280, 720), focal_px=1000.0, height_m=1.5, pitch_deg=pitch_deg))
    expected = (360 - 1000.0 * math.tan(math.radians(pitch_deg))) / 720
    assert calibration.horizon == pytest.approx(expected, abs=1e-3)
    assert anonymizer_options(calibration, 5.0).horizon == pytest.approx(expected, abs=1e-3)


def test_without_a_calibration_the_anonymizer_estimates_the_horizon() -> None:
    assert anonymizer_options(None, 3.0).horizon == "estimate" and anonymizer_options(None, 3.0).timeout_s == 3.0
    assert load_optional(None) is None


def test_plane_only_for_frames_of_the_calibrated_size(tmp_path: Path) -> None:
    saved = vehicle_calibration("car-1", "front", (1280, 720), 1000.0, 1.5, 3.0).save(tmp_path / "cal.json")
    calibration = load_optional(saved)
    assert calibration is not None and calibration.plane_for(1280, 720) is calibration.plane
    assert calibration.plane_for(640, 360) is None


def test_a_pole_calibration_is_refused_for_a_survey() -> None:
    # Consistent points: ground points seen through a real (vehicle) pose, used as a pole's survey.
    seen_by = vehicle_calibration("pole-7", "cam0", (1280, 720), 1000.0, 4.5, 30.0)
    ground = np.array([[-3.0, 6.0], [3.0, 6.0], [3.0, 15.0], [-3.0, 15.0]])
    pixels = seen_by.ground_plane().ground_to_pixel(ground)
    mount = PoleMountConfig(image_points_px=pixels.tolist(), ground_points_m=ground.tolist())
    pole = CameraCalibration(device_id="pole-7", camera_id="cam0", intrinsics=seen_by.intrinsics, mount=mount)
    with pytest.raises(CalibrationError, match="pole camera"):
        SurveyCalibration.from_calibration(pole)


def test_a_missing_calibration_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found"):
        load_optional(tmp_path / "nowhere.json")


def test_the_heartbeat_carries_the_anonymizer_horizon(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from voirie.edge.fleet.client import DeviceStatus
    from voirie.records import Heartbeat

    status = DeviceStatus.collect(tmp_path, mode="survey", anonymizer_horizon="whole_frame")
    beat = Heartbeat(device_id="car-1", time_utc=datetime.now(timezone.utc), **status.__dict__)
    assert Heartbeat.model_validate_json(beat.to_json()).anonymizer_horizon == "whole_frame"
    with pytest.raises(ValueError):
        Heartbeat(device_id="car-1", time_utc=datetime.now(timezone.utc), disk_free_bytes=1, anonymizer_horizon="level")
