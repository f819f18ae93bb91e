"""Calibration: camera intrinsics, mounting and the ground-plane mapping to metres.

Used by damage sizing (models), counting (edge) and the quality gate (capture)::

    from voirie.calibration import CameraCalibration, GroundPlane, CalibrationError

    cal = CameraCalibration.load("calibration/front.json")
    plane = cal.ground_plane()
    metres = plane.pixel_to_ground(points_px)        # (N, 2), NaN where no usable road
    crack_m = plane.length_m(polyline_px)
    record.calibration_id = cal.calibration_id

    check = check_horizon(plane, frame_bgr)          # the quality gate's tilt check

This package imports no pipeline stage (only ``voirie.records`` and libraries).
"""

from voirie.calibration.config import (
    CALIBRATION_SCHEMA_VERSION,
    CalibrationError,
    CameraCalibration,
    IntrinsicsConfig,
    PoleMountConfig,
    UsableRegionConfig,
    VehicleMountConfig,
)
from voirie.calibration.geometry import GroundPlane, PoseSigmas, angles_from_rotation, camera_rotation
from voirie.calibration.horizon import HorizonCheck, HorizonLine, HorizonMonitor, check_horizon, expected_horizon
from voirie.calibration.mounting import PoleFit, angles_from_vanishing_point, solve_pole_pose

__all__ = [
    "CALIBRATION_SCHEMA_VERSION",
    "CalibrationError",
    "CameraCalibration",
    "GroundPlane",
    "HorizonCheck",
    "HorizonLine",
    "HorizonMonitor",
    "IntrinsicsConfig",
    "PoleFit",
    "PoleMountConfig",
    "PoseSigmas",
    "UsableRegionConfig",
    "VehicleMountConfig",
    "angles_from_rotation",
    "angles_from_vanishing_point",
    "camera_rotation",
    "check_horizon",
    "expected_horizon",
    "solve_pole_pose",
]
