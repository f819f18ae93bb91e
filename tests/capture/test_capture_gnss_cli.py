"""``voirie gnss check`` on real files, through the real ``voirie`` typer app."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from voirie.capture.gnss import write_gpx, write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.cli import app

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)


def row(output: str, label: str) -> str:
    match = re.search(rf"{re.escape(label)}\s*│\s*([^│]+?)\s*│", output)
    assert match, f"no row {label!r} in:\n{output}"
    return match.group(1)


def test_check_reports_fixes_rejections_length_and_marks(tmp_path: Path) -> None:
    legs = [Leg(30.0, 10.0), Leg(20.0, 0.0), Leg(30.0, 10.0)]
    fixes = simulate_drive((50.63, 3.06), T0, 10.0, legs, Receiver(rate_hz=5.0, jitter_m=0.3, eph_m=1.0, seed=2)).fixes
    fixes.insert(100, fixes[50])  # an epoch replayed out of order
    path = tmp_path / "drive.nmea"
    write_nmea(fixes, path)
    result = CliRunner().invoke(app, ["gnss", "check", str(path)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert row(result.output, "fixes read") == str(len(fixes))
    assert row(result.output, "rejected: time_backwards") == "1"
    assert float(row(result.output, "track length (odometer)").removesuffix(" m")) == pytest.approx(600.0, abs=2.0)
    assert row(result.output, "duration") == "80.0 s"
    assert int(row(result.output, "4 m marks")) in (149, 150)


def test_check_reads_gpx_and_honours_the_spacing(tmp_path: Path) -> None:
    fixes = simulate_drive((50.63, 3.06), T0, 10.0, [Leg(20.0, 10.0)], Receiver(rate_hz=1.0)).fixes
    path = tmp_path / "drive.gpx"
    write_gpx(fixes, path)
    result = CliRunner().invoke(app, ["gnss", "check", str(path), "--spacing", "10"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "(GPX)" in result.output
    assert row(result.output, "10 m marks") == "20"


def test_check_fails_cleanly_on_a_file_without_fix(tmp_path: Path) -> None:
    path = tmp_path / "empty.nmea"
    path.write_text("")
    result = CliRunner().invoke(app, ["gnss", "check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "is empty" in result.output and "Traceback" not in result.output


def test_check_draws_the_track_marks_and_dropout(tmp_path: Path) -> None:
    fixes = simulate_drive((50.63, 3.06), T0, 60.0, [Leg(40.0, 10.0, turn_deg=120.0)], Receiver(rate_hz=2.0)).fixes
    fixes = [f for i, f in enumerate(fixes) if not 30 < i < 45]  # a 7 s dropout
    path, picture = tmp_path / "drive.nmea", tmp_path / "drive.png"
    write_nmea(fixes, path)
    result = CliRunner().invoke(app, ["gnss", "check", str(path), "--plot", str(picture)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert row(result.output, "dropouts (no marks)") == "1"
    pixels = np.asarray(Image.open(picture).convert("RGB")).reshape(-1, 3)
    colours = {tuple(int(v) for v in c) for c in np.unique(pixels, axis=0)}
    assert {(30, 90, 200), (220, 120, 0), (150, 150, 150)} <= colours  # marks, dropout, track
    assert int((pixels == (30, 90, 200)).all(axis=1).sum()) > 10 * int(row(result.output, "4 m marks"))
