"""Camera pose on the road: vehicle mode (height + angles) and pole mode (points with
known ground coordinates), plus pitch/yaw from the vanishing point of lane markings."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from voirie.calibration.config import (
    CalibrationError,
    IntrinsicsConfig,
    PoleMountConfig,
    UsableRegionConfig,
    VehicleMountConfig,
)
from voirie.calibration.geometry import (
    GroundPlane,
    PoseSigmas,
    angles_from_rotation,
    camera_rotation,
    rotation_z,
    undistort_points,
)

logger = logging.getLogger(__name__)

# Smallest/largest spread of a point set below which it counts as collinear.
_COLLINEAR_RATIO = 0.02


@dataclass(frozen=True)
class PoleFit:
    """The pose solved from a pole's point pairs and how well it fits them."""

    rotation: np.ndarray
    centre_m: np.ndarray
    rms_px: float
    worst_index: int
    worst_px: float
    ground_rms_m: float

    @property
    def angles_deg(self) -> tuple[float, float, float]:
        """(pitch, roll, yaw) of the solved camera, degrees."""
        return angles_from_rotation(self.rotation)


def ground_plane_for(
    intrinsics: IntrinsicsConfig,
    mount: VehicleMountConfig | PoleMountConfig,
    region: UsableRegionConfig,
) -> GroundPlane:
    """Build the ground plane of a validated calibration's parts."""
    if isinstance(mount, VehicleMountConfig):
        rotation = camera_rotation(mount.pitch_deg, mount.roll_deg, mount.yaw_deg)
        centre = np.array([0.0, 0.0, mount.height_m])
        sigmas = PoseSigmas(region.pixel_sigma_px, mount.height_sigma_m, mount.angle_sigma_deg)
    else:
        fit = solve_pole_pose(intrinsics, mount)
        rotation, centre = fit.rotation, fit.centre_m
        floor = math.hypot(mount.point_sigma_m, fit.ground_rms_m)
        sigmas = PoseSigmas(region.pixel_sigma_px, mount.height_sigma_m, mount.angle_sigma_deg, floor)
    return GroundPlane(
        camera_matrix=intrinsics.camera_matrix(),
        dist_coeffs=intrinsics.dist_coeffs(),
        rotation=rotation,
        centre_m=centre,
        image_size=(intrinsics.image_width_px, intrinsics.image_height_px),
        max_range_m=region.max_range_m,
        min_range_m=region.min_range_m,
        bonnet_top_row_px=region.bonnet_top_row_px,
        horizon_margin_deg=region.horizon_margin_deg,
        sigmas=sigmas,
    )


def _check_spread(points: np.ndarray, name: str) -> None:
    """Refuse duplicate or collinear points: they leave the pose undetermined."""
    for i in range(len(points)):
        close = np.linalg.norm(points[i + 1 :] - points[i], axis=1) < 1e-6
        if close.any():
            raise CalibrationError(f"{name}: points #{i} and #{i + 1 + int(np.argmax(close))} are the same")
    singular = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    if singular[0] == 0 or singular[1] / singular[0] < _COLLINEAR_RATIO:
        raise CalibrationError(
            f"{name}: the points are (nearly) collinear (spread ratio {singular[1] / max(singular[0], 1e-12):.4f}); "
            "pick points that span an area, e.g. the four corners of a measured rectangle"
        )


