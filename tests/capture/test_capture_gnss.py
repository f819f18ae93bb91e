"""NMEA and GPX readers/writers, and the fix filter, on real files with good and bad input."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from voirie.capture.gnss import FixFilter, GnssError, read_gpx, read_nmea, read_track, write_gpx, write_nmea
from voirie.capture.gnss.nmea import NmeaReader
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.records import FixMode, GeoFix

T0 = datetime(2026, 5, 4, 23, 59, 50, tzinfo=timezone.utc)


@pytest.fixture
def drive() -> list[GeoFix]:
    receiver = Receiver(rate_hz=10.0, jitter_m=0.2, eph_m=1.2, seed=5)
    return simulate_drive((45.764, 4.8357), T0, 120.0, [Leg(20.0, 13.9, turn_deg=70.0)], receiver).fixes


def test_nmea_round_trip_keeps_every_field(tmp_path: Path, drive: list[GeoFix]) -> None:
    path = tmp_path / "drive.nmea"
    write_nmea(drive, path)
    read = list(read_nmea(path))
    assert len(read) == len(drive) == 201
    for original, back in zip(drive, read):
        assert back.time_utc == original.time_utc  # crosses midnight: the date comes from RMC
        assert (back.lat, back.lon) == pytest.approx((original.lat, original.lon), abs=1e-7)
        assert back.speed_mps == pytest.approx(original.speed_mps, abs=0.001)
        assert back.heading_deg == pytest.approx(original.heading_deg, abs=0.01)
        assert back.alt_m == pytest.approx(original.alt_m)
        assert back.eph_m == pytest.approx(1.2, abs=0.01)
        assert back.mode == FixMode.FIX_3D


def test_nmea_lines_have_valid_checksums(tmp_path: Path, drive: list[GeoFix]) -> None:
    path = tmp_path / "drive.nmea"
    write_nmea(drive[:3], path)
    for line in path.read_bytes().split(b"\r\n")[:-1]:
        body, checksum = line[1:].split(b"*")
        value = 0
        for byte in body:
            value ^= byte
        assert int(checksum, 16) == value


def test_known_receiver_sentences(tmp_path: Path) -> None:
    # The classic NMEA reference sentences (checksums as published).
    path = tmp_path / "ref.nmea"
    path.write_text(
        "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\n"
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\n"
    )
    (fix,) = list(read_nmea(path))
    assert fix.time_utc == datetime(1994, 3, 23, 12, 35, 19, tzinfo=timezone.utc)
    assert (fix.lat, fix.lon) == pytest.approx((48.1173, 11.516667), abs=1e-6)
    assert fix.speed_mps == pytest.approx(22.4 * 1852 / 3600)
    assert fix.heading_deg == pytest.approx(84.4)
    assert (fix.alt_m, fix.hdop, fix.mode) == (545.4, 0.9, FixMode.FIX_3D)


def test_checksum_errors_are_counted_and_good_lines_kept(tmp_path: Path, drive: list[GeoFix]) -> None:
    path = tmp_path / "noisy.nmea"
    write_nmea(drive, path)
    lines = path.read_text().splitlines()
    broken_epochs = {7, 50, 51, 120, 199}
    for epoch in broken_epochs:  # three lines per epoch: RMC, GGA, GST
        for offset in (0, 1):
            line = lines[3 * epoch + offset]  # one digit of the time flipped, checksum kept
            lines[3 * epoch + offset] = line[:12] + ("7" if line[12] != "7" else "8") + line[13:]
    lines.insert(10, "this is not NMEA")
    lines.insert(20, "$GPRMC,garbage")
    path.write_text("\n".join(lines) + "\n")
    reader = read_nmea(path)
    read = list(reader)
    assert reader.skipped["checksum"] == 2 * len(broken_epochs)
    assert reader.skipped["unparseable"] == 2
    assert [f.time_utc for f in read] == [f.time_utc for i, f in enumerate(drive) if i not in broken_epochs]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("\n\n  \n", "is empty"),
        ("$GPRMC,123519.00,V,,,,,,,230394,,*1A\n", "no GNSS fix"),
        ("junk\nmore junk\n", "no GNSS fix in 2 lines"),
    ],
)
def test_nmea_without_any_fix_is_an_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.nmea"
    path.write_text(content)
    with pytest.raises(GnssError, match=message) as error:
        list(read_nmea(path))
    assert str(path) in str(error.value)


def test_no_fix_epochs_with_a_position_are_yielded_for_the_filter(tmp_path: Path, drive: list[GeoFix]) -> None:
    lost = [f.model_copy(update={"mode": FixMode.NO_FIX}) if 30 <= i < 40 else f for i, f in enumerate(drive)]
    path = tmp_path / "lost.nmea"
    write_nmea(lost, path)
    fix_filter = FixFilter()
    kept = [f for f in read_nmea(path) if fix_filter.accept(f)]
    assert fix_filter.rejected["no_fix"] == 10
    assert len(kept) == len(drive) - 10


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GnssError, match="does not exist"):
        read_nmea(tmp_path / "nope.nmea")
    with pytest.raises(GnssError, match="does not exist"):
        read_gpx(tmp_path / "nope.gpx")


def test_gga_before_any_rmc_has_no_date_and_gsa_sets_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "gga.nmea"
    path.write_text(
        _sentence("GPGGA,120000.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
        + _sentence("GPRMC,120001.00,A,4807.038,N,01131.000,E,0.0,0.0,040526,,")
        + _sentence("GPGSA,A,2,04,05,,09,12,,,24,,,,,2.5,1.3,2.1")
        + _sentence("GPGGA,120002.00,4807.038,N,01131.000,E,1,08,1.3,,M,,M,,")
    )
    reader = NmeaReader(path)
    fixes = list(reader)
    assert reader.skipped["no_date"] == 1
    assert [f.time_utc.second for f in fixes] == [1, 2]
    assert fixes[0].mode == FixMode.FIX_2D  # the GSA joined the epoch of 12:00:01
    assert fixes[1].mode == FixMode.FIX_2D and fixes[1].alt_m is None


def test_multi_constellation_receiver_output(tmp_path: Path) -> None:
    # What a u-blox M8 prints each epoch (NMEA 4.1 RMC with mode and nav status fields).
    epoch = [
        "GNRMC,{t},A,4520.12345,N,00555.54321,E,12.345,87.65,040526,,,A,V",
        "GNVTG,87.65,T,,M,12.345,N,22.863,K,A",
        "GNGGA,{t},4520.12345,N,00555.54321,E,1,12,0.78,212.3,M,49.5,M,,",
        "GNGSA,A,3,05,13,15,18,20,23,24,,,,,,1.32,0.78,1.06,1",
        "GNGSA,A,3,67,68,77,78,,,,,,,,,1.32,0.78,1.06,2",
        "GPGSV,3,1,11,05,45,290,42,13,60,055,40,15,30,120,38,18,10,320,30,1",
        "GNGLL,4520.12345,N,00555.54321,E,{t},A,A",
        "GNGST,{t},12.0,1.1,0.8,45.0,0.9,1.2,2.0",
    ]
    path = tmp_path / "ublox.nmea"
    path.write_text("".join(_sentence(line.format(t=t)) for t in ("081500.00", "081500.10") for line in epoch))
    reader = read_nmea(path)
    fixes = list(reader)
    assert [f.time_utc for f in fixes] == [datetime(2026, 5, 4, 8, 15, 0, us, tzinfo=timezone.utc) for us in (0, 100_000)]
    assert reader.skipped.total() == 0
    fix = fixes[0]
    assert (fix.lat, fix.lon) == pytest.approx((45 + 20.12345 / 60, 5 + 55.54321 / 60))
    assert (fix.mode, fix.hdop, fix.alt_m) == (FixMode.FIX_3D, 0.78, 212.3)
    assert fix.eph_m == pytest.approx(2 * math.hypot(0.9, 1.2))
    assert fix.speed_mps == pytest.approx(12.345 * 1852 / 3600)


def test_out_of_range_position_is_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "range.nmea"
    path.write_text(
        _sentence("GPRMC,120000.00,A,9107.038,N,01131.000,E,10.0,0.0,040526,,")  # 91 degrees north
        + _sentence("GPRMC,120001.00,A,4807.038,N,01131.000,E,10.0,0.0,040526,,")
    )
    reader = read_nmea(path)
    fixes = list(reader)
    assert reader.skipped["invalid_fix"] == 1
    assert [f.time_utc.second for f in fixes] == [1]


def _checksum(body: str) -> str:
    value = 0
    for char in body.encode():
        value ^= char
    return f"{value:02X}"


def _sentence(body: str) -> str:
    return f"${body}*{_checksum(body)}\r\n"


def test_gpx_round_trip(tmp_path: Path, drive: list[GeoFix]) -> None:
    path = tmp_path / "drive.gpx"
    write_gpx(drive, path)
    read = list(read_gpx(path))
    assert len(read) == len(drive)
    for original, back in zip(drive, read):
        assert back.time_utc == original.time_utc
        assert (back.lat, back.lon) == pytest.approx((original.lat, original.lon), abs=1e-9)
        assert back.speed_mps == pytest.approx(original.speed_mps)
        assert back.heading_deg == pytest.approx(original.heading_deg)


GPX_HEAD = '<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'


def test_gpx_without_times_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "untimed.gpx"
    path.write_text(GPX_HEAD + '<trkpt lat="45.1" lon="4.8"/><trkpt lat="45.2" lon="4.8"/></trkseg></trk></gpx>')
    with pytest.raises(GnssError, match=r"untimed\.gpx.*none has a <time>"):
        read_gpx(path)


def test_gpx_points_without_time_are_skipped_and_naive_times_are_utc(tmp_path: Path) -> None:
    path = tmp_path / "mixed.gpx"
    path.write_text(
        GPX_HEAD + '<trkpt lat="45.1" lon="4.8"><time>2026-05-04T10:00:00</time></trkpt>'
        '<trkpt lat="45.2" lon="4.8"/><trkpt lat="45.3" lon="4.8"><time>2026-05-04T10:00:01Z</time></trkpt>'
        "</trkseg></trk></gpx>"
    )
    reader = read_gpx(path)
    fixes = list(reader)
    assert reader.skipped["no_time"] == 1
    assert [f.time_utc for f in fixes] == [datetime(2026, 5, 4, 10, 0, s, tzinfo=timezone.utc) for s in (0, 1)]


@pytest.mark.parametrize("content", ["<gpx><trk>", GPX_HEAD + "</trkseg></trk></gpx>"])
def test_broken_or_empty_gpx_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.gpx"
    path.write_text(content)
    with pytest.raises(GnssError, match="broken.gpx"):
        read_gpx(path)


def test_read_track_tells_formats_apart_by_content(tmp_path: Path, drive: list[GeoFix]) -> None:
    write_nmea(drive, tmp_path / "a.txt")
    write_gpx(drive, tmp_path / "b.txt")
    assert type(read_track(tmp_path / "a.txt")).__name__ == "NmeaReader"
    assert type(read_track(tmp_path / "b.txt")).__name__ == "GpxReader"


def fix_at(seconds: float, north_m: float = 0.0, **update: object) -> GeoFix:
    lat = 45.0 + north_m / 111_132.0
    fix = GeoFix(lat=lat, lon=4.8, time_utc=T0 + timedelta(seconds=seconds), speed_mps=10.0)
    return fix.model_copy(update=update) if update else fix


def test_filter_rejects_and_counts_each_reason() -> None:
    fix_filter = FixFilter()
    stream = [
        fix_at(0, 0),
        fix_at(1, 10),
        GeoFix.model_construct(**{**fix_at(2, 20).model_dump(), "lat": math.nan}),
        fix_at(2, 20, mode=FixMode.NO_FIX),
        fix_at(0.5, 5),  # time going backwards
        fix_at(1, 10),  # same time again
        fix_at(2, 1000),  # 990 m in 1 s
        fix_at(2, 20),  # the good fix after the outlier is kept
        fix_at(3, 30),
    ]
    accepted = [fix_filter.accept(f) for f in stream]
    assert accepted == [True, True, False, False, False, False, False, True, True]
    assert fix_filter.rejected == {"not_finite": 1, "no_fix": 1, "time_backwards": 1, "duplicate_time": 1, "jump": 1}
    assert fix_filter.accepted == 4


def test_filter_reanchors_after_a_bad_first_fix() -> None:
    fix_filter = FixFilter()
    assert fix_filter.accept(fix_at(0, 5000))  # a cold-start fix 5 km off
    results = [fix_filter.accept(fix_at(s, 10 * s)) for s in range(1, 10)]
    assert results == [False] * 4 + [True] * 5
    assert fix_filter.reanchored == 1 and fix_filter.rejected["jump"] == 4


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan, math.inf])
def test_filter_refuses_a_bad_speed_limit(speed: float) -> None:
    with pytest.raises(ValueError, match="max_speed_mps"):
        FixFilter(max_speed_mps=speed)
