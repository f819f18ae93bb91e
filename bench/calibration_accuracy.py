"""Calibration accuracy on synthetic renders with known ground truth, and mapping speed.

For several random lenses and mounts: intrinsics recovered from rendered board views
(ours: classic detector + cornerSubPix; baseline: findChessboardCornersSB alone), ground
distances inside 15 m (ours: distortion-aware ray mapping; baseline: plain homography
ignoring distortion), pitch from the lane vanishing point, pole pose from 4 points, and
the time to map points and build a usable mask. Last line: one JSON object.

    nice -n 10 .venv/bin/python bench/calibration_accuracy.py [--cameras 4]
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np

from voirie.calibration import IntrinsicsConfig, PoleMountConfig, angles_from_vanishing_point, solve_pole_pose
from voirie.calibration import targets as targets_module
from voirie.calibration.geometry import GroundPlane, camera_rotation
from voirie.calibration.horizon import road_vanishing_point
from voirie.calibration.intrinsics import calibrate_intrinsics
from voirie.calibration.targets import CheckerboardTarget
from voirie.lab.synth.calibration import board_poses, render_board_view, render_road_view, vehicle_ground_grid

SIZE, BOARD, SQUARE_M = (640, 480), (8, 5), 0.025


def sb_only(image: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """Baseline corner detector: OpenCV's sector-based detector, no refinement."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found, corners = cv2.findChessboardCornersSB(grey, board, flags=cv2.CALIB_CB_ACCURACY)
    return corners.reshape(-1, 2).astype(np.float64) if found else None


def random_camera(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    f = rng.uniform(450, 650)
    K = np.array([[f, 0, 320 + rng.uniform(-8, 8)], [0, f * rng.uniform(0.99, 1.01), 240 + rng.uniform(-8, 8)], [0, 0, 1]])
    dist = np.array([rng.uniform(-0.25, -0.05), rng.uniform(0.0, 0.08), 0.0, 0.0, 0.0])
    return K, dist


def intrinsics_errors(K: np.ndarray, dist: np.ndarray, rng: np.random.Generator) -> tuple[IntrinsicsConfig, dict]:
    views = [(f"v{i}", render_board_view(K, dist, r, t, BOARD, SQUARE_M, SIZE, rng=rng))
             for i, (r, t) in enumerate(board_poses(K, SIZE, BOARD, SQUARE_M, 9, rng))]
    ours = calibrate_intrinsics(views, CheckerboardTarget(*BOARD, SQUARE_M * 1000)).intrinsics
    original = targets_module.find_board_corners
    targets_module.find_board_corners = sb_only
    try:
        base = calibrate_intrinsics(views, CheckerboardTarget(*BOARD, SQUARE_M * 1000)).intrinsics
    finally:
        targets_module.find_board_corners = original

    def worst(i: IntrinsicsConfig) -> float:
        got = np.array([i.fx_px, i.fy_px, i.cx_px, i.cy_px])
        return float(np.max(np.abs(got / np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]]) - 1)))

    return ours, {"ours": worst(ours), "baseline": worst(base), "rms_px": ours.rms_px}


def ground_errors(lens: IntrinsicsConfig, K: np.ndarray, dist: np.ndarray, rng: np.random.Generator) -> dict:
    pitch, height = rng.uniform(4, 12), rng.uniform(1.2, 2.0)
    rotation, centre = camera_rotation(pitch, rng.uniform(-1.5, 1.5), rng.uniform(-3, 3)), np.array([0, 0, height])
    truth = GroundPlane(K, dist, rotation, centre, SIZE, max_range_m=1e9)
    ours = GroundPlane(lens.camera_matrix(), lens.dist_coeffs(), rotation, centre, SIZE, max_range_m=1e9)
    grid = vehicle_ground_grid(15.0, 3.0)
    pixels = truth.ground_to_pixel(grid)
    seen = np.all((pixels > 2) & (pixels < np.array(SIZE) - 3), axis=1)
    grid, pixels = grid[seen], pixels[seen]
    naive = cv2.perspectiveTransform(pixels.reshape(-1, 1, 2), np.linalg.inv(ours.homography)).reshape(-1, 2)
    i, j = np.triu_indices(len(grid), 1)
    true_d = np.linalg.norm(grid[i] - grid[j], axis=1)

    def rel(mapped: np.ndarray) -> float:
        return float(np.max(np.abs(np.linalg.norm(mapped[i] - mapped[j], axis=1) / true_d - 1)))

    image = render_road_view(truth)
    vp = road_vanishing_point(image, K, dist)
    pitch_err = abs(angles_from_vanishing_point(lens, tuple(vp[0]))[0] - pitch) if vp else float("nan")
    return {"ours": rel(ours.pixel_to_ground(pixels)), "baseline": rel(naive), "pitch_err_deg": pitch_err}


