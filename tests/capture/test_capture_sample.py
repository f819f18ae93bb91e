"""The sample drive is generated, deterministic, and shows what the demo promises: real road
photos in driving order, a pasted face and plate, a GNSS track on the same clock."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.capture.gnss import read_gpx, read_nmea
from voirie.lab.sample.drive import FPS, HEIGHT, WIDTH, make_sample_drive, stop_interval_s
from voirie.lab.sample.photos import FIRST_ROAD, PHOTO_DIR, SECOND_ROAD, photo_frame


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


def test_truth_lists_photos_damage_face_plate_and_stop(drives) -> None:
    truth = json.loads(drives[0].truth.read_text())
    assert [p["sample_id"] for p in truth["photos"]] == [*FIRST_ROAD, *SECOND_ROAD]
    shown = [f["photo"] for f in truth["per_frame"]]
    assert shown == sorted(shown) and set(shown) == set(range(len(truth["photos"])))  # each photo, in order
    steps = [p["to_s_m"] - p["from_s_m"] for p in truth["photos"]]
    assert 3.5 <= min(steps) and max(steps) <= 4.5  # about one photo per 4 m of road
    classes = [d["class"] for p in truth["photos"] for d in p["damage"]]
    assert set(classes) <= set(truth["label_names"]) and {"crack", "pothole"} <= set(classes)
    faces = [f["face_xyxy"] for f in truth["per_frame"] if "face_xyxy" in f]
    plates = [f["plate_xyxy"] for f in truth["per_frame"] if "plate_xyxy" in f]
    assert max(b[3] - b[1] for b in faces) >= 40 and max(b[2] - b[0] for b in plates) >= 60
    s = [f["s_m"] for f in truth["per_frame"]]
    assert all(b >= a for a, b in zip(s, s[1:]))  # the camera never goes back
    stopped = [f for f in truth["per_frame"] if abs(f["s_m"] - truth["stop"]["s_m"]) < 1e-6]
    assert len(stopped) >= 2 * FPS  # a few seconds standing at the junction...
    standing = truth["per_frame"][int(truth["stop"]["from_s"] * FPS) + 1:int(truth["stop"]["to_s"] * FPS)]
    assert len({f["photo"] for f in standing}) == 1  # ...looking at the same photo


def _clean_rows(frame_truth: dict) -> slice:
    """Rows of the frame below the pasted sprites (the car and person stand above them)."""
    bottom = max((frame_truth[k][3] for k in ("face_xyxy", "plate_xyxy") if k in frame_truth), default=0)
    return slice(min(bottom + 150, HEIGHT - 100), HEIGHT)


def test_each_frame_shows_its_real_photo(drives) -> None:
    truth = json.loads(drives[0].truth.read_text())
    capture = cv2.VideoCapture(str(drives[0].video))
    checked = 0
    for index, frame_truth in enumerate(truth["per_frame"]):
        ok, image = capture.read()
        assert ok
        if index % 60:
            continue
        rows = _clean_rows(frame_truth)
        photos = truth["photos"]
        own, labels = photo_frame(photos[frame_truth["photo"]]["sample_id"], (WIDTH, HEIGHT))
        other, _ = photo_frame(photos[(frame_truth["photo"] + 7) % len(photos)]["sample_id"], (WIDTH, HEIGHT))
        error = np.abs(image[rows].astype(int) - own[rows]).mean()
        assert error < 6 and error < np.abs(image[rows].astype(int) - other[rows]).mean() / 3
        assert labels == photos[frame_truth["photo"]]["damage"]
        checked += 1
    assert checked == len(truth["per_frame"]) // 60


def test_notice_sits_beside_the_shipped_photos_and_names_each() -> None:
    notice = (PHOTO_DIR / "NOTICE").read_text(encoding="utf-8")
    shipped = sorted(p.name for p in PHOTO_DIR.iterdir() if p.name != "NOTICE")
    photos = [name for name in shipped if name.endswith(".jpg")]
    assert len(photos) <= 60 and sorted(f"{i}.jpg" for i in (*FIRST_ROAD, *SECOND_ROAD)) == photos
    assert shipped == sorted([*photos, *(name[:-4] + ".txt" for name in photos)])  # nothing else ships
    rows = [line for line in notice.splitlines() if line.split()[:1] and line.split()[0].endswith(".jpg")]
    listed = {line.split()[0]: line for line in rows}
    assert sorted(listed) == photos
    for name, line in listed.items():
        assert f"Dataset/{name[:-4]}/{name[:-4]}_RAW.jpg" in line  # the original sample id
    for needed in ("Copyright (c) 2020 Bianka Passos", "MIT License", "Permission is hereby granted",
                   "doi:10.17632/t576ydh9v8.4", "Passos, B. T."):
        assert needed in notice, needed


def test_cached_drive_is_reused(drives) -> None:
    drive = drives[0]
    before = drive.video.stat().st_mtime_ns
    again = make_sample_drive(drive.video.parent)
    assert again.video.stat().st_mtime_ns == before
