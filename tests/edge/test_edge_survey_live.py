"""Live survey: a GNSS source that cannot be reached is a clear error, and nothing is written; a stop
between two marks loses no photo (real gpsd fed by gpsfake, an MJPEG camera on 127.0.0.1)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.anonymize import Anonymizer, AnonymizerOptions, make_masker
from voirie.anonymize.centerface import CenterFace
from voirie.anonymize.detectors import FaceDetector
from voirie.capture.gnss import GnssError
from voirie.edge.survey.engine import SurveyHooks, run_survey, survey_live
from voirie.edge.survey.feeds import LiveFeed, MarkMaker
from voirie.edge.survey.pipeline import SurveyConfig, SurveyPipeline
from voirie.edge.survey.writer import SurveyWriter, read_records


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


# gpsd-py3 0.3 calls the deprecated logger.warn when gpsd has no device yet.
@pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")
def test_a_stop_just_before_a_mark_still_photographs_it(tmp_path: Path, camera_url: str, gpsd_port: int) -> None:
    """Stopped while the car is less than one fix from the next mark: gpsd reports that mark
    only with the next fix, after the stop; the engine waits for it and photographs it."""
    config = SurveyConfig(spacing_m=8.0)
    replica, aimed, stop = MarkMaker(config), [], threading.Event()

    def on_fix(fix) -> None:  # runs on the GNSS thread, before the feed's own trigger sees the fix
        replica.update(fix)
        trigger = replica.trigger
        next_mark_m = (trigger.marks + 1) * config.spacing_m
        if not stop.is_set() and trigger.marks >= 3 and trigger.distance_m + 1.2 * 1.5 >= next_mark_m:
            aimed.append(trigger.marks + 1)  # 12 m/s, 1.2 m per fix: the next fix completes it
            stop.set()

    anonymizer = Anonymizer([FaceDetector(CenterFace(threads=1))], make_masker("blur", 0.2), AnonymizerOptions())
    with LiveFeed(camera_url, "127.0.0.1", gpsd_port, config, on_fix=on_fix) as feed, \
            SurveyWriter(tmp_path / "out") as writer:
        pipeline = SurveyPipeline(writer, anonymizer, None, config, "stop-test")
        deadline = time.monotonic() + 40
        stats = run_survey(feed, pipeline, SurveyHooks(should_stop=lambda: stop.is_set() or time.monotonic() > deadline))
    assert aimed, f"no mark came near in 40 s: {stats.as_dict()}"
    records = read_records(tmp_path / "out")
    assert stats.marks >= aimed[0] and stats.written == len(records) == stats.marks - stats.marks_unmatched
    assert max(r.distance_m for r in records) >= aimed[0] * config.spacing_m - 1.5, [r.distance_m for r in records]
    assert len(list((tmp_path / "out" / "images").glob("*.jpg"))) == len(records)
