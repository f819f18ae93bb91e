"""Ground-plane mapping against a known camera: distances, round trips, horizon, masks, uncertainty."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.calibration import CameraCalibration, GroundPlane, angles_from_rotation, camera_rotation
from voirie.calibration.intrinsics import calibrate_intrinsics, iter_image_dir
from voirie.lab.synth.calibration import vehicle_ground_grid
from voirie.calibration.targets import CheckerboardTarget

from .conftest import BOARD, SQUARE_M, vehicle_dict

TRUTH_MOUNTS = [
    {"height_m": 1.4, "pitch_deg": 8.0, "roll_deg": 0.0},
    {"height_m": 1.9, "pitch_deg": 12.0, "roll_deg": 1.5, "yaw_deg": -2.0},
    {"height_m": 1.2, "pitch_deg": 5.0, "roll_deg": -1.0, "yaw_deg": 3.0},
]


def _pairwise_errors(truth: np.ndarray, mapped: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(len(truth), k=1)
    true_d = np.linalg.norm(truth[i] - truth[j], axis=1)
    got_d = np.linalg.norm(mapped[i] - mapped[j], axis=1)
    keep = true_d > 1.0
    return np.abs(got_d[keep] - true_d[keep]) / true_d[keep]


def _recovered_and_truth(board_dir: Path, mount: dict) -> tuple[GroundPlane, GroundPlane]:
    """As on a real car: intrinsics recovered from board views, mounting as measured."""
    recovered = calibrate_intrinsics(iter_image_dir(board_dir), CheckerboardTarget(*BOARD, SQUARE_M * 1000)).intrinsics
    truth = CameraCalibration.model_validate(vehicle_dict(**mount)).ground_plane()
    data = vehicle_dict(**mount)
    data["intrinsics"] = recovered.model_dump()
    data["region"] = {"pixel_sigma_px": 0.3}
    return CameraCalibration.model_validate(data).ground_plane(), truth


def _visible_grid(truth: GroundPlane) -> tuple[np.ndarray, np.ndarray]:
    grid = vehicle_ground_grid(max_forward_m=15.0, half_width_m=3.0)
    pixels = truth.ground_to_pixel(grid)
    seen = (pixels[:, 0] > 2) & (pixels[:, 0] < 637) & (pixels[:, 1] > 2) & (pixels[:, 1] < 477)
    assert seen.sum() >= 40
    return grid[seen], pixels[seen]


@pytest.mark.parametrize("mount", TRUTH_MOUNTS)
def test_ground_distances_within_two_percent_inside_15_m(board_dir: Path, mount: dict) -> None:
    plane, truth = _recovered_and_truth(board_dir, mount)
    grid, pixels = _visible_grid(truth)
    exact = plane.pixel_to_ground(pixels)
    assert np.isfinite(exact).all()
    errors = _pairwise_errors(grid, exact)
    assert errors.max() < 0.02, f"worst pairwise distance error {errors.max():.3%}"
    # With 0.3 px of pixel noise the range to every point (3..15 m) stays within 2 %.
    noisy = plane.pixel_to_ground(pixels + np.random.default_rng(7).normal(0, 0.3, pixels.shape))
    ranges = np.linalg.norm(grid, axis=1)
    range_errors = np.abs(np.linalg.norm(noisy, axis=1) - ranges) / ranges
    assert range_errors.max() < 0.02, f"worst range error {range_errors.max():.3%}"


@pytest.mark.parametrize("mount", TRUTH_MOUNTS[:2])
def test_uncertainty_covers_the_actual_errors(board_dir: Path, mount: dict) -> None:
    """Mapped errors under pixel noise and a mounting error stay within 3 sigma of uncertainty_m."""
    plane, truth = _recovered_and_truth(board_dir, mount)
    grid, pixels = _visible_grid(truth)
    knocked = CameraCalibration.model_validate(
        vehicle_dict(**{**mount, "pitch_deg": mount["pitch_deg"] + 0.2, "height_m": mount["height_m"] + 0.02})
    ).ground_plane()  # the camera really sits 0.2 deg / 2 cm off what the file says
    pixels = knocked.ground_to_pixel(grid) + np.random.default_rng(8).normal(0, 0.3, pixels.shape)
    errors = np.linalg.norm(plane.pixel_to_ground(pixels) - grid, axis=1)
    sigma = plane.uncertainty_m(pixels)
    assert np.all(errors < 3 * sigma), f"worst error/sigma {np.max(errors / sigma):.2f}"


def test_round_trip_ground_pixel_ground(vehicle_calibration: CameraCalibration) -> None:
    plane = vehicle_calibration.ground_plane()
    grid = vehicle_ground_grid(max_forward_m=25.0, half_width_m=4.0, step_m=0.5)
    back = plane.pixel_to_ground(plane.ground_to_pixel(grid))
    assert np.nanmax(np.abs(back - grid)) < 1e-6
    assert np.isfinite(back).mean() > 0.95


def test_sky_bonnet_and_far_road_are_nan() -> None:
    data = vehicle_dict()
    data["region"] = {"max_range_m": 20.0, "bonnet_top_row_px": 440}
    plane = CameraCalibration.model_validate(data).ground_plane()
    pixels = np.array([[320.0, 20.0], [320.0, 460.0], [-50.0, 300.0], [320.0, 400.0]])
    mapped = plane.pixel_to_ground(pixels)
    assert np.isnan(mapped[:3]).all()  # sky, bonnet, outside the image
    assert np.isfinite(mapped[3]).all()
    far = plane.ground_to_pixel(np.array([[0.0, 25.0], [0.0, 15.0]]))
    assert np.isnan(plane.pixel_to_ground(far)[0]).all() and np.isfinite(plane.pixel_to_ground(far)[1]).all()


def test_usable_mask_excludes_sky_and_bonnet() -> None:
    data = vehicle_dict()
    data["region"] = {"max_range_m": 30.0, "bonnet_top_row_px": 440}
    plane = CameraCalibration.model_validate(data).ground_plane()
    mask = plane.usable_mask(640, 480)
    assert mask.shape == (480, 640)
    assert not mask[:150].any()  # above the horizon (row ~166 for 8 deg pitch)
    assert not mask[440:].any()
    assert mask[300:430, 100:540].all()
    half = plane.usable_mask(320, 240)
    assert abs(half.mean() - mask.mean()) < 0.01


def test_usable_mask_matches_pointwise_mapping() -> None:
    data = vehicle_dict(roll_deg=2.0)
    data["region"] = {"max_range_m": 12.0, "bonnet_top_row_px": 450}
    plane = CameraCalibration.model_validate(data).ground_plane()
    u, v = np.meshgrid(np.arange(640.0), np.arange(480.0))
    exact = np.isfinite(plane.pixel_to_ground(np.column_stack([u.ravel(), v.ravel()]))[:, 0]).reshape(480, 640)
    assert (plane.usable_mask(640, 480) != exact).sum() <= 5  # interpolated rays: at most a few edge pixels


def test_uncertainty_grows_with_distance(vehicle_calibration: CameraCalibration) -> None:
    plane = vehicle_calibration.ground_plane()
    ahead = np.array([[0.0, y] for y in (4.0, 8.0, 12.0, 20.0)])
    sigma = plane.uncertainty_m(plane.ground_to_pixel(ahead))
    assert np.all(np.diff(sigma) > 0)
    assert 0.005 < sigma[0] < 0.2
    sky = plane.uncertainty_m(np.array([[320.0, 10.0]]))
    assert np.isnan(sky).all()


def test_length_and_area_of_known_shapes(vehicle_calibration: CameraCalibration) -> None:
    plane = vehicle_calibration.ground_plane()
    crack = plane.ground_to_pixel(np.array([[-1.0, 6.0], [0.0, 7.0], [1.5, 7.0]]))
    assert plane.length_m(crack) == pytest.approx(math.sqrt(2) + 1.5, rel=0.01)
    square = np.array([[0.0, 8.0], [0.5, 8.0], [0.5, 8.5], [0.0, 8.5]])
    # dense outline: with lens distortion a straight pixel edge is slightly curved on the road
    t = np.linspace(0, 1, 20, endpoint=False)[:, None]
    outline = np.vstack([a + (b - a) * t for a, b in zip(square, np.roll(square, -1, axis=0))])
    assert plane.area_m2(plane.ground_to_pixel(outline)) == pytest.approx(0.25, rel=0.01)
    sky_line = np.array([[100.0, 10.0], [300.0, 10.0]])
    assert math.isnan(plane.length_m(sky_line))


def test_resized_frames_map_to_the_same_ground(vehicle_calibration: CameraCalibration) -> None:
    plane = vehicle_calibration.ground_plane()
    small = plane.for_image_size(320, 240)
    point = np.array([[1.0, 9.0]])
    assert small.pixel_to_ground(small.ground_to_pixel(point)) == pytest.approx(point, abs=1e-6)
    full_px = plane.ground_to_pixel(point)
    assert small.ground_to_pixel(point) == pytest.approx((full_px + 0.5) / 2 - 0.5, abs=1e-6)
    with pytest.raises(ValueError, match="aspect ratio"):
        plane.for_image_size(640, 640)


@pytest.mark.parametrize(("pitch", "roll", "yaw"), [(8.0, 0.0, 0.0), (35.0, 2.0, 30.0), (-5.0, -10.0, 170.0)])
def test_angles_round_trip(pitch: float, roll: float, yaw: float) -> None:
    assert angles_from_rotation(camera_rotation(pitch, roll, yaw)) == pytest.approx((pitch, roll, yaw), abs=1e-9)


def test_box_touching_the_bottom_edge_still_maps(vehicle_calibration: CameraCalibration) -> None:
    plane = vehicle_calibration.ground_plane()
    lengths, areas = plane.box_sizes(np.array([[300.0, 400.0, 360.0, 480.0]]))  # y2 = image height
    assert np.isfinite(lengths).all() and np.isfinite(areas).all()
    assert np.isnan(plane.pixel_to_ground(np.array([[320.0, 482.0]]))).all()


def test_bad_points_shape_is_refused(vehicle_calibration: CameraCalibration) -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        vehicle_calibration.ground_plane().pixel_to_ground(np.zeros((3, 3)))


def test_camera_under_the_road_is_refused() -> None:
    with pytest.raises(ValueError, match="above the road"):
        GroundPlane(np.eye(3), np.zeros(0), np.eye(3), np.array([0.0, 0.0, -1.0]), (10, 10))


def test_box_sizes_of_a_pothole_and_a_crack(vehicle_calibration: CameraCalibration) -> None:
    plane = vehicle_calibration.ground_plane()
    # boxes drawn around known ground rectangles: 0.6 x 0.6 m pothole at 7 m, 2 m long crack at 9 m
    pothole = plane.ground_to_pixel(np.array([[-0.3, 7.0], [0.3, 7.6]]))
    crack = plane.ground_to_pixel(np.array([[0.5, 9.0], [2.5, 9.1]]))
    boxes = np.array([
        [pothole[:, 0].min(), pothole[:, 1].min(), pothole[:, 0].max(), pothole[:, 1].max()],
        [crack[:, 0].min(), crack[:, 1].min(), crack[:, 0].max(), crack[:, 1].max()],
        [100.0, 5.0, 200.0, 50.0],  # in the sky
    ])
    lengths, areas = plane.box_sizes(boxes)
    assert areas[0] == pytest.approx(0.36, rel=0.1)
    assert lengths[1] == pytest.approx(2.0, rel=0.05)
    assert np.isnan(lengths[2]) and np.isnan(areas[2])


def test_points_far_outside_the_view_do_not_fold_into_the_image() -> None:
    data = vehicle_dict()
    data["intrinsics"]["dist"] = [-0.35, 0.0, 0.0, 0.0, 0.0]  # barrel, k2 = 0: the polynomial folds back
    plane = CameraCalibration.model_validate(data).ground_plane()
    points = np.array([[4.0, 2.0], [-4.0, 2.0], [0.0, 8.0]])
    raw = cv2.projectPoints(np.column_stack([points, np.zeros(3)]), cv2.Rodrigues(plane.rotation)[0],
                            -plane.rotation @ plane.centre_m, plane.camera_matrix, plane.dist_coeffs)[0].reshape(-1, 2)
    assert 0 < raw[0, 0] < 640  # plain projection folds the point 4 m to the side into the image
    side = plane.ground_to_pixel(points)
    assert np.isnan(side[:2]).all()
    assert np.isfinite(side[2]).all()
