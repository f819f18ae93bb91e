"""Mounting: pitch from the vanishing point of lane markings, pole pose from surveyed points."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from voirie.calibration import (
    CalibrationError,
    CameraCalibration,
    IntrinsicsConfig,
    PoleMountConfig,
    angles_from_vanishing_point,
    camera_rotation,
    solve_pole_pose,
)
from voirie.calibration.geometry import GroundPlane
from voirie.calibration.horizon import road_vanishing_point
from voirie.lab.synth.calibration import render_road_view
from voirie.cli import app

from .conftest import SIZE, TRUE_DIST, TRUE_K, intrinsics_dict, vehicle_dict

LENS = IntrinsicsConfig.model_validate(intrinsics_dict())
# A pole 7 m high, 4 m left of and 6 m before the site origin, looking 35 deg down, 30 deg right.
POLE = GroundPlane(TRUE_K, TRUE_DIST, camera_rotation(35, 2, 30), np.array([-4.0, -6.0, 7.0]), SIZE, max_range_m=1e9)
RECTANGLE = np.array([[0.0, 0.0], [6.0, 0.0], [6.0, 10.0], [0.0, 10.0]])


@pytest.mark.parametrize(("pitch", "roll", "yaw"), [(7.0, 0.0, 2.0), (10.0, 1.0, -3.0), (4.0, -1.5, 0.0)])
def test_pitch_and_yaw_from_lane_vanishing_point(pitch: float, roll: float, yaw: float) -> None:
    truth = CameraCalibration.model_validate(vehicle_dict(pitch_deg=pitch, roll_deg=roll, yaw_deg=yaw))
    image = render_road_view(truth.ground_plane())
    found = road_vanishing_point(image, TRUE_K, TRUE_DIST)
    assert found is not None and found[1] >= 4
    got_pitch, got_yaw = angles_from_vanishing_point(LENS, tuple(found[0]), roll_deg=roll)
    assert got_pitch == pytest.approx(pitch, abs=0.3)
    assert got_yaw == pytest.approx(yaw, abs=0.3)


def test_no_lanes_no_vanishing_point() -> None:
    assert road_vanishing_point(np.full((480, 640, 3), 90, np.uint8), TRUE_K, TRUE_DIST) is None


def _pole_mount(ground: np.ndarray, noise_px: float = 0.0, **extra: object) -> PoleMountConfig:
    pixels = POLE.ground_to_pixel(ground) + np.random.default_rng(2).normal(0, noise_px, (len(ground), 2))
    return PoleMountConfig(image_points_px=pixels.tolist(), ground_points_m=ground.tolist(), **extra)


def test_pole_pose_from_four_points() -> None:
    fit = solve_pole_pose(LENS, _pole_mount(RECTANGLE, noise_px=0.3))
    assert fit.centre_m == pytest.approx([-4.0, -6.0, 7.0], abs=0.15)
    assert fit.angles_deg == pytest.approx((35.0, 2.0, 30.0), abs=0.5)
    assert fit.rms_px < 1.0


def test_pole_calibration_measures_distances() -> None:
    mount = _pole_mount(RECTANGLE, noise_px=0.3)
    data = {"device_id": "pole-7", "camera_id": "north", "intrinsics": intrinsics_dict(), "mount": mount.model_dump()}
    plane = CameraCalibration.model_validate(data).ground_plane()
    probes = np.array([[1.0, 2.0], [5.0, 2.0], [3.0, 9.0], [-1.0, 12.0]])
    mapped = plane.pixel_to_ground(POLE.ground_to_pixel(probes))
    assert mapped == pytest.approx(probes, abs=0.1)
    stripe = POLE.ground_to_pixel(np.array([[1.0, 2.0], [1.0, 8.0]]))
    assert plane.length_m(stripe) == pytest.approx(6.0, rel=0.02)


def test_collinear_points_are_refused() -> None:
    line = np.array([[0.0, 0.0], [2.0, 1.0], [4.0, 2.0], [6.0, 3.0]])
    with pytest.raises(CalibrationError, match="collinear"):
        solve_pole_pose(LENS, _pole_mount(line))


def test_duplicate_points_are_refused() -> None:
    twice = np.vstack([RECTANGLE[:3], RECTANGLE[:1]])
    with pytest.raises(CalibrationError, match=r"points #0 and #3 are the same"):
        solve_pole_pose(LENS, _pole_mount(twice))


def test_inconsistent_points_name_the_worst() -> None:
    ground = np.vstack([RECTANGLE, [[3.0, 5.0]]])
    mount = _pole_mount(ground)
    wrong = list(mount.ground_points_m)
    wrong[4] = (3.0, 8.0)  # typo in the survey: 3 m off
    bad = PoleMountConfig(image_points_px=mount.image_points_px, ground_points_m=wrong)
    with pytest.raises(CalibrationError, match=r"inconsistent.*point #4"):
        solve_pole_pose(LENS, bad)


def test_swapped_axes_are_explained() -> None:
    mount = _pole_mount(RECTANGLE)
    swapped = PoleMountConfig(image_points_px=mount.image_points_px, ground_points_m=[(y, x) for x, y in RECTANGLE])
    with pytest.raises(CalibrationError, match="mirrored"):
        solve_pole_pose(LENS, swapped)


@pytest.mark.parametrize(
    ("images", "grounds", "message"),
    [
        ([(1, 1)] * 3, [(0, 0)] * 3, "at least 4"),
        ([(1, 1), (2, 2), (3, 1), (1, 3)], [(0, 0), (1, 0), (1, 1)], "at least 4"),
        ([(1, 1), (200, 2), (3, 100), (100, 300), (5, 5)], [(0, 0), (1, 0), (1, 1), (0, 1)], "pair up"),
    ],
)
def test_pole_point_lists_validated(images: list, grounds: list, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PoleMountConfig(image_points_px=images, ground_points_m=grounds)


def test_cli_mount_pole_and_vehicle_from_lanes(tmp_path: Path) -> None:
    lens_file = tmp_path / "lens.json"
    lens_file.write_text(LENS.model_dump_json())
    pixels = POLE.ground_to_pixel(RECTANGLE)
    rows = ["u_px,v_px,x_m,y_m"] + [f"{u},{v},{x},{y}" for (u, v), (x, y) in zip(pixels, RECTANGLE)]
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    common = ["calibrate", "mount", "--intrinsics", str(lens_file), "--device-id", "d1", "--camera-id", "c1"]
    pole = CliRunner().invoke(app, [*common, "--mode", "pole", "--points", str(tmp_path / "points.csv"),
                                    "--origin", "48.85,2.35", "--out", str(tmp_path / "pole.json")])
    assert pole.exit_code == 0, pole.output
    saved = CameraCalibration.load(tmp_path / "pole.json")
    assert saved.mount.frame == "east_north" and saved.mount.origin_lat_deg == 48.85
    assert json.loads(pole.output.strip().splitlines()[-1])["calibration_id"] == saved.calibration_id
    lanes = tmp_path / "lanes"
    lanes.mkdir()
    truth = CameraCalibration.model_validate(vehicle_dict(pitch_deg=9.0, yaw_deg=1.0)).ground_plane()
    cv2.imwrite(str(lanes / "road.png"), render_road_view(truth))
    car = CliRunner().invoke(app, [*common, "--height-m", "1.4", "--lane-images", str(lanes),
                                   "--out", str(tmp_path / "car.json")])
    assert car.exit_code == 0, car.output
    mount = CameraCalibration.load(tmp_path / "car.json").mount
    assert mount.pitch_source == "vanishing_point"
    assert mount.pitch_deg == pytest.approx(9.0, abs=0.3)


def test_cli_mount_missing_pitch_is_a_clear_error(tmp_path: Path) -> None:
    lens_file = tmp_path / "lens.json"
    lens_file.write_text(LENS.model_dump_json())
    run = CliRunner().invoke(app, ["calibrate", "mount", "--intrinsics", str(lens_file), "--device-id", "d",
                                   "--camera-id", "c", "--height-m", "1.4", "--out", str(tmp_path / "x.json")])
    assert run.exit_code == 2
    assert "--pitch-deg or --lane-images" in run.output
    assert not (tmp_path / "x.json").exists()


def test_cli_mount_with_nominal_lens(tmp_path: Path) -> None:
    out = tmp_path / "nominal.json"
    run = CliRunner().invoke(app, ["calibrate", "mount", "--nominal", "1024x640@60", "--device-id", "d",
                                   "--camera-id", "c", "--height-m", "2.2", "--pitch-deg", "20", "--out", str(out)])
    assert run.exit_code == 0, run.output
    lens = CameraCalibration.load(out).intrinsics
    assert lens.fx_px == pytest.approx(512 / np.tan(np.radians(30)))
    assert lens.rms_px is None and lens.dist == ()
    bad = CliRunner().invoke(app, ["calibrate", "mount", "--nominal", "1024x640", "--device-id", "d",
                                   "--camera-id", "c", "--height-m", "2.2", "--pitch-deg", "20", "--out", str(out)])
    assert bad.exit_code == 2 and "--nominal must look like" in bad.output


def test_pole_problems_show_in_validate(tmp_path: Path) -> None:
    line = [(0.0, 0.0), (2.0, 1.0), (4.0, 2.0), (6.0, 3.0)]
    data = {"device_id": "p", "camera_id": "c", "intrinsics": intrinsics_dict(),
            "mount": {"mode": "pole", "image_points_px": [(100, 100), (200, 300), (400, 120), (500, 400)],
                      "ground_points_m": line}}
    path = tmp_path / "pole.json"
    path.write_text(json.dumps(data))
    run = CliRunner().invoke(app, ["calibrate", "--validate", str(path)])
    assert run.exit_code == 1
    assert "collinear" in run.output
