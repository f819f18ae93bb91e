"""Smoke tests of the end-to-end command chain on synthetic renders: synth -> intrinsics ->
mount (pitch from lanes) -> --validate -> check -> preview."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from voirie.calibration import CameraCalibration
from voirie.cli import app


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["calibrate", *args])
    return result.exit_code, result.output


def test_command_chain_on_synthetic_camera(tmp_path: Path) -> None:
    code, _ = _run("synth", "--out", str(tmp_path), "--views", "8")
    assert code == 0
    code, out = _run("intrinsics", "--images", str(tmp_path / "boards"), "--out", str(tmp_path / "lens.json"))
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1])["fx"] == pytest.approx(520.0, rel=0.01)
    cal = tmp_path / "cal.json"
    code, out = _run("mount", "--intrinsics", str(tmp_path / "lens.json"), "--device-id", "car-01", "--camera-id",
                     "front", "--height-m", "1.4", "--lane-images", str(tmp_path / "road"), "--out", str(cal))
    assert code == 0, out
    mount = CameraCalibration.load(cal).mount
    assert mount.pitch_deg == pytest.approx(8.0, abs=0.3) and mount.yaw_deg == pytest.approx(1.0, abs=0.3)
    code, out = _run("--validate", str(cal))
    assert code == 0 and "OK cal-" in out
    road = tmp_path / "road" / "road.png"
    code, out = _run("check", "--calibration", str(cal), "--image", str(road))
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1])["ok"] is True
    code, out = _run("preview", "--calibration", str(cal), "--image", str(road), "--out", str(tmp_path / "p.png"))
    assert code == 0, out
    picture, frame = cv2.imread(str(tmp_path / "p.png")), cv2.imread(str(road))
    assert picture.shape == frame.shape
    assert picture[:100].mean() < frame[:100].mean() * 0.6  # the sky is dimmed as unusable
    green = (picture[..., 1] > 180) & (picture[..., 2] < 150)
    assert green[250:400].sum() > 500  # grid lines drawn on the road


def test_check_reports_a_tilted_camera(tmp_path: Path) -> None:
    _run("synth", "--out", str(tmp_path), "--views", "1")
    data = {
        "device_id": "car-01", "camera_id": "front",
        "intrinsics": {"image_width_px": 640, "image_height_px": 480, "fx_px": 520, "fy_px": 515,
                       "cx_px": 322, "cy_px": 238, "dist": [-0.15, 0.05, 0.001, -0.0005, 0.0]},
        "mount": {"mode": "vehicle", "height_m": 1.4, "pitch_deg": 12.0},
    }
    cal = CameraCalibration.model_validate(data).save(tmp_path / "cal.json")
    code, out = _run("check", "--calibration", str(cal), "--image", str(tmp_path / "road" / "road.png"))
    assert code == 1
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ok"] is False and result["error_deg"] == pytest.approx(-4.0, abs=0.3)


def test_check_unreadable_image_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "frame.png"
    bogus.write_bytes(b"not a png")
    code, out = _run("check", "--calibration", str(tmp_path / "none.json"), "--image", str(bogus))
    assert code == 2 and "calibration file not found" in out
