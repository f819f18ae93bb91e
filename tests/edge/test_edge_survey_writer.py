"""Geotagged output: EXIF GPS written with Pillow reads back and matches the fix; raw frames refused."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from voirie.edge.survey.writer import SurveyWriter, read_gps, read_records
from voirie.records import AnonymizedFrame, Frame, FrameRecord, GeoFix

WHEN = datetime(2025, 5, 14, 8, 30, 3, 250000, tzinfo=timezone.utc)


def _pair(fix: GeoFix, sequence: int = 7) -> tuple[AnonymizedFrame, FrameRecord]:
    pixels = np.random.default_rng(sequence).integers(0, 255, (72, 128, 3), dtype=np.uint8)
    frame = Frame(pixels=pixels, monotonic_s=0.0, time_utc=fix.time_utc, camera_id="cam0", sequence=sequence)
    record = FrameRecord(
        record_id=FrameRecord.make_id("dev", "s1", "cam0", sequence), device_id="dev", survey_id="s1",
        camera_id="cam0", sequence=sequence, time_utc=fix.time_utc, fix=fix, distance_m=12.0,
        image_width=128, image_height=72, anonymizer="centerface@test",
    )
    return AnonymizedFrame(frame=frame, faces_masked=1, plates_masked=0, anonymizer="centerface@test"), record


@pytest.mark.parametrize(
    ("lat", "lon", "alt"),
    [(47.2595512, -0.0780234, 31.4), (-33.8567844, 151.2152967, -2.5), (0.0000001, 179.9999, None)],
)
def test_exif_gps_round_trip_matches_the_fix(tmp_path: Path, lat: float, lon: float, alt: float | None) -> None:
    fix = GeoFix(lat=lat, lon=lon, time_utc=WHEN, alt_m=alt, speed_mps=11.2, heading_deg=271.35, hdop=0.9)
    with SurveyWriter(tmp_path) as writer:
        written = writer.write(*_pair(fix))
    gps = read_gps(tmp_path / written.image_file)
    assert gps["lat"] == pytest.approx(lat, abs=1e-7) and gps["lon"] == pytest.approx(lon, abs=1e-7)
    assert gps["alt_m"] == (pytest.approx(alt, abs=0.01) if alt is not None else None)
    assert gps["heading_deg"] == pytest.approx(271.35, abs=0.01)
    assert gps["speed_mps"] == pytest.approx(11.2, abs=0.01)
    assert gps["time_utc"] == pytest.approx(WHEN.timestamp(), abs=0.001)
    with Image.open(tmp_path / written.image_file) as image:
        assert image.format == "JPEG" and image.size == (128, 72)
        assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSDateStamp] == "2025:05:14"


def test_record_line_points_at_the_jpeg(tmp_path: Path) -> None:
    fix = GeoFix(lat=47.26, lon=-0.078, time_utc=WHEN)
    with SurveyWriter(tmp_path) as writer:
        writer.write(*_pair(fix, 1))
        writer.write(*_pair(fix, 2))
    records = read_records(tmp_path)
    assert [r.sequence for r in records] == [1, 2]
    assert all((tmp_path / r.image_file).is_file() for r in records)
    assert not list((tmp_path / "images").glob(".*part"))


def test_a_raw_frame_is_refused(tmp_path: Path) -> None:
    anonymized, record = _pair(GeoFix(lat=47.26, lon=-0.078, time_utc=WHEN))
    with SurveyWriter(tmp_path) as writer, pytest.raises(TypeError, match="AnonymizedFrame"):
        writer.write(anonymized.frame, record)
    assert not list((tmp_path / "images").iterdir())
    assert (tmp_path / "records.jsonl").read_text() == ""
