"""A picture to check a calibration by eye: a metre grid on the road, the expected horizon
and the unusable region dimmed, drawn over a frame from the camera."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from voirie.calibration.geometry import GroundPlane
from voirie.calibration.horizon import expected_horizon

logger = logging.getLogger(__name__)

_GRID_BGR = (80, 220, 80)
_HORIZON_BGR = (40, 160, 255)


def _ground_extent(plane: GroundPlane) -> tuple[float, float, float, float]:
    """Bounding box (x0, x1, y0, y1) of the road the camera sees within its range."""
    width, height = plane.image_size
    step = max(4, min(width, height) // 60)
    u, v = np.meshgrid(np.arange(0, width, step), np.arange(0, height, step))
    ground = plane.pixel_to_ground(np.column_stack([u.ravel(), v.ravel()]).astype(float))
    ground = ground[np.isfinite(ground[:, 0])]
    if not len(ground):
        raise ValueError("no pixel of this calibration sees usable road")
    return float(ground[:, 0].min()), float(ground[:, 0].max()), float(ground[:, 1].min()), float(ground[:, 1].max())


def _draw_ground_line(image: np.ndarray, plane: GroundPlane, start: np.ndarray, stop: np.ndarray) -> None:
    points = start + (stop - start) * np.linspace(0, 1, 200)[:, None]
    mapped = plane.pixel_to_ground(plane.ground_to_pixel(points))  # keep only the usable part
    pixels = plane.ground_to_pixel(points)
    pixels[~np.isfinite(mapped[:, 0])] = np.nan
    for a, b in zip(pixels[:-1], pixels[1:]):
        if np.isfinite(a).all() and np.isfinite(b).all():
            cv2.line(image, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), _GRID_BGR, 1, cv2.LINE_AA)


def draw_calibration_overlay(plane: GroundPlane, image: np.ndarray, step_m: float = 1.0) -> np.ndarray:
    """``image`` (BGR, calibrated size) with the ground grid every ``step_m`` metres, labels every
    5 steps, the expected horizon, and the pixels outside the usable region darkened."""
    if (image.shape[1], image.shape[0]) != plane.image_size:
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, calibration is for {plane.image_size}")
    canvas = image.copy()
    mask = plane.usable_mask(*plane.image_size)
    canvas[~mask] = (canvas[~mask] * 0.45).astype(np.uint8)
    x0, x1, y0, y1 = _ground_extent(plane)
    # far away the visible road is very wide: keep the grid to a readable width around the camera
    x0, x1 = max(x0, plane.centre_m[0] - 8.0), min(x1, plane.centre_m[0] + 8.0)
    xs = np.arange(np.floor(x0 / step_m), np.ceil(x1 / step_m) + 1) * step_m
    ys = np.arange(np.floor(y0 / step_m), np.ceil(y1 / step_m) + 1) * step_m
    for x in xs:
        _draw_ground_line(canvas, plane, np.array([x, ys[0]]), np.array([x, ys[-1]]))
    for y in ys:
        _draw_ground_line(canvas, plane, np.array([xs[0], y]), np.array([xs[-1], y]))
        if round(y / step_m) % 5 == 0:
            _label(canvas, plane, np.array([(x0 + x1) / 2, y]), f"{y:.0f} m")
    horizon = expected_horizon(plane)
    width = plane.image_size[0]
    left, right = horizon.row_px(0.0), horizon.row_px(float(width - 1))
    cv2.line(canvas, (0, int(round(left))), (width - 1, int(round(right))), _HORIZON_BGR, 1, cv2.LINE_AA)
    return canvas


def _label(canvas: np.ndarray, plane: GroundPlane, point_m: np.ndarray, text: str) -> None:
    pixel = plane.ground_to_pixel(point_m.reshape(1, 2))[0]
    if np.isfinite(pixel).all() and np.isfinite(plane.pixel_to_ground(pixel.reshape(1, 2))).all():
        origin = (int(pixel[0]) + 3, int(pixel[1]) - 3)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4, _GRID_BGR, 1, cv2.LINE_AA)


def draw_coverage(size: tuple[int, int], corners_px: dict[str, np.ndarray], view_rms_px: dict[str, float]) -> np.ndarray:
    """Where the boards were in the image (one outline per view, coloured by its reprojection
    error: green good, red poor) over the coverage grid: the gaps are where to add views."""
    from voirie.calibration.intrinsics import _COVERAGE_GRID

    width, height = size
    canvas = np.full((height, width, 3), 40, np.uint8)
    columns, rows = _COVERAGE_GRID
    for i in range(1, columns):
        cv2.line(canvas, (i * width // columns, 0), (i * width // columns, height - 1), (70, 70, 70), 1)
    for j in range(1, rows):
        cv2.line(canvas, (0, j * height // rows), (width - 1, j * height // rows), (70, 70, 70), 1)
    for name, corners in corners_px.items():
        badness = float(np.clip(view_rms_px.get(name, 0.0) / 1.0, 0, 1))  # 1 px RMS is the refusal line
        colour = (60, int(220 * (1 - badness)) + 30, int(220 * badness) + 30)
        hull = cv2.convexHull(corners.astype(np.float32)).astype(np.int32)
        cv2.polylines(canvas, [hull], True, colour, 2, cv2.LINE_AA)
        for u, v in corners:
            cv2.circle(canvas, (int(round(u)), int(round(v))), 1, colour, -1)
    return canvas
