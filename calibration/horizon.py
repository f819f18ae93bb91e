"""The horizon the calibration expects, and a check the quality gate can run on a frame.

Lines parallel to the road (lane markings, kerbs) meet at a vanishing point that lies on the
horizon whatever the car's heading. If that point sits off the horizon the calibration
predicts, the camera has tilted on its mount (or the road is on a crest/dip): its ground
distances are no longer to be trusted.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from voirie.calibration.geometry import GroundPlane, undistort_points

logger = logging.getLogger(__name__)

_RANSAC_ITERATIONS = 300
_INLIER_ANGLE_DEG = 1.5  # a segment supports a vanishing point if it points at it within this


@dataclass(frozen=True)
class HorizonLine:
    """The expected horizon in the image: ``row_px(u)`` gives its row at column ``u``."""

    row_at_centre_px: float
    tilt_deg: float  # clockwise slope of the horizon in the image (follows the camera's roll)
    centre_u_px: float

    def row_px(self, u: float | np.ndarray) -> float | np.ndarray:
        """Row of the horizon at column(s) ``u``."""
        return self.row_at_centre_px + (np.asarray(u, float) - self.centre_u_px) * math.tan(math.radians(self.tilt_deg))


@dataclass(frozen=True)
class HorizonCheck:
    """Result of ``check_horizon``: ``ok`` is None when the frame showed no usable lines."""

    ok: bool | None
    error_deg: float | None  # elevation of the observed vanishing point above the expected horizon
    expected: HorizonLine
    vanishing_point_px: tuple[float, float] | None
    segments_used: int
    reason: str


def expected_horizon(plane: GroundPlane) -> HorizonLine:
    """Where the road plane's horizon falls in the image, from the pose (lens distortion ignored:
    the horizon runs near the image centre where it is small)."""
    line = np.linalg.inv(plane.camera_matrix).T @ plane.rotation @ np.array([0.0, 0.0, 1.0])
    if abs(line[1]) < 1e-12:
        raise ValueError("the horizon is vertical in this image (camera rolled 90 degrees)")
    centre_u = float(plane.camera_matrix[0, 2])
    row = -(line[0] * centre_u + line[2]) / line[1]
    return HorizonLine(float(row), math.degrees(math.atan(-line[0] / line[1])), centre_u)


def detect_line_segments(image: np.ndarray, min_length_px: float | None = None) -> np.ndarray:
    """(N, 4) straight segments x1, y1, x2, y2 (Canny + probabilistic Hough), near-horizontal
    ones dropped (they carry no depth direction)."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    min_length = min_length_px or max(15.0, 0.04 * grey.shape[1])
    edges = cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 0), 50, 150)
    found = cv2.HoughLinesP(edges, 1, math.pi / 360, 30, minLineLength=min_length, maxLineGap=8)
    if found is None:
        return np.zeros((0, 4))
    segments = found.reshape(-1, 4).astype(np.float64)
    angle = np.degrees(np.arctan2(segments[:, 3] - segments[:, 1], segments[:, 2] - segments[:, 0])) % 180
    return segments[(angle > 12) & (angle < 168)]


