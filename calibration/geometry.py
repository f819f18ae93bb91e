"""Pixels <-> metres on the road plane, with the uncertainty of each mapped point.

The camera is a pinhole with OpenCV distortion, posed by a world->camera rotation ``R``
and its centre ``C`` in a right-handed ground frame whose plane ``z = 0`` is the road.
A pixel is undistorted to a ray, and the ray meets the road at one point: this is the
homography ``K [r1 r2 t]`` once distortion is removed, but the ray form also says when a
pixel sees no road at all (at or above the horizon).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

logger = logging.getLogger(__name__)

# Undistortion is iterative; OpenCV's default 5 iterations leave ~0.04 px at the image corners
# for k1 = -0.25 (measured), a fixed bias of ~1 % in distance near the horizon. 30 iterations
# converge.
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-10)
# Image segments are cut into pieces this long before mapping: with distortion a straight
# pixel segment is not straight on the road.
_DENSIFY_STEP_PX = 8.0


def undistort_points(
    points_px: np.ndarray, camera_matrix: np.ndarray, dist_coeffs: np.ndarray, new_matrix: np.ndarray | None = None
) -> np.ndarray:
    """(N, 2) distorted pixels -> (N, 2) ideal points: normalised, or pixels of ``new_matrix``.

    Iterates to convergence. OpenCV 4 names that variant ``undistortPointsIter``; OpenCV 5
    gives ``undistortPoints`` a ``criteria`` argument instead."""
    points = np.asarray(points_px, np.float64).reshape(-1, 1, 2)
    if not len(points):
        return np.zeros((0, 2))
    if hasattr(cv2, "undistortPointsIter"):
        ideal = cv2.undistortPointsIter(points, camera_matrix, dist_coeffs, None, new_matrix, _UNDISTORT_CRITERIA)
    else:
        ideal = cv2.undistortPoints(points, camera_matrix, dist_coeffs, P=new_matrix, criteria=_UNDISTORT_CRITERIA)
    return ideal.reshape(-1, 2)


def rotation_x(angle_rad: float) -> np.ndarray:
    """Rotation about x (OpenCV camera x points right: positive tilts the axis down)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], float)


def rotation_z(angle_rad: float) -> np.ndarray:
    """Rotation about z (camera: the optical axis; ground: up)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], float)


# Ground (x right/east, y forward/north, z up) to a level camera looking along +y
# (OpenCV: x right, y down, z forward).
_GROUND_TO_LEVEL_CAMERA = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)


def camera_rotation(pitch_deg: float, roll_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """World->camera rotation for a camera looking along ground +y turned by yaw (right > 0),
    tilted down by pitch (> 0) and rolled clockwise about its axis (> 0)."""
    yaw = rotation_z(math.radians(yaw_deg))
    return rotation_z(math.radians(roll_deg)) @ rotation_x(math.radians(pitch_deg)) @ _GROUND_TO_LEVEL_CAMERA @ yaw


def angles_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of ``camera_rotation``: (pitch_deg, roll_deg, yaw_deg) of a world->camera rotation."""
    axis = rotation.T @ np.array([0.0, 0.0, 1.0])  # optical axis in the ground frame
    pitch = math.asin(float(np.clip(-axis[2], -1, 1)))
    yaw = math.atan2(float(axis[0]), float(axis[1])) if abs(axis[2]) < 0.999999 else 0.0
    base = rotation_x(pitch) @ _GROUND_TO_LEVEL_CAMERA @ rotation_z(yaw)
    roll_matrix = rotation @ base.T
    roll = math.atan2(float(roll_matrix[1, 0]), float(roll_matrix[0, 0]))
    return math.degrees(pitch), math.degrees(roll), math.degrees(yaw)


@dataclass(frozen=True)
class PoseSigmas:
    """1-sigma errors of the mounting that ``uncertainty_m`` propagates."""

    pixel_px: float = 0.5
    height_m: float = 0.02
    angle_deg: float = 0.2
    floor_m: float = 0.0  # added in quadrature everywhere (e.g. the pole's point survey error)


