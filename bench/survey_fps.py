"""Frames per second of the survey loop on the sample drive (whole loop, this machine).

    nice -n 10 .venv/bin/python bench/survey_fps.py [--model default|none]

Baseline, measured in the same run: the naive loop that decodes every frame (``read()``)
before knowing whether it will be used. Prints the survey's frames/s (camera frames of
the video per wall second, models included), the CPU time, the decode baseline, and the
ratio; the last line is one JSON object. Target: >= 12.5 f/s (half real time at 25 f/s).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2

from voirie.anonymize import Anonymizer
from voirie.lab.sample.drive import make_sample_drive
from voirie.edge.survey import survey_video
from voirie.edge.survey.detector import load_damage_detector


def decode_all_fps(video: Path) -> float:
    """The baseline: decode (read) every frame of the video."""
    capture = cv2.VideoCapture(str(video))
    started, frames = time.perf_counter(), 0
    while capture.read()[0]:
        frames += 1
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    drive = make_sample_drive()
    baseline = decode_all_fps(drive.video)
    out = Path(tempfile.mkdtemp(prefix="voirie-bench-survey-"))
    try:
        cpu0, wall0 = os.times(), time.perf_counter()
        anonymizer = Anonymizer.default()
        detector = load_damage_detector(args.model)
        loaded = time.perf_counter() - wall0
        result = survey_video(drive.video, drive.nmea, out, anonymizer, detector, progress=False)
        cpu1, wall = os.times(), time.perf_counter() - wall0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    s = result.stats
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    report = {
        "frames": s.frames_read, "photos": s.written, "decoded": s.frames_decoded,
        "survey_fps": round(s.frames_per_s, 2), "survey_s": round(s.elapsed_s, 2),
        "with_model_loading_fps": round(s.frames_read / wall, 2), "model_loading_s": round(loaded, 2),
        "cpu_s": round(cpu, 2), "cpu_bound_fps": round(s.frames_read / cpu, 2) if cpu else None,
        "baseline_decode_all_fps": round(baseline, 2), "anonymization_dropped": s.anonymization_dropped,
        "detector": None if detector is None else detector.model_id, "target_fps": 12.5,
        "load_average": os.getloadavg()[0],
    }
    print(f"survey loop: {report['survey_fps']} f/s over {s.frames_read} frames "
          f"({s.written} photos, {s.frames_decoded} decoded); CPU time {report['cpu_s']} s "
          f"-> {report['cpu_bound_fps']} f/s if the 2 cores were ours")
    print(f"baseline (decode every frame, no models): {baseline:.1f} f/s; "
          f"survey / baseline = {s.frames_per_s / baseline:.2f}; load average {report['load_average']:.1f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
