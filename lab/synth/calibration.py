"""Synthetic renders with known ground truth: a checkerboard and a road seen through a known
camera (with distortion). Tests and benchmarks measure calibration accuracy against them,
and ``voirie calibrate`` users can try the commands without a printed board."""

from __future__ import annotations

import cv2
import numpy as np

from voirie.calibration.geometry import GroundPlane, undistort_points
from voirie.calibration.targets import board_object_points

_SKY_GREY = 200
_ASPHALT_GREY = 90
_PAINT_GREY = 235


def _normalised_grid(K: np.ndarray, dist: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Undistorted normalised coordinates (H, W, 2) of every pixel centre."""
    width, height = size
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pixels = np.stack([u, v], axis=-1).reshape(-1, 2)
    return undistort_points(pixels, K, dist).reshape(height, width, 2)


def render_board_view(
    K: np.ndarray,
    dist: np.ndarray,
    rvec: np.ndarray,
    tvec: np.ndarray,
    board: tuple[int, int],
    square_m: float,
    size: tuple[int, int],
    noise_grey: float = 2.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A BGR image of a checkerboard (``board`` inner corners) posed by rvec/tvec in camera
    coordinates, with lens distortion, slight blur and grey-level noise."""
    per_square = 16
    texture = _checker_texture(board[0], board[1], per_square)
    origin = (-2 * square_m, -2 * square_m)  # texel 0 is two squares before the first inner corner
    return render_texture_view(K, dist, rvec, tvec, texture, square_m / per_square, origin, size, noise_grey, rng)


def render_texture_view(
    K: np.ndarray,
    dist: np.ndarray,
    rvec: np.ndarray,
    tvec: np.ndarray,
    texture: np.ndarray,
    metres_per_texel: float,
    origin_m: tuple[float, float],
    size: tuple[int, int],
    noise_grey: float = 2.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A BGR image of a flat grey ``texture`` (texel (0, 0)'s outer corner at ``origin_m`` on the
    board plane) posed by rvec/tvec, through the distorted lens."""
    rng = rng or np.random.default_rng(0)
    rotation = cv2.Rodrigues(np.asarray(rvec, np.float64))[0]
    board_to_camera = np.column_stack([rotation[:, 0], rotation[:, 1], np.asarray(tvec, np.float64).reshape(3)])
    grid = _normalised_grid(K, dist, size)
    rays = np.concatenate([grid, np.ones(grid.shape[:2] + (1,))], axis=-1)
    plane = rays @ np.linalg.inv(board_to_camera).T
    x, y = plane[..., 0] / plane[..., 2], plane[..., 1] / plane[..., 2]
    # bilinear sampling of a texture at least as fine as the image keeps corners unbiased
    map_x = ((x - origin_m[0]) / metres_per_texel - 0.5).astype(np.float32)
    map_y = ((y - origin_m[1]) / metres_per_texel - 0.5).astype(np.float32)
    map_x[plane[..., 2] <= 0] = -1e4
    image = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=150)
    return _finish(image, noise_grey, rng)


def _checker_texture(columns: int, rows: int, per_square: int) -> np.ndarray:
    """White-bordered checkerboard texture; one square of margin beyond the outer squares."""
    squares_x, squares_y = columns + 3, rows + 3  # board squares (inner + 1) plus a white margin
    index_x = np.arange(squares_x * per_square) // per_square - 2  # square index; board spans -1..columns-1
    index_y = np.arange(squares_y * per_square) // per_square - 2
    ix, iy = np.meshgrid(index_x, index_y)
    on_board = (ix >= -1) & (ix < columns) & (iy >= -1) & (iy < rows)
    black = on_board & ((ix + iy) % 2 == 0)
    return np.where(black, 20, 235).astype(np.uint8)


def _finish(grey: np.ndarray, noise_grey: float, rng: np.random.Generator) -> np.ndarray:
    blurred = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 0.7)
    noisy = blurred + rng.normal(0, noise_grey, blurred.shape)
    return cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def board_poses(
    K: np.ndarray,
    size: tuple[int, int],
    board: tuple[int, int],
    square_m: float,
    count: int,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Varied board poses (rvec, tvec) that spread the board over the image, tilted up to 35 degrees."""
    width, height = size
    columns, rows = board
    centre = np.array([(columns - 1) * square_m / 2, (rows - 1) * square_m / 2, 0.0])
    board_width = (columns + 1) * square_m
    poses = []
    for i in range(count):
        # aim the board centre at a spread of image points, cycling round a 3x3 grid
        target = np.array([width * (0.3 + 0.2 * (i % 3)), height * (0.3 + 0.2 * ((i // 3) % 3)), 1.0])
        depth = K[0, 0] * board_width / (width * rng.uniform(0.35, 0.5))
        angles = np.radians(rng.uniform(-35, 35, 3) * np.array([1, 1, 0.4]))
        rotation = cv2.Rodrigues(angles)[0]
        tvec = depth * np.linalg.inv(K) @ target - rotation @ centre
        poses.append((cv2.Rodrigues(rotation)[0].reshape(3), tvec))
    return poses


def render_road_view(plane: GroundPlane, lane_half_width_m: float = 1.75, noise_grey: float = 2.0) -> np.ndarray:
    """A BGR image of a straight road along ground +y seen through ``plane``'s camera: asphalt,
    solid edge lines at ±``lane_half_width_m``, a dashed centre line, a plain sky."""
    width, height = plane.image_size
    rng = np.random.default_rng(1)
    rays = plane._rays(np.stack(np.meshgrid(np.arange(width), np.arange(height)), -1).reshape(-1, 2).astype(float))
    below = rays[:, 2] < -1e-3
    scale = np.where(below, -plane.centre_m[2] / np.where(below, rays[:, 2], -1), np.nan)
    x = plane.centre_m[0] + scale * rays[:, 0]
    y = plane.centre_m[1] + scale * rays[:, 1]
    with np.errstate(invalid="ignore"):
        edge = np.isclose(np.abs(x), lane_half_width_m, atol=0.075)
        centre_line = (np.abs(x) < 0.06) & (np.mod(y, 9.0) < 3.0)
        paint = below & (edge | centre_line) & (y < 200)
    grey = np.where(below, _ASPHALT_GREY, _SKY_GREY).astype(np.float32)
    grey[paint] = _PAINT_GREY
    return _finish(grey.reshape(height, width), noise_grey, rng)


def vehicle_ground_grid(max_forward_m: float = 15.0, half_width_m: float = 3.0, step_m: float = 1.0) -> np.ndarray:
    """(N, 2) grid of ground points in front of a vehicle camera, from 3 m to ``max_forward_m``."""
    xs = np.arange(-half_width_m, half_width_m + 1e-9, step_m)
    ys = np.arange(3.0, max_forward_m + 1e-9, step_m)
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)

