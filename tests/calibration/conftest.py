"""Synthetic ground truth shared by the calibration tests: a known lens, board views
rendered through it, and a vehicle calibration built on it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.calibration import CameraCalibration
from voirie.lab.synth.calibration import board_poses, render_board_view

SIZE = (640, 480)
BOARD = (8, 5)
SQUARE_M = 0.025
TRUE_K = np.array([[520.0, 0, 322.0], [0, 515.0, 238.0], [0, 0, 1]])
TRUE_DIST = np.array([-0.15, 0.05, 0.001, -0.0005, 0.0])


@pytest.fixture(scope="session")
def board_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine noisy, distorted renders of an 8x5 board from varied poses, as PNG files."""
    folder = tmp_path_factory.mktemp("boards")
    rng = np.random.default_rng(3)
    for i, (rvec, tvec) in enumerate(board_poses(TRUE_K, SIZE, BOARD, SQUARE_M, 9, rng)):
        image = render_board_view(TRUE_K, TRUE_DIST, rvec, tvec, BOARD, SQUARE_M, SIZE, noise_grey=2.0, rng=rng)
        cv2.imwrite(str(folder / f"view{i:02d}.png"), image)
    return folder


def intrinsics_dict(dist: list[float] | None = None) -> dict:
    return {
        "image_width_px": SIZE[0],
        "image_height_px": SIZE[1],
        "fx_px": TRUE_K[0, 0],
        "fy_px": TRUE_K[1, 1],
        "cx_px": TRUE_K[0, 2],
        "cy_px": TRUE_K[1, 2],
        "dist": list(TRUE_DIST) if dist is None else dist,
    }


def vehicle_dict(**mount: float) -> dict:
    values = {"mode": "vehicle", "height_m": 1.4, "pitch_deg": 8.0, "roll_deg": 0.0}
    values.update(mount)
    return {"device_id": "car-01", "camera_id": "front", "intrinsics": intrinsics_dict(), "mount": values}


@pytest.fixture()
def vehicle_calibration() -> CameraCalibration:
    return CameraCalibration.model_validate(vehicle_dict())