def solve_pole_pose(intrinsics: IntrinsicsConfig, mount: PoleMountConfig) -> PoleFit:
    """Solve the camera pose from >= 4 image points with known ground coordinates (IPPE + LM).

    Raises ``CalibrationError`` for collinear or duplicate points, a mirrored frame (x/y
    swapped: the camera would be under the road) and point sets that do not fit one pose.
    """
    image = np.asarray(mount.image_points_px, np.float64)
    ground = np.asarray(mount.ground_points_m, np.float64)
    _check_spread(ground, "mount.ground_points_m")
    _check_spread(image, "mount.image_points_px")
    K, dist = intrinsics.camera_matrix(), intrinsics.dist_coeffs()
    world = np.column_stack([ground, np.zeros(len(ground))])
    fits = []
    _, rvecs, tvecs, _ = cv2.solvePnPGeneric(world, image, K, dist, flags=cv2.SOLVEPNP_IPPE)
    for rvec, tvec in zip(rvecs, tvecs):
        rvec, tvec = cv2.solvePnPRefineLM(world, image, K, dist, rvec.copy(), tvec.copy())
        rotation = cv2.Rodrigues(rvec)[0]
        centre = -rotation.T @ tvec.reshape(3)
        projected = cv2.projectPoints(world, rvec, tvec, K, dist)[0].reshape(-1, 2)
        errors = np.linalg.norm(projected - image, axis=1)
        fits.append((rotation, centre, errors))
    above = [fit for fit in fits if fit[1][2] > 0]
    if not above:
        raise CalibrationError(
            "mount.ground_points_m: no pose puts the camera above the road; the frame looks mirrored "
            "(x and y swapped?). Use a right-handed frame: x east/right, y north/forward"
        )
    rotation, centre, errors = min(above, key=lambda fit: float(np.sqrt(np.mean(fit[2] ** 2))))
    return _checked_fit(intrinsics, mount, rotation, centre, errors)


def _checked_fit(
    intrinsics: IntrinsicsConfig, mount: PoleMountConfig, rotation: np.ndarray, centre: np.ndarray, errors: np.ndarray
) -> PoleFit:
    rms = float(np.sqrt(np.mean(errors**2)))
    worst = int(np.argmax(errors))
    if rms > mount.max_reprojection_px:
        raise CalibrationError(
            f"mount points are inconsistent: one pose misses them by {rms:.1f} px RMS "
            f"(max {mount.max_reprojection_px} px); worst is point #{worst} "
            f"image {mount.image_points_px[worst]} ground {mount.ground_points_m[worst]} "
            f"({errors[worst]:.1f} px off): check its coordinates and the point order"
        )
    plane = GroundPlane(
        intrinsics.camera_matrix(),
        intrinsics.dist_coeffs(),
        rotation,
        centre,
        (intrinsics.image_width_px, intrinsics.image_height_px),
        max_range_m=math.inf,
        horizon_margin_deg=0.0,
    )
    mapped = plane.pixel_to_ground(np.asarray(mount.image_points_px, float))
    residual = np.linalg.norm(mapped - np.asarray(mount.ground_points_m, float), axis=1)
    ground_rms = float(np.sqrt(np.nanmean(residual**2))) if np.isfinite(residual).any() else math.inf
    logger.debug("pole pose: centre %s, rms %.2f px, ground rms %.3f m", centre, rms, ground_rms)
    return PoleFit(rotation, centre, rms, worst, float(errors[worst]), ground_rms)


def angles_from_vanishing_point(
    intrinsics: IntrinsicsConfig, vanishing_point_px: tuple[float, float], roll_deg: float = 0.0
) -> tuple[float, float]:
    """Pitch (down > 0) and yaw (right > 0) of the camera against the direction of travel,
    from the image vanishing point of lines parallel to it (lane markings, kerbs).

    Roll cannot be seen from one vanishing point; pass the measured roll.
    """
    point = np.asarray(vanishing_point_px, np.float64).reshape(1, 1, 2)
    if not np.all(np.isfinite(point)):
        raise CalibrationError(f"vanishing point must be finite, got {vanishing_point_px}")
    normalised = undistort_points(point, intrinsics.camera_matrix(), intrinsics.dist_coeffs()).reshape(2)
    direction = rotation_z(math.radians(roll_deg)).T @ np.array([normalised[0], normalised[1], 1.0])
    direction /= np.linalg.norm(direction)
    # Forward (0, 1, 0) seen by camera_rotation(pitch, 0, yaw) is (-sin yaw, -sin p cos yaw, cos p cos yaw).
    pitch = math.atan2(-direction[1], direction[2])
    yaw = math.asin(float(np.clip(-direction[0], -1, 1)))
    return math.degrees(pitch), math.degrees(yaw)
