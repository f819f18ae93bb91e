"""End to end: the survey on the sample drive (a real face, a plate) writes only masked JPEGs.

Every written photo is compared with the raw video frame it came from: wherever the
drive's truth has a face or a plate of at least 16 px a side, the middle of the box (the
face inside the head sprite, the characters on the plate) must have lost its detail in the
written pixels. Smaller ones are not checked: the drive's far pedestrian (a 7-15 px head
sprite, the face itself about 60 % of it) is below what CenterFace finds (measured: a
12 px sprite is left as is) and below what identifies a person; docs/anonymize.md gives
recall by size.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from voirie.anonymize import Anonymizer
from voirie.lab.sample.drive import make_sample_drive
from voirie.edge.survey import SurveyConfig, survey_video
from voirie.edge.survey.writer import read_records

MIN_SIDE_PX = 16


def _edge_energy(patch: np.ndarray) -> float:
    gray = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).astype(np.int16)
    return float(np.abs(np.diff(gray, axis=1)).mean() + np.abs(np.diff(gray, axis=0)).mean())


def _raw_frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    capture, frames, index = cv2.VideoCapture(str(video)), {}, 0
    while wanted - frames.keys():
        ok, image = capture.read()
        if not ok:
            break
        if index in wanted:
            frames[index] = image
        index += 1
    capture.release()
    return frames


def _middle(box: list[int]) -> tuple[int, int, int, int]:
    """The box shrunk by 20 % of its size on each side."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) // 5, (y2 - y1) // 5
    return x1 + dx, y1 + dy, x2 - dx, y2 - dy


def test_every_written_jpeg_is_masked(anonymizer: Anonymizer, tmp_path: Path) -> None:
    drive = make_sample_drive(tmp_path / "drive")
    result = survey_video(drive.video, drive.nmea, tmp_path / "survey", anonymizer,
                          config=SurveyConfig(spacing_m=12.0), video_start_utc=drive.start_utc, progress=False)
    truth = json.loads(drive.truth.read_text(encoding="utf-8"))["per_frame"]
    records = read_records(result.survey_dir)
    assert records and result.stats.anonymization_dropped == 0
    raw = _raw_frames(drive.video, {r.sequence for r in records})
    checked = {"face_xyxy": 0, "plate_xyxy": 0}
    for record in records:
        written = cv2.imread(str(result.survey_dir / record.image_file))
        assert written is not None, record.image_file
        for key in checked:
            box = truth[record.sequence].get(key)
            if box is None or min(box[2] - box[0], box[3] - box[1]) < MIN_SIDE_PX:
                continue
            x1, y1, x2, y2 = _middle(box)
            before, after = _edge_energy(raw[record.sequence][y1:y2, x1:x2]), _edge_energy(written[y1:y2, x1:x2])
            assert after < before / 2, f"{record.image_file}: {key} {box} not masked ({before:.1f} -> {after:.1f})"
            checked[key] += 1
    assert checked["face_xyxy"] >= 1 and checked["plate_xyxy"] >= 1, checked
