"""The sample drive is generated, deterministic, and shows what the demo promises."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import pytest

from voirie.capture.gnss import read_gpx, read_nmea
from voirie.capture.sample_drive import FPS, HEIGHT, WIDTH, make_sample_drive, stop_interval_s


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def drives(tmp_path_factory) -> tuple:
    first = make_sample_drive(tmp_path_factory.getbasetemp() / "sample_drive_shared")
    second = make_sample_drive(tmp_path_factory.mktemp("b"))
    return first, second


def test_same_bytes_twice(drives) -> None:
    first, second = drives
    for name in ("video", "nmea", "gpx", "truth"):
        assert _digest(getattr(first, name)) == _digest(getattr(second, name)), name


def test_video_is_720p_25fps_a_few_hundred_frames(drives) -> None:
    capture = cv2.VideoCapture(str(drives[0].video))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (WIDTH, HEIGHT)
    frames = 0
    while capture.grab():
        frames += 1
    assert frames == drives[0].frames and 300 <= frames <= 900


def test_track_matches_video_clock_and_stops(drives) -> None:
    drive = drives[0]
    fixes = list(read_nmea(drive.nmea))
    assert len(list(read_gpx(drive.gpx))) == len(fixes)
    assert fixes[0].time_utc == drive.start_utc
    duration = (fixes[-1].time_utc - fixes[0].time_utc).total_seconds()
    assert duration == pytest.approx(drive.frames / drive.fps, abs=0.11)
    rate = (len(fixes) - 1) / duration
    assert 5 <= rate <= 10.5
    stop_from, stop_to = stop_interval_s()
    during = [f for f in fixes if stop_from + 0.3 < (f.time_utc - drive.start_utc).total_seconds() < stop_to - 0.3]
    assert during and all(f.speed_mps < 0.5 for f in during)
    assert 45 < fixes[0].lat < 48 and -1 < fixes[0].lon < 1  # Saumur, France


def test_truth_lists_damage_face_plate_and_stop(drives) -> None:
    truth = json.loads(drives[0].truth.read_text())
    kinds = {d["kind"] for d in truth["damage"]}
    assert {"longitudinal_crack", "transverse_crack", "alligator_crack", "pothole", "patch"} <= kinds
    faces = [f["face_xyxy"] for f in truth["per_frame"] if "face_xyxy" in f]
    plates = [f["plate_xyxy"] for f in truth["per_frame"] if "plate_xyxy" in f]
    assert max(b[3] - b[1] for b in faces) >= 40 and max(b[2] - b[0] for b in plates) >= 60
    s = [f["s_m"] for f in truth["per_frame"]]
    assert all(b >= a for a, b in zip(s, s[1:]))  # the camera never goes back
    stopped = [f for f in truth["per_frame"] if abs(f["s_m"] - truth["stop"]["s_m"]) < 1e-6]
    assert len(stopped) >= 2 * FPS  # a few seconds standing at the junction


def test_cached_drive_is_reused(drives) -> None:
    drive = drives[0]
    before = drive.video.stat().st_mtime_ns
    again = make_sample_drive(drive.video.parent)
    assert again.video.stat().st_mtime_ns == before
