"""The calibration file: validation with key paths, versioning, hashing, save/load, --validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from voirie.calibration import CalibrationError, CameraCalibration
from voirie.cli import app
from voirie.config import error_lines

from .conftest import vehicle_dict


def test_save_load_round_trip_keeps_id(tmp_path: Path, vehicle_calibration: CameraCalibration) -> None:
    path = vehicle_calibration.save(tmp_path / "cal" / "front.json")
    loaded = CameraCalibration.load(path)
    assert loaded == vehicle_calibration
    assert loaded.calibration_id == vehicle_calibration.calibration_id
    assert json.loads(path.read_text())["schema"] == 1


def test_id_follows_geometry_not_notes() -> None:
    base = CameraCalibration.model_validate(vehicle_dict())
    noted = CameraCalibration.model_validate({**vehicle_dict(), "notes": "remounted after car wash"})
    tilted = CameraCalibration.model_validate(vehicle_dict(pitch_deg=8.5))
    assert base.calibration_id == noted.calibration_id
    assert base.calibration_id != tilted.calibration_id
    assert base.calibration_id.startswith("cal-") and len(base.calibration_id) == 20


@pytest.mark.parametrize(
    ("change", "key_path"),
    [
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["mount"].update(hieght_m=1.4), "mount.vehicle.hieght_m"),
        (lambda d: d["mount"].update(height_m=12.0), "mount.vehicle.height_m"),
        (lambda d: d["intrinsics"].update(fx_px=-5), "intrinsics.fx_px"),
        (lambda d: d["intrinsics"].update(dist=[0.1, 0.2, 0.3]), "intrinsics.dist"),
        (lambda d: d["intrinsics"].update(cx_px=900.0), "intrinsics"),
        (lambda d: d.update(region={"bonnet_top_row_px": 5000}), "(top level)"),
        (lambda d: d.update(region={"min_range_m": 40, "max_range_m": 30}), "region"),
        (lambda d: d.update(schema=7), "schema"),
        (lambda d: d["mount"].update(mode="drone"), "mount"),
    ],
)
def test_bad_config_names_key_path(change, key_path: str) -> None:
    data = vehicle_dict()
    change(data)
    with pytest.raises(ValidationError) as caught:
        CameraCalibration.model_validate(data)
    paths = [line.split(": ")[1] for line in error_lines(caught.value, "cal.json")]
    assert key_path in paths, paths


def test_newer_schema_message_says_upgrade() -> None:
    with pytest.raises(CalibrationError, match="newer than this software"):
        CameraCalibration.from_dict({**vehicle_dict(), "schema": 2})


def test_load_errors_are_calibration_errors(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found"):
        CameraCalibration.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CalibrationError, match="not readable JSON"):
        CameraCalibration.load(broken)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**vehicle_dict(), "extra_key": 1}))
    with pytest.raises(CalibrationError, match="extra_key"):
        CameraCalibration.load(bad)


def test_validate_dry_run_prints_key_path_and_value(tmp_path: Path) -> None:
    data = vehicle_dict(height_m=-1.0)
    data["intrinsics"]["fx_pixels"] = 520
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["calibrate", "--validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}: mount.vehicle.height_m: Input should be greater than 0.2 (got -1.0)" in result.output
    assert f"{path}: intrinsics.fx_pixels: Extra inputs are not permitted (got 520)" in result.output
    assert path.read_text() == json.dumps(data)  # a dry run changes nothing


def test_validate_dry_run_accepts_good_file(tmp_path: Path, vehicle_calibration: CameraCalibration) -> None:
    path = vehicle_calibration.save(tmp_path / "cal.json")
    result = CliRunner().invoke(app, ["calibrate", "--validate", str(path)])
    assert result.exit_code == 0, result.output
    assert vehicle_calibration.calibration_id in result.output