def pole_error(lens: IntrinsicsConfig, K: np.ndarray, dist: np.ndarray, rng: np.random.Generator) -> float:
    truth = GroundPlane(K, dist, camera_rotation(35, 2, 30), np.array([-4.0, -6.0, 7.0]), SIZE, max_range_m=1e9)
    rectangle = np.array([[0.0, 0.0], [6.0, 0.0], [6.0, 10.0], [0.0, 10.0]])
    pixels = truth.ground_to_pixel(rectangle) + rng.normal(0, 0.3, (4, 2))
    fit = solve_pole_pose(lens, PoleMountConfig(image_points_px=pixels.tolist(), ground_points_m=rectangle.tolist()))
    plane = GroundPlane(lens.camera_matrix(), lens.dist_coeffs(), fit.rotation, fit.centre_m, SIZE, max_range_m=1e9)
    probes = np.array([[1.0, 2.0], [5.0, 8.0], [3.0, 12.0]])
    return float(np.max(np.linalg.norm(plane.pixel_to_ground(truth.ground_to_pixel(probes)) - probes, axis=1)))


def speed(lens: IntrinsicsConfig) -> dict:
    plane = GroundPlane(lens.camera_matrix(), lens.dist_coeffs(), camera_rotation(8), np.array([0, 0, 1.4]), SIZE)
    points = np.random.default_rng(0).uniform([0, 200], [640, 480], (10000, 2))
    started = time.perf_counter()
    plane.pixel_to_ground(points)
    mapped_s = time.perf_counter() - started
    started = time.perf_counter()
    cv2.perspectiveTransform(points.reshape(-1, 1, 2), np.linalg.inv(plane.homography))
    homography_s = time.perf_counter() - started
    started = time.perf_counter()
    plane.for_image_size(640, 480).usable_mask(1920, 1440)
    return {"map_10k_ms": mapped_s * 1e3, "homography_10k_ms": homography_s * 1e3,
            "mask_1920x1440_ms": (time.perf_counter() - started) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    rows = []
    for n in range(args.cameras):
        K, dist = random_camera(rng)
        lens, intr = intrinsics_errors(K, dist, rng)
        rows.append({"intr": intr, "ground": ground_errors(lens, K, dist, rng), "pole_m": pole_error(lens, K, dist, rng)})
        print(f"camera {n}: intrinsics worst {intr['ours']:.3%} (baseline {intr['baseline']:.3%}), "
              f"ground distances worst {rows[-1]['ground']['ours']:.3%} (no-distortion baseline "
              f"{rows[-1]['ground']['baseline']:.3%}), vp pitch err {rows[-1]['ground']['pitch_err_deg']:.3f} deg, "
              f"pole worst {rows[-1]['pole_m']:.3f} m")
    timing = speed(lens)
    print(f"map 10k points: {timing['map_10k_ms']:.1f} ms (homography only: {timing['homography_10k_ms']:.1f} ms, "
          f"ratio {timing['map_10k_ms'] / timing['homography_10k_ms']:.1f}x); mask 1920x1440: {timing['mask_1920x1440_ms']:.0f} ms")
    summary = {
        "intrinsics_worst_rel": max(r["intr"]["ours"] for r in rows),
        "intrinsics_worst_rel_baseline_sb": max(r["intr"]["baseline"] for r in rows),
        "ground_15m_worst_rel": max(r["ground"]["ours"] for r in rows),
        "ground_15m_worst_rel_baseline_no_distortion": max(r["ground"]["baseline"] for r in rows),
        "vp_pitch_worst_err_deg": max(r["ground"]["pitch_err_deg"] for r in rows),
        "pole_worst_err_m": max(r["pole_m"] for r in rows),
        **timing,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
