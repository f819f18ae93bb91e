"""The calibration file of one camera on one device: validated, versioned, hashed.

One JSON document per camera holds the intrinsics (from ``voirie calibrate intrinsics``),
the mounting (vehicle: height and angles; pole: at least four image points with known
ground coordinates) and the usable region. Every field carries its unit in its name and
has bounds; unknown keys are refused, so a typo never silently falls back to a default.

``CameraCalibration.calibration_id`` is a short hash of the geometric content: a record
names the calibration it was produced with (``FrameRecord.calibration_id``) and the
server can tell two calibrations apart without comparing files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from voirie.config import StrictConfig, error_report
from voirie.records import refuse_newer_schema

if TYPE_CHECKING:
    from voirie.calibration.geometry import GroundPlane

logger = logging.getLogger(__name__)

CALIBRATION_SCHEMA_VERSION = 1
# OpenCV accepts these distortion vector lengths (k1 k2 p1 p2 [k3 [k4 k5 k6 [s1..s4 [tx ty]]]]).
_DIST_LENGTHS = (0, 4, 5, 8, 12, 14)


class CalibrationError(ValueError):
    """A calibration could not be made, read or used: the message says what was wrong."""


class _Config(StrictConfig):
    """The project's strict base; ``schema`` may also be given by its field name."""

    model_config = ConfigDict(populate_by_name=True)


class IntrinsicsConfig(_Config):
    """Pinhole camera matrix and OpenCV distortion, for one image size."""

    image_width_px: int = Field(gt=0, le=16384, description="image width the calibration was made at")
    image_height_px: int = Field(gt=0, le=16384, description="image height the calibration was made at")
    fx_px: float = Field(gt=0, le=100_000, description="focal length along x, pixels")
    fy_px: float = Field(gt=0, le=100_000, description="focal length along y, pixels")
    cx_px: float = Field(ge=0, description="principal point x, pixels")
    cy_px: float = Field(ge=0, description="principal point y, pixels")
    dist: tuple[float, ...] = Field(default=(), description="OpenCV distortion k1 k2 p1 p2 [k3 ...]")
    rms_px: float | None = Field(default=None, ge=0, le=100, description="reprojection RMS of the fit")
    views_used: int | None = Field(default=None, ge=1, description="board views the fit used")

    @field_validator("dist")
    @classmethod
    def _dist_shape(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) not in _DIST_LENGTHS:
            raise ValueError(f"dist must have one of {_DIST_LENGTHS} coefficients, got {len(value)}")
        if any(abs(v) > 1000 for v in value):
            raise ValueError(f"dist coefficients must be within ±1000, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _principal_point_inside(self) -> Self:
        if not (self.cx_px < self.image_width_px and self.cy_px < self.image_height_px):
            raise ValueError(
                f"principal point ({self.cx_px}, {self.cy_px}) must lie inside the "
                f"{self.image_width_px}x{self.image_height_px} image"
            )
        ratio = self.fx_px / self.fy_px
        if not 0.5 <= ratio <= 2.0:
            raise ValueError(f"fx_px/fy_px must be within 0.5..2 (square-ish pixels), got {ratio:.3f}")
        return self

    @classmethod
    def from_field_of_view(cls, width_px: int, height_px: int, hfov_deg: float) -> Self:
        """Nominal intrinsics from a datasheet's horizontal field of view: principal point at the
        centre, no distortion, no fit (``rms_px`` None). Good to ~2-5 % until a board calibration."""
        if not 10 <= hfov_deg <= 150:
            raise CalibrationError(f"horizontal field of view must be 10..150 degrees, got {hfov_deg}")
        focal = (width_px / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(
            image_width_px=width_px,
            image_height_px=height_px,
            fx_px=focal,
            fy_px=focal,
            cx_px=(width_px - 1) / 2,
            cy_px=(height_px - 1) / 2,
        )

    def camera_matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx_px, 0, self.cx_px], [0, self.fy_px, self.cy_px], [0, 0, 1]], float)

    def dist_coeffs(self) -> np.ndarray:
        """Distortion as OpenCV wants it (length 0 means none)."""
        return np.asarray(self.dist, float)


class VehicleMountConfig(_Config):
    """A camera on a survey car. Ground frame: origin under the camera, x right, y forward, z up."""

    mode: Literal["vehicle"] = "vehicle"
    height_m: float = Field(gt=0.2, le=5.0, description="lens height above the road")
    pitch_deg: float = Field(ge=-30, le=89, description="downward tilt of the optical axis (down > 0)")
    roll_deg: float = Field(default=0.0, ge=-45, le=45, description="rotation about the optical axis, clockwise > 0")
    yaw_deg: float = Field(default=0.0, ge=-45, le=45, description="heading of the axis vs the car's, right > 0")
    height_sigma_m: float = Field(default=0.02, ge=0, le=1, description="1-sigma error of height_m")
    angle_sigma_deg: float = Field(default=0.2, ge=0, le=10, description="1-sigma error of pitch/roll")
    pitch_source: Literal["measured", "vanishing_point"] = "measured"


GroundPoint = tuple[float, float]


