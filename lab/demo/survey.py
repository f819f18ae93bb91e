"""The demo's survey step: build the sample drive (real road photos) and survey it like a real one."""

from __future__ import annotations

import logging
import shutil

from voirie.calibration import CameraCalibration
from voirie.lab.sample.drive import HEIGHT, WIDTH, make_sample_drive
from voirie.lab.sample.photos import FIRST_ROAD, PHOTO_CAMERA, SECOND_ROAD
from voirie.edge.survey.calibration import SurveyCalibration, anonymizer_options, vehicle_calibration
from voirie.edge.survey.detector import load_damage_detector
from voirie.edge.survey.engine import survey_video
from voirie.edge.survey.pipeline import SurveyConfig
from voirie.edge.survey.report import print_summary, warn_on

logger = logging.getLogger(__name__)

DEMO_DEVICE_ID = "demo-car-01"
DEMO_ANONYMIZE_TIMEOUT_S = 60.0


def sample_calibration() -> CameraCalibration:
    """The sample photos' camera as estimated from their lane lines (no lens distortion)."""
    return vehicle_calibration(DEMO_DEVICE_ID, "cam0", (WIDTH, HEIGHT), PHOTO_CAMERA.focal_px,
                               PHOTO_CAMERA.height_m, PHOTO_CAMERA.pitch_deg)


def survey_step(ctx):
    """Sample drive -> anonymized, geotagged photos every 4 m and their records.

    The damage model is the one a real survey uses (``default``): the drive is made of
    real road photos, so what the map shows is what that model finds on real asphalt.

    Sets ``ctx.state`` ``survey_dir`` (records.jsonl + images/), ``device_id``, ``survey_id``
    for the later steps (map, plan).
    """
    from voirie.anonymize import Anonymizer

    drive = make_sample_drive(ctx.workdir / "sample_drive")
    survey_dir = ctx.workdir / "survey"
    if survey_dir.exists():  # a re-run starts clean: records.jsonl is appended to
        shutil.rmtree(survey_dir)
    detector = load_damage_detector("default", warn_on(ctx.console))
    if detector is not None:
        ctx.console.print(f"damage model: {detector.model_id} {detector.model_version} (the default; classes "
                          f"{', '.join(detector.class_names)}) on {len(FIRST_ROAD) + len(SECOND_ROAD)} real road "
                          "photos (Passos et al. 2020, MIT)")
    calibration_file = sample_calibration().save(ctx.workdir / "sample_drive" / "calibration.json")
    calibration = SurveyCalibration.load(calibration_file)
    config = SurveyConfig(device_id=DEMO_DEVICE_ID, survey_id="sample-drive", calibration=calibration)
    # A generous per-frame limit: the demo may run on a busy or slow machine, where the
    # survey's 5 s limit would drop (fail closed) photos the later steps want to show.
    anonymizer = Anonymizer.default(anonymizer_options(calibration, DEMO_ANONYMIZE_TIMEOUT_S))
    result = survey_video(drive.video, drive.nmea, survey_dir, anonymizer, detector, config,
                          video_start_utc=drive.start_utc, progress=True)
    print_summary(result, ctx.console)
    ctx.outputs["sample drive video"] = str(drive.video)
    ctx.outputs["sample drive track (NMEA)"] = str(drive.nmea)
    ctx.outputs["sample drive ground truth (photos and their damage labels, face, plate, stop)"] = str(drive.truth)
    ctx.outputs["survey photos (anonymized, EXIF-geotagged)"] = str(survey_dir / "images")
    ctx.outputs["survey records"] = str(survey_dir / "records.jsonl")
    ctx.outputs["camera calibration (sizes in metres)"] = str(calibration_file)
    ctx.state.update(survey_dir=survey_dir, device_id=result.device_id, survey_id=result.survey_id,
                     survey_stats=result.stats.as_dict(), sample_drive=drive)
    return ctx
