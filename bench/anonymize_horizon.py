"""What the horizon costs: CPU time of the anonymizer a 1280x720 photo per horizon mode (issue 20).

On the sample drive's frames (one every ``--stride``), in drive order, one anonymizer per mode:
- ``calibrated``: the drive camera's calibrated horizon (bands placed by it);
- ``estimate`` (the default): whole frame for the first photos, then the estimated horizon;
- ``whole_frame``: every pass over the whole frame (what an uncertain estimate costs).
For each: median and mean CPU ms a photo and the photos per horizon source; then the CPU ms
of one horizon estimate (lines + vanishing point; made on one photo in ``EstimatorConfig.every``
once the estimate holds). The road surface masked is ``bench/anonymize_road.py``'s.

    nice -n 10 .venv/bin/python bench/anonymize_horizon.py [--stride 12]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter

import cv2
import numpy as np

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.anonymize.horizon import frame_horizon_row

SURVEY_BUDGET_MS = 80.0


def drive_frames(stride: int) -> list[np.ndarray]:
    """Every ``stride``-th frame of the sample drive."""
    from voirie.lab.sample.drive import make_sample_drive

    capture, frames, index = cv2.VideoCapture(str(make_sample_drive().video)), [], 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if index % stride == 0:
            frames.append(image)
        index += 1
    capture.release()
    return frames


def measure(anonymizer: Anonymizer, frames: list[np.ndarray]) -> dict:
    """CPU ms a photo (median, mean) and photos per horizon source."""
    cpu_ms, sources = [], Counter()
    for image in frames:
        started = time.process_time()
        _, view = anonymizer.detect_with_horizon(image.copy())
        cpu_ms.append(1000 * (time.process_time() - started))
        sources[view.source] += 1
    return {"cpu_ms_median": round(float(np.median(cpu_ms)), 1), "cpu_ms_mean": round(float(np.mean(cpu_ms)), 1),
            "budget_share_two_cores": round(float(np.median(cpu_ms)) / 2 / SURVEY_BUDGET_MS, 3),
            "photos_by_horizon": dict(sources)}


def estimate_cost(frames: list[np.ndarray]) -> float:
    """Median CPU ms of one horizon estimate on a photo."""
    costs = []
    for image in frames:
        started = time.process_time()
        frame_horizon_row(image)
        costs.append(1000 * (time.process_time() - started))
    return round(float(np.median(costs)), 1)


def main() -> None:
    """Measure every mode on the same frames; last line JSON."""
    from voirie.edge.survey.calibration import SurveyCalibration
    from voirie.lab.demo.survey import sample_calibration

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stride", type=int, default=12, help="one drive frame in this many")
    args = parser.parse_args()
    frames = drive_frames(args.stride)
    calibrated = SurveyCalibration.from_calibration(sample_calibration()).horizon
    modes = {"calibrated": calibrated, "estimate": "estimate", "whole_frame": "whole_frame"}
    out = {"photos": len(frames), "calibrated_row": round(calibrated, 3)}
    for name, horizon in modes.items():
        anonymizer = Anonymizer.default(AnonymizerOptions(timeout_s=60, horizon=horizon))
        out[name] = measure(anonymizer, frames)
        if name == "estimate":
            out[name]["estimated_row"] = anonymizer.horizon.view.row
        anonymizer.close()
        print(name, out[name], flush=True)
    out["horizon_estimate_cpu_ms"] = estimate_cost(frames)
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
