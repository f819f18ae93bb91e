"""A survey camera's calibration, as the survey loop uses it.

Two things depend on where the camera looks: damage sizes in metres (crack length, pothole
area, via the ground plane) and the rows where the anonymizer looks for far faces and
plates (its bands follow the horizon). A camera pitched down puts the horizon near the top
of the frame: with the default mid-height bands it would miss every far plate, so the
survey passes the calibrated horizon on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voirie.calibration import CalibrationError, CameraCalibration, GroundPlane, expected_horizon
from voirie.calibration.config import IntrinsicsConfig, VehicleMountConfig

if TYPE_CHECKING:
    from voirie.anonymize import AnonymizerOptions

logger = logging.getLogger(__name__)

# The anonymizer accepts a horizon within [-0.5, 1.5] of the frame height.
_HORIZON_LIMITS = (-0.5, 1.5)


@dataclass(frozen=True)
class SurveyCalibration:
    """The ground plane and horizon of one survey camera at its calibrated image size."""

    calibration_id: str
    width: int
    height: int
    plane: GroundPlane
    horizon: float  # row of the horizon at the image centre, fraction of the height

    @classmethod
    def from_calibration(cls, calibration: CameraCalibration) -> SurveyCalibration:
        """Check it is a vehicle camera and derive its plane and horizon."""
        if not isinstance(calibration.mount, VehicleMountConfig):
            raise CalibrationError(f"calibration {calibration.calibration_id} is for a pole camera; "
                                   "a survey needs a vehicle mount (voirie calibrate mount --vehicle)")
        plane = calibration.ground_plane()
        height = calibration.intrinsics.image_height_px
        row = expected_horizon(plane).row_at_centre_px / height
        low, high = _HORIZON_LIMITS
        return cls(calibration.calibration_id, calibration.intrinsics.image_width_px, height, plane,
                   min(max(row, low), high))

    @classmethod
    def load(cls, path: str | Path) -> SurveyCalibration:
        """Read a calibration file (``voirie calibrate``); ``CalibrationError`` names the problem."""
        return cls.from_calibration(CameraCalibration.load(path))

    def plane_for(self, width: int, height: int) -> GroundPlane | None:
        """The plane when frames have the calibrated size; None (pixel sizes only) otherwise."""
        if (width, height) == (self.width, self.height):
            return self.plane
        return None


def load_optional(path: str | Path | None) -> SurveyCalibration | None:
    """The calibration at ``path``, or None when no file is configured."""
    return None if path is None else SurveyCalibration.load(path)


def anonymizer_options(calibration: SurveyCalibration | None, timeout_s: float) -> AnonymizerOptions:
    """The anonymizer's options for this camera: its bands follow the calibrated horizon.

    Without a calibration the anonymizer estimates the horizon from the frames and covers
    the whole frame until it is sure (it never assumes a level camera).
    """
    from voirie.anonymize import AnonymizerOptions

    if calibration is None:
        return AnonymizerOptions(timeout_s=timeout_s)
    return AnonymizerOptions(timeout_s=timeout_s, horizon=calibration.horizon)


def vehicle_calibration(device_id: str, camera_id: str, size: tuple[int, int], focal_px: float,
                        height_m: float, pitch_deg: float) -> CameraCalibration:
    """A distortion-free vehicle calibration from known numbers (a simulator's camera, say)."""
    width, height = size
    intrinsics = IntrinsicsConfig(image_width_px=width, image_height_px=height, fx_px=focal_px, fy_px=focal_px,
                                  cx_px=width / 2, cy_px=height / 2)
    mount = VehicleMountConfig(height_m=height_m, pitch_deg=pitch_deg)
    return CameraCalibration(device_id=device_id, camera_id=camera_id, intrinsics=intrinsics, mount=mount)