@dataclass(frozen=True, eq=False)
class GroundPlane:
    """Mapping between image pixels and metres on the road plane ``z = 0``.

    ``rotation`` is world->camera, ``centre_m`` the camera centre in the ground frame
    (``centre_m[2]`` is the height). Pixels are at the calibrated ``image_size``.
    """

    camera_matrix: np.ndarray
    dist_coeffs: np.ndarray
    rotation: np.ndarray
    centre_m: np.ndarray
    image_size: tuple[int, int]  # width, height
    max_range_m: float = 30.0
    min_range_m: float = 0.0
    bonnet_top_row_px: int | None = None
    horizon_margin_deg: float = 1.0
    sigmas: PoseSigmas = PoseSigmas()

    def __post_init__(self) -> None:
        if self.camera_matrix.shape != (3, 3) or self.rotation.shape != (3, 3):
            raise ValueError("camera_matrix and rotation must be 3x3")
        if self.centre_m.shape != (3,) or not self.centre_m[2] > 0:
            raise ValueError(f"the camera must be above the road (centre z > 0), got centre {self.centre_m}")

    @property
    def height_m(self) -> float:
        """Camera height above the road."""
        return float(self.centre_m[2])

    @property
    def homography(self) -> np.ndarray:
        """3x3 H mapping ground (x, y, 1) to undistorted pixels (distortion not included)."""
        t = -self.rotation @ self.centre_m
        return self.camera_matrix @ np.column_stack([self.rotation[:, 0], self.rotation[:, 1], t])

    def _rays(self, points_px: np.ndarray) -> np.ndarray:
        """Unit rays in the ground frame through each pixel."""
        pts = points_px.reshape(-1, 1, 2).astype(np.float64)
        normalised = undistort_points(pts, self.camera_matrix, self.dist_coeffs)
        rays_cam = np.column_stack([normalised, np.ones(len(normalised))])
        rays = rays_cam @ self.rotation  # = (R^T r)^T row by row
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def pixel_to_ground(self, points_px: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 2) metres on the road; NaN where the pixel sees no usable road
        (at/above the horizon, in the bonnet, outside the image, beyond the range limits)."""
        points = _as_points(points_px, "points_px")
        if not len(points):
            return np.full((0, 2), np.nan)
        return self._intersect(points, self._rays(points))

    def to_ground(self, points_px: np.ndarray) -> np.ndarray:
        """Same as ``pixel_to_ground``: the name the counter's ``GroundMapper`` protocol uses."""
        return self.pixel_to_ground(points_px)

    def _intersect(self, points: np.ndarray, rays: np.ndarray) -> np.ndarray:
        """Where each pixel's ray meets the road, NaN outside the usable region."""
        ground = np.full((len(points), 2), np.nan)
        below = rays[:, 2] < -math.sin(math.radians(self.horizon_margin_deg))
        scale = np.where(below, -self.centre_m[2] / np.where(below, rays[:, 2], -1.0), np.nan)
        hit = self.centre_m[:2] + scale[:, None] * rays[:, :2]
        usable = below & self._inside_image(points)
        if self.bonnet_top_row_px is not None:
            usable &= points[:, 1] < self.bonnet_top_row_px
        distance = np.linalg.norm(hit - self.centre_m[:2], axis=1)
        usable &= (distance <= self.max_range_m) & (distance >= self.min_range_m)
        ground[usable] = hit[usable]
        return ground

    def ground_to_pixel(self, points_m: np.ndarray) -> np.ndarray:
        """(N, 2) metres on the road -> (N, 2) pixels; NaN for points behind the camera or so far
        outside the field of view that the lens model no longer holds."""
        points = _as_points(points_m, "points_m")
        pixels = np.full((len(points), 2), np.nan)
        if not len(points):
            return pixels
        world = np.column_stack([points, np.zeros(len(points))])
        in_camera = (world - self.centre_m) @ self.rotation.T
        ahead = in_camera[:, 2] > 1e-6
        if ahead.any():
            rvec, _ = cv2.Rodrigues(self.rotation)
            tvec = -self.rotation @ self.centre_m
            projected, _ = cv2.projectPoints(world[ahead], rvec, tvec, self.camera_matrix, self.dist_coeffs)
            pixels[ahead] = projected.reshape(-1, 2)
        # Far outside the field of view the distortion polynomial folds back and can land a
        # point inside the image: keep only projections that undistort to their own ray.
        seen = np.flatnonzero(ahead)
        if len(seen) and len(self.dist_coeffs) and np.any(self.dist_coeffs):
            ideal = in_camera[seen, :2] / in_camera[seen, 2:3]
            back = undistort_points(pixels[seen], self.camera_matrix, self.dist_coeffs)
            folded = np.linalg.norm(back - ideal, axis=1) > 1e-3 * (1 + np.linalg.norm(ideal, axis=1))
            pixels[seen[folded]] = np.nan
        return pixels

    def length_m(self, polyline_px: np.ndarray) -> float:
        """Length on the road of an image polyline; NaN if any part is outside the usable region."""
        points = _densify(_as_points(polyline_px, "polyline_px"), closed=False)
        if len(points) < 2:
            return 0.0
        ground = self.pixel_to_ground(points)
        return float(np.sum(np.linalg.norm(np.diff(ground, axis=0), axis=1)))

    def area_m2(self, polygon_px: np.ndarray) -> float:
        """Area on the road of an image polygon; NaN if any part is outside the usable region."""
        points = _densify(_as_points(polygon_px, "polygon_px"), closed=True)
        if len(points) < 3:
            return 0.0
        x, y = self.pixel_to_ground(points).T
        return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))

    def box_sizes(self, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ground size of detection boxes (N, 4 pixels x1 y1 x2 y2): (length_m, area_m2), each (N,).

        ``length_m`` is the longer side of the box's footprint on the road (a crack's extent
        along its main direction, an upper bound for a curved crack); ``area_m2`` the footprint's
        area (a pothole's bounding area). NaN where the box leaves the usable region."""
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        lengths, areas = np.full(len(boxes), np.nan), np.full(len(boxes), np.nan)
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
            areas[i] = self.area_m2(corners)
            sides = [self.length_m(corners[[0, 1]]), self.length_m(corners[[1, 2]])]
            far_side, near_side = self.length_m(corners[[3, 2]]), self.length_m(corners[[0, 3]])
            lengths[i] = max(max(sides[0], far_side), max(sides[1], near_side))
        return lengths, areas

    def uncertainty_m(self, points_px: np.ndarray) -> np.ndarray:
        """1-sigma position error (metres) of each mapped pixel: pixel localisation plus the
        mounting errors (height, pitch, roll), propagated numerically. NaN where unusable."""
        points = _as_points(points_px, "points_px")
        base = self.pixel_to_ground(points)
        s = self.sigmas
        # Perturbed mappings use no range limits, so only the unperturbed point decides NaN.
        loose = replace(self, max_range_m=math.inf, min_range_m=0.0, horizon_margin_deg=0.0, bonnet_top_row_px=None)
        shifts = [loose.pixel_to_ground(points + d) - base for d in ((s.pixel_px, 0.0), (0.0, s.pixel_px))]
        for plane in loose._perturbed():
            shifts.append(plane.pixel_to_ground(points) - base)
        variance = sum(np.sum(shift**2, axis=1) for shift in shifts) + s.floor_m**2
        return np.sqrt(variance)

    def _perturbed(self) -> list[GroundPlane]:
        """The plane with each mounting parameter moved by its sigma."""
        s, loose = self.sigmas, self
        angle = math.radians(s.angle_deg)
        return [
            replace(loose, centre_m=self.centre_m + np.array([0.0, 0.0, s.height_m])),
            replace(loose, rotation=rotation_x(angle) @ self.rotation),
            replace(loose, rotation=rotation_z(angle) @ self.rotation),
        ]

    def usable_mask(self, width: int, height: int) -> np.ndarray:
        """Boolean (height, width) mask of pixels that map to usable road. A size other than the
        calibrated one is accepted when the aspect ratio matches (a resized frame)."""
        scale_x, scale_y = self._scale_to(width, height)
        u = (np.arange(width) + 0.5) * scale_x - 0.5
        v = (np.arange(height) + 0.5) * scale_y - 0.5
        grid = np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 2)
        # Rays vary smoothly across the image: undistort a coarse grid (the slow, iterative part)
        # and interpolate, which makes a 1920x1440 mask ~15x faster for sub-pixel mask changes.
        step = 4
        coarse_u, coarse_v = np.append(u[::step], u[-1]), np.append(v[::step], v[-1])
        coarse = np.stack(np.meshgrid(coarse_u, coarse_v), axis=-1).reshape(-1, 2)
        rays = self._rays(coarse).reshape(len(coarse_v), len(coarse_u), 3)
        fine = _bilinear(rays, coarse_u, coarse_v, u, v)
        return np.isfinite(self._intersect(grid, fine.reshape(-1, 3))[:, 0]).reshape(height, width)

    def for_image_size(self, width: int, height: int) -> GroundPlane:
        """The same camera for frames resized to ``width`` x ``height``."""
        scale_x, scale_y = self._scale_to(width, height)
        scale = np.diag([1 / scale_x, 1 / scale_y, 1.0])
        matrix = scale @ self.camera_matrix
        # pixel centres, not corners, scale: c' = (c + 0.5) / s - 0.5
        matrix[0, 2] = (self.camera_matrix[0, 2] + 0.5) / scale_x - 0.5
        matrix[1, 2] = (self.camera_matrix[1, 2] + 0.5) / scale_y - 0.5
        bonnet = None if self.bonnet_top_row_px is None else int(round(self.bonnet_top_row_px / scale_y))
        return replace(self, camera_matrix=matrix, image_size=(width, height), bonnet_top_row_px=bonnet)

    def _scale_to(self, width: int, height: int) -> tuple[float, float]:
        calibrated_w, calibrated_h = self.image_size
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        scale_x, scale_y = calibrated_w / width, calibrated_h / height
        if abs(scale_x / scale_y - 1) > 0.01:
            raise ValueError(
                f"image {width}x{height} does not have the calibrated aspect ratio "
                f"({calibrated_w}x{calibrated_h}); crop or recalibrate"
            )
        return scale_x, scale_y

    def _inside_image(self, points: np.ndarray) -> np.ndarray:
        # Box corners from detectors use edge coordinates (0..width), pixel centres 0..width-1:
        # accept both, so a box touching the image border still maps.
        width, height = self.image_size
        return (points[:, 0] >= -1) & (points[:, 0] <= width) & (points[:, 1] >= -1) & (points[:, 1] <= height)