class PoleMountConfig(_Config):
    """A fixed camera. Ground frame: the frame of ``ground_points_m`` (right-handed, z up)."""

    mode: Literal["pole"] = "pole"
    image_points_px: tuple[GroundPoint, ...] = Field(min_length=4, max_length=200)
    ground_points_m: tuple[GroundPoint, ...] = Field(min_length=4, max_length=200)
    frame: Literal["site", "east_north"] = Field(default="site", description="what x/y of the points mean")
    origin_lat_deg: float | None = Field(default=None, ge=-90, le=90, description="east_north origin")
    origin_lon_deg: float | None = Field(default=None, ge=-180, le=180, description="east_north origin")
    max_reprojection_px: float = Field(default=4.0, gt=0, le=100, description="refuse a worse point fit")
    point_sigma_m: float = Field(default=0.05, ge=0, le=5, description="1-sigma error of the surveyed points")
    height_sigma_m: float = Field(default=0.02, ge=0, le=1, description="1-sigma error of the solved height")
    angle_sigma_deg: float = Field(default=0.1, ge=0, le=10, description="1-sigma error of the solved angles")

    @model_validator(mode="after")
    def _paired_points(self) -> Self:
        if len(self.image_points_px) != len(self.ground_points_m):
            raise ValueError(
                f"image_points_px ({len(self.image_points_px)}) and ground_points_m "
                f"({len(self.ground_points_m)}) must pair up one to one"
            )
        if self.frame == "east_north" and (self.origin_lat_deg is None or self.origin_lon_deg is None):
            raise ValueError("frame 'east_north' needs origin_lat_deg and origin_lon_deg")
        return self


MountConfig = Annotated[VehicleMountConfig | PoleMountConfig, Field(discriminator="mode")]


class UsableRegionConfig(_Config):
    """Which pixels map to road: not the sky, not the bonnet, not too far away."""

    max_range_m: float = Field(default=30.0, gt=0, le=1000, description="farthest usable ground distance")
    min_range_m: float = Field(default=0.0, ge=0, le=100, description="nearest usable ground distance")
    bonnet_top_row_px: int | None = Field(default=None, ge=0, description="rows at/below this are the bonnet")
    horizon_margin_deg: float = Field(default=1.0, ge=0, le=30, description="ignore rays this close to the horizon")
    pixel_sigma_px: float = Field(default=0.5, gt=0, le=20, description="1-sigma pixel localisation error")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> Self:
        if self.min_range_m >= self.max_range_m:
            raise ValueError(f"min_range_m ({self.min_range_m}) must be below max_range_m ({self.max_range_m})")
        return self


class CameraCalibration(_Config):
    """Everything needed to turn this camera's pixels into metres on the road."""

    kind: ClassVar[str] = "calibration"

    schema_version: int = Field(default=CALIBRATION_SCHEMA_VERSION, alias="schema", ge=1)
    device_id: str = Field(min_length=1, max_length=64)
    camera_id: str = Field(min_length=1, max_length=64)
    created_utc: datetime | None = None
    intrinsics: IntrinsicsConfig
    mount: MountConfig
    region: UsableRegionConfig = UsableRegionConfig()
    notes: str = Field(default="", max_length=2000)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        return refuse_newer_schema("calibration", value, CALIBRATION_SCHEMA_VERSION)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        bonnet = self.region.bonnet_top_row_px
        if bonnet is not None and bonnet >= self.intrinsics.image_height_px:
            raise ValueError(
                f"region.bonnet_top_row_px ({bonnet}) must be inside the image "
                f"(height {self.intrinsics.image_height_px})"
            )
        for u, v in getattr(self.mount, "image_points_px", ()):
            if not (0 <= u < self.intrinsics.image_width_px and 0 <= v < self.intrinsics.image_height_px):
                raise ValueError(f"mount.image_points_px: point ({u}, {v}) lies outside the image")
        # Solving the pose is the only real test of a pole's points (collinear, swapped, typos).
        self.ground_plane()
        return self

    @property
    def calibration_id(self) -> str:
        """Short content hash (``cal-`` + 16 hex): same geometry, same id; notes do not count."""
        content = self.model_dump(mode="json", by_alias=True, exclude={"notes", "created_utc"})
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())
        return f"cal-{digest.hexdigest()[:16]}"

    def ground_plane(self) -> "GroundPlane":
        """The pixel <-> metres mapping on the road plane for this camera."""
        from voirie.calibration.mounting import ground_plane_for

        return ground_plane_for(self.intrinsics, self.mount, self.region)

    def ground_to_latlon(self, points_m: np.ndarray) -> np.ndarray:
        """Ground points of a pole camera whose frame is ``east_north`` -> (N, 2) latitude, longitude.
        (Vehicle frames move with the car: use ``geo.vehicle_to_latlon`` with the frame's fix.)"""
        mount = self.mount
        if not isinstance(mount, PoleMountConfig) or mount.frame != "east_north":
            raise CalibrationError("only a pole calibration with frame 'east_north' and an origin is on the map")
        from voirie.calibration.geo import east_north_to_latlon

        return east_north_to_latlon(mount.origin_lat_deg, mount.origin_lon_deg, points_m)

    def to_json(self, indent: int | None = 2) -> str:
        """The file form (``schema`` first, aliases used)."""
        return self.model_dump_json(by_alias=True, indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write the calibration as JSON; returns the path written."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves half a calibration file
        logger.info("saved calibration %s to %s", self.calibration_id, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read and validate a calibration file; ``CalibrationError`` lists every problem."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise CalibrationError(f"calibration file not found: {path}") from error
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CalibrationError(f"calibration file {path} is not readable JSON: {error}") from error
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "calibration") -> Self:
        """Validate a parsed document, turning pydantic's error into a ``CalibrationError``."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise CalibrationError(error_report(error, source, "invalid calibration")) from error
