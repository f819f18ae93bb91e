"""Labelled road damage masked by the anonymizer on the sample drive (real photos), vs face/plate protection.

    nice -n 10 .venv/bin/python bench/anonymize_road.py [--stride 2] [--plate-model fp32] [--horizons]

Baseline (same run): the plate detector without its plausibility filter (the behaviour
before it existed). ``--horizons`` adds the horizon modes (the default estimates it; the
drive's calibrated row; no horizon at all, i.e. the unknown-horizon passes on every frame)
and the plate network's second look. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace

from voirie.anonymize.anonymizer import Anonymizer, AnonymizerOptions
from voirie.anonymize.roadmask import measure_drive, summarize
from voirie.lab.sample.drive import make_sample_drive

logger = logging.getLogger(__name__)


def main() -> None:
    """Measure both configurations and print one line each, then the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stride", type=int, default=2, help="Use every n-th frame.")
    parser.add_argument("--plate-model", action="append", default=[],
                        help="Also measure the defaults with this plate model (platenet, fp32, int8); repeatable.")
    parser.add_argument("--horizons", action="store_true", help="Also measure each horizon mode and the second look.")
    args = parser.parse_args()
    drive = make_sample_drive()
    off = {"plate_max_height": 1.0, "plate_min_aspect": 0.0, "plate_min_contrast": 0.0}
    unfiltered = replace(AnonymizerOptions(timeout_s=60), **off)
    configurations = [("unfiltered", unfiltered), ("default", AnonymizerOptions(timeout_s=60))]
    configurations += [(f"plate model {m}", AnonymizerOptions(timeout_s=60, plate_model=m)) for m in args.plate_model]
    if args.horizons:
        configurations += horizon_configurations()
    out = {}
    for name, options in configurations:
        out[name] = summarize(measure_drive(Anonymizer.default(options), drive.video, drive.truth, args.stride))
        print(name, out[name], flush=True)
    print(json.dumps(out))


def horizon_configurations() -> list[tuple[str, AnonymizerOptions]]:
    """The drive's calibrated horizon, no horizon at all, and the second look (issue 20)."""
    from voirie.edge.survey.calibration import SurveyCalibration
    from voirie.lab.demo.survey import sample_calibration

    calibrated = SurveyCalibration.from_calibration(sample_calibration()).horizon
    return [("calibrated", AnonymizerOptions(timeout_s=60, horizon=calibrated)),
            ("whole frame", AnonymizerOptions(timeout_s=60, horizon="whole_frame")),
            ("second look 2x", AnonymizerOptions(timeout_s=60, plate_second_look=2.0))]


if __name__ == "__main__":
    main()