def vanishing_point(segments: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """RANSAC vanishing point of line segments: (point (2,), inlier mask) or None when fewer
    than three segments agree. Refined by length-weighted least squares on the inliers."""
    segments = np.asarray(segments, np.float64).reshape(-1, 4)
    if len(segments) < 3:
        return None
    lines = _homogeneous_lines(segments)
    rng = np.random.default_rng(seed)
    pairs = np.array([rng.choice(len(segments), 2, replace=False) for _ in range(_RANSAC_ITERATIONS)])
    candidates = np.cross(lines[pairs[:, 0]], lines[pairs[:, 1]])
    candidates = candidates[np.abs(candidates[:, 2]) >= 1e-9]
    if not len(candidates):
        return None
    # Every candidate judged at once (the anonymizer runs this on survey frames: a loop of
    # 300 small numpy calls cost ~25 ms a frame); the first best candidate wins, as in a loop.
    supports = _supports_many(segments, candidates[:, :2] / candidates[:, 2:3])
    best = supports[int(np.argmax(supports.sum(axis=1)))]
    if best.sum() < 3:
        return None
    weights = np.linalg.norm(segments[best, 2:] - segments[best, :2], axis=1)
    _, _, vt = np.linalg.svd(lines[best] * weights[:, None])
    point = vt[-1]
    if abs(point[2]) < 1e-12:
        return None
    return point[:2] / point[2], best


def _homogeneous_lines(segments: np.ndarray) -> np.ndarray:
    """Lines through each segment, scaled so ``line . (u, v, 1)`` is a distance in pixels."""
    start = np.column_stack([segments[:, :2], np.ones(len(segments))])
    stop = np.column_stack([segments[:, 2:], np.ones(len(segments))])
    lines = np.cross(start, stop)
    return lines / np.linalg.norm(lines[:, :2], axis=1, keepdims=True)


def _supports_many(segments: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(P, N) whether segment n points at point p within the inlier angle."""
    middle = (segments[:, :2] + segments[:, 2:]) / 2
    direction = segments[:, 2:] - segments[:, :2]
    towards = points[:, None, :] - middle[None, :, :]
    cosine = np.abs(np.sum(direction[None] * towards, axis=2)) / (
        np.linalg.norm(direction, axis=1)[None] * np.linalg.norm(towards, axis=2) + 1e-12
    )
    return cosine > math.cos(math.radians(_INLIER_ANGLE_DEG))


def road_vanishing_point(
    image: np.ndarray, camera_matrix: np.ndarray, dist_coeffs: np.ndarray
) -> tuple[np.ndarray, int] | None:
    """Vanishing point (image pixels) of the straight lines in ``image`` and how many segments
    agree on it, or None. Segment ends are undistorted first: lines are only straight, and
    only meet at one point, once lens distortion is removed."""
    segments = detect_line_segments(image)
    if len(segments) < 3:
        return None
    ends = undistort_points(segments.reshape(-1, 2), camera_matrix, dist_coeffs, camera_matrix)
    found = vanishing_point(ends.reshape(-1, 4))
    if found is None:
        return None
    point, inliers = found
    direction = np.linalg.inv(camera_matrix) @ np.array([point[0], point[1], 1.0])
    if direction[2] < 0:  # lines met behind the camera: report the point in front
        direction = -direction
    pixel = cv2.projectPoints(direction.reshape(1, 3), np.zeros(3), np.zeros(3), camera_matrix, dist_coeffs)[0]
    return pixel.reshape(2), int(inliers.sum())


def vanishing_point_elevation_deg(plane: GroundPlane, point_px: np.ndarray) -> float:
    """Angle of the vanishing point's ray above the road plane (0 when on the expected horizon)."""
    ray = plane._rays(np.asarray(point_px, float).reshape(1, 2))[0]
    return math.degrees(math.asin(float(np.clip(ray[2], -1, 1))))


def check_horizon(plane: GroundPlane, image: np.ndarray, tolerance_deg: float = 1.5) -> HorizonCheck:
    """Compare the vanishing point of the road lines in ``image`` with the expected horizon.

    ``ok`` is False when it is more than ``tolerance_deg`` off (camera knocked, or a crest),
    None when too few lines were found to tell. ``image`` may be resized from the calibrated
    size (same aspect ratio); ``expected`` is then in the resized image's pixels.
    """
    if (image.shape[1], image.shape[0]) != plane.image_size:
        plane = plane.for_image_size(image.shape[1], image.shape[0])  # a resized frame; refuses other aspects
    expected = expected_horizon(plane)
    found = road_vanishing_point(image, plane.camera_matrix, plane.dist_coeffs)
    if found is None:
        return HorizonCheck(None, None, expected, None, 0, "too few straight road lines to find the horizon")
    point, used = found
    error = vanishing_point_elevation_deg(plane, point)
    ok = abs(error) <= tolerance_deg
    reason = "horizon as calibrated" if ok else f"horizon off by {error:+.2f} deg (tolerance {tolerance_deg} deg)"
    return HorizonCheck(ok, error, expected, (float(point[0]), float(point[1])), used, reason)


class HorizonMonitor:
    """Rolling judgement of the horizon over many frames.

    One frame's lines are noisy (bends, crests, shadows, kerbs): on 775 real survey photos
    (bench/calibration_real_vp.py) the per-frame vanishing point's height is 0.5 deg off a
    hand-drawn reference (median) and one frame in ten is more than 1.5 deg off. The median
    over a window is what says "the camera moved".
    """

    def __init__(self, window: int = 25, tolerance_deg: float = 1.5, min_frames: int = 8) -> None:
        if window < 1 or not 1 <= min_frames <= window:
            raise ValueError(f"need 1 <= min_frames <= window, got min_frames={min_frames} window={window}")
        if tolerance_deg <= 0:
            raise ValueError(f"tolerance_deg must be > 0, got {tolerance_deg}")
        self.tolerance_deg = tolerance_deg
        self.min_frames = min_frames
        self._errors: deque[float] = deque(maxlen=window)

    def update(self, check: HorizonCheck) -> bool | None:
        """Add one frame's check (undecided frames are ignored); returns ``ok``."""
        if check.error_deg is not None and math.isfinite(check.error_deg):
            self._errors.append(check.error_deg)
        return self.ok

    @property
    def median_error_deg(self) -> float | None:
        """Median horizon error over the window, None before ``min_frames`` decided frames."""
        if len(self._errors) < self.min_frames:
            return None
        return float(np.median(self._errors))

    @property
    def ok(self) -> bool | None:
        """True while the camera sits as calibrated, False when it has moved, None if unknown."""
        median = self.median_error_deg
        return None if median is None else abs(median) <= self.tolerance_deg
