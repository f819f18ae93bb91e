"""The anonymizer's share of the survey loop (edge stage) on the sample drive, in one run.

Runs ``voirie.edge.survey.survey_video`` with the default anonymizer (timed around each
call) and the default damage model, and reports wall and CPU time of the anonymizer per
photo and of the rest of the loop (decoding every camera frame, quality gate, damage model,
writing). CPU time is what a dedicated 2-core device would spend whatever else runs on
this machine: (anonymizer + rest) / 2 bounds the photos per second from above.

    nice -n 10 .venv/bin/python bench/anonymize_survey_share.py [--model damage-yolo11n]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.records import AnonymizedFrame, Frame

logger = logging.getLogger(__name__)
SURVEY_BUDGET_MS = 80.0  # 12.5 photos a second on 2 cores


class TimedAnonymizer:
    """The anonymizer, with the wall and CPU seconds of every call added up."""

    def __init__(self, inner: Anonymizer) -> None:
        self.inner, self.name = inner, inner.name
        self.seconds = self.cpu_seconds = 0.0
        self.calls = 0

    def __call__(self, frame: Frame) -> AnonymizedFrame:
        """Anonymize ``frame`` (failures propagate: the survey drops the frame)."""
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return self.inner(frame)
        finally:
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.process_time() - cpu
            self.calls += 1


def main() -> None:
    """Survey the sample drive once and print the anonymizer's share; last line JSON."""
    from voirie.lab.sample.drive import make_sample_drive
    from voirie.edge.survey import survey_video
    from voirie.models import load_detector

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="damage model in the loop (e.g. damage-yolo11n)")
    parser.add_argument("--plate-model", default=None, help="plate model of the anonymizer (default: its default)")
    args = parser.parse_args()
    drive = make_sample_drive()
    options = AnonymizerOptions(plate_model=args.plate_model) if args.plate_model else AnonymizerOptions()
    anonymizer = TimedAnonymizer(Anonymizer.default(options))
    detector = load_detector(args.model, variant="int8", threads=0, workers=1)
    cpu = time.process_time()
    with tempfile.TemporaryDirectory(prefix="voirie-share-") as out:
        stats = survey_video(drive.video, drive.nmea, out, anonymizer, detector, progress=False).stats
    cpu = time.process_time() - cpu
    photos = max(anonymizer.calls, 1)
    anon_cpu_ms, rest_cpu_ms = 1000 * anonymizer.cpu_seconds / photos, 1000 * (cpu - anonymizer.cpu_seconds) / photos
    figures = {
        "frames_read": stats.frames_read, "photos": anonymizer.calls, "loop_s": round(stats.elapsed_s, 2),
        "anonymizer_wall_share": round(anonymizer.seconds / stats.elapsed_s, 3),
        "anonymizer_cpu_share": round(anonymizer.cpu_seconds / cpu, 3),
        "anonymizer_ms_per_photo": round(1000 * anonymizer.seconds / photos, 1),
        "anonymizer_cpu_ms_per_photo": round(anon_cpu_ms, 1), "rest_cpu_ms_per_photo": round(rest_cpu_ms, 1),
        "two_core_photos_per_s_at_best": round(2000 / (anon_cpu_ms + rest_cpu_ms), 2),
        "anonymizer_budget_share_two_cores": round(anon_cpu_ms / 2 / SURVEY_BUDGET_MS, 3),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    print(f"{figures['photos']} photos of {figures['frames_read']} frames; anonymizer {figures['anonymizer_wall_share']:.0%} "
          f"of the loop's wall time, {figures['anonymizer_cpu_ms_per_photo']} ms CPU a photo (rest of the loop "
          f"{figures['rest_cpu_ms_per_photo']} ms): at best {figures['two_core_photos_per_s_at_best']} photos/s on 2 cores")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
