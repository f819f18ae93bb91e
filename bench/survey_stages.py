"""CPU milliseconds per photo of each survey stage on the sample drive, one thread each.

    nice -n 10 .venv/bin/python bench/survey_stages.py [--model default] [--repeats 3]

Every stage runs alone (ONNX Runtime one thread, the anonymizer's windows one after the
other), timed with the process's CPU clock, so a busy machine changes the numbers less than
wall time: decode (every camera frame of the file, shared out over the photos),
quality gate, face detector, plate detector (each on the passes the survey uses for the
horizon it estimated), masking, damage model, record and JPEG write. Their sum / 2 is the
wall time a photo needs on 2 idle cores when the survey keeps both busy (docs/survey.md).
Each stage's median over ``--repeats`` passes; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.capture.quality import QualityGate
from voirie.edge.survey.detector import load_damage_detector
from voirie.edge.survey.feeds import ReplayFeed
from voirie.edge.survey.pipeline import SurveyConfig, frame_position
from voirie.edge.survey.writer import SurveyWriter
from voirie.lab.sample.drive import make_sample_drive
from voirie.records import AnonymizedFrame, FrameRecord


def cpu_ms(work: Callable[[], object]) -> float:
    """CPU ms of the whole process (the video decoder has threads of its own; nothing else runs)."""
    started = time.process_time()
    work()
    return 1000 * (time.process_time() - started)


def photos_of(drive, config: SurveyConfig) -> tuple[list, float]:
    """The sample drive's (mark, frame) pairs, and the CPU ms spent reading the whole file."""
    pairs, started = [], time.process_time()
    with ReplayFeed(drive.video, drive.nmea, config) as feed:
        for frame in feed.frames():
            if frame is not None:
                feed.matcher.add_marks(feed.take_marks())
                pairs.extend(feed.matcher.offer(frame.time_utc, frame))
        pairs.extend(feed.matcher.flush())
    return pairs, 1000 * (time.process_time() - started)


def stage_times(pairs: list, anonymizer: Anonymizer, detector, out: str) -> dict[str, float]:
    """CPU ms of each stage summed over the photos."""
    gate, totals = QualityGate(SurveyConfig().quality), dict.fromkeys(
        ("quality gate", "face detector", "plate detector", "masking", "damage model", "record and JPEG write"), 0.0)
    anonymizer.horizon.reset()
    with SurveyWriter(out) as writer:
        for mark, frame in pairs:
            fix, _ = frame_position(mark, frame.time_utc)
            totals["quality gate"] += cpu_ms(lambda: gate.check(frame.pixels, fix))
            pixels = frame.pixels.copy()
            view = anonymizer.horizon.observe(pixels)
            face, plate = anonymizer._aimed_detectors(view)  # the passes the survey runs for this frame
            found = []
            totals["face detector"] += cpu_ms(lambda: found.append(face.detect(pixels, 5.0)))
            totals["plate detector"] += cpu_ms(lambda: found.append(plate.detect(pixels, 5.0)))
            totals["masking"] += cpu_ms(lambda: [anonymizer.masker.mask(pixels, one) for one in found])
            totals["damage model"] += cpu_ms(lambda: detector.detect(pixels))
            anonymized = AnonymizedFrame(frame=frame, faces_masked=0, plates_masked=0, anonymizer=anonymizer.name)
            record = FrameRecord(record_id=f"r{frame.sequence}", device_id="bench", survey_id="bench", camera_id="cam0",
                                 sequence=frame.sequence, time_utc=frame.time_utc, fix=fix, distance_m=mark.distance_m,
                                 image_width=frame.width, image_height=frame.height, anonymizer=anonymizer.name)
            totals["record and JPEG write"] += cpu_ms(lambda: writer.write(anonymized, record))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    drive = make_sample_drive()
    anonymizer = Anonymizer.default(AnonymizerOptions(workers=1))
    detector = load_damage_detector(args.model)
    runs: list[dict[str, float]] = []
    for _ in range(args.repeats):
        pairs, decode_ms = photos_of(drive, SurveyConfig())  # as the survey decodes: on its own thread
        with tempfile.TemporaryDirectory(prefix="voirie-bench-") as out:
            runs.append({"decode (every frame)": decode_ms, **stage_times(pairs, anonymizer, detector, out)})
    photos = len(pairs)
    per_photo = {stage: round(statistics.median(run[stage] for run in runs) / photos, 1) for stage in runs[0]}
    total = sum(per_photo.values())
    for stage, ms in per_photo.items():
        print(f"{stage:<24} {ms:6.1f} CPU ms/photo  {100 * ms / total:4.1f} %")
    print(f"{'total':<24} {total:6.1f} CPU ms/photo -> at most {2000 / total:.1f} photos/s on 2 idle cores "
          f"({photos} photos, {datetime.now():%H:%M}, load average {os.getloadavg()[0]:.1f})")
    print(json.dumps({"cpu_ms_per_photo": per_photo, "total_cpu_ms": round(total, 1), "photos": photos,
                      "cap_photos_per_s": round(2000 / total, 2), "load_average": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