def _bilinear(values: np.ndarray, xs: np.ndarray, ys: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``values`` (len(ys), len(xs), C) sampled on increasing xs, ys."""
    i = np.clip(np.searchsorted(xs, u) - 1, 0, len(xs) - 2)
    j = np.clip(np.searchsorted(ys, v) - 1, 0, len(ys) - 2)
    wu = ((u - xs[i]) / (xs[i + 1] - xs[i]))[None, :, None]
    wv = ((v - ys[j]) / (ys[j + 1] - ys[j]))[:, None, None]
    top = values[j][:, i] * (1 - wu) + values[j][:, i + 1] * wu
    bottom = values[j + 1][:, i] * (1 - wu) + values[j + 1][:, i + 1] * wu
    return top * (1 - wv) + bottom * wv


def _as_points(points: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {array.shape}")
    return array


def _densify(points: np.ndarray, closed: bool) -> np.ndarray:
    """Insert points along each segment so no piece is longer than ``_DENSIFY_STEP_PX``."""
    if len(points) < 2:
        return points
    ends = np.vstack([points, points[:1]]) if closed else points
    pieces = []
    for start, stop in zip(ends[:-1], ends[1:]):
        steps = max(1, int(math.ceil(np.linalg.norm(stop - start) / _DENSIFY_STEP_PX)))
        pieces.append(start + (stop - start) * (np.arange(steps)[:, None] / steps))
    if not closed:
        pieces.append(points[-1:])
    return np.vstack(pieces)
