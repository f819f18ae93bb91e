"""Live survey: a GNSS source that cannot be reached is a clear error, and nothing is written."""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.anonymize import Anonymizer, AnonymizerOptions, make_masker
from voirie.anonymize.centerface import CenterFace
from voirie.anonymize.detectors import FaceDetector
from voirie.capture.gnss import GnssError
from voirie.edge.survey_live import survey_live


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nothing listens there


def test_unreachable_gpsd_stops_the_live_survey_with_its_address(tmp_path: Path) -> None:
    video = tmp_path / "cam.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 192))
    for i in range(100):
        writer.write(np.full((192, 320, 3), i, np.uint8))
    writer.release()
    anonymizer = Anonymizer([FaceDetector(CenterFace(threads=1))], make_masker("blur", 0.2), AnonymizerOptions())
    port = _free_port()
    with pytest.raises(GnssError, match=str(port)):
        survey_live(str(video), tmp_path / "out", anonymizer, gpsd_port=port, duration_s=20)
    assert not list((tmp_path / "out" / "images").iterdir())
