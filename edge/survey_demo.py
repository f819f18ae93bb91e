"""The demo's survey step: generate the sample drive and survey it like a real one."""

from __future__ import annotations

import logging
import shutil

from voirie.calibration import CameraCalibration
from voirie.capture import sample_drive as drive_spec
from voirie.capture.sample_drive import make_sample_drive
from voirie.edge.survey_calibration import SurveyCalibration, anonymizer_options, vehicle_calibration
from voirie.edge.survey import SurveyConfig, survey_video
from voirie.edge.survey_cli import load_damage_detector, print_summary

logger = logging.getLogger(__name__)

DEMO_DEVICE_ID = "demo-car-01"
DEMO_ANONYMIZE_TIMEOUT_S = 60.0
# The sample drive's damage is drawn by a renderer, not photographed. The default model
# (segmentation, trained on real road photos) sees little of it; damage-yolo11n was
# fine-tuned on the renderer's scenes, so the demo's map and plan have damage to show.
# Real surveys use the default (`voirie survey --model default`).
DEMO_DAMAGE_MODEL = "damage-yolo11n"


def sample_calibration() -> CameraCalibration:
    """The sample drive's camera, from the numbers it was rendered with (no lens distortion)."""
    return vehicle_calibration(DEMO_DEVICE_ID, "cam0", (drive_spec.WIDTH, drive_spec.HEIGHT), drive_spec.FOCAL_PX,
                               drive_spec.CAM_HEIGHT_M, drive_spec.CAM_PITCH_DEG)


def survey_step(ctx):
    """Sample drive -> anonymized, geotagged photos every 4 m and their records.

    Sets ``ctx.state`` ``survey_dir`` (records.jsonl + images/), ``device_id``, ``survey_id``
    for the later steps (map, plan).
    """
    from voirie.anonymize import Anonymizer

    drive = make_sample_drive(ctx.workdir / "sample_drive")
    survey_dir = ctx.workdir / "survey"
    if survey_dir.exists():  # a re-run starts clean: records.jsonl is appended to
        shutil.rmtree(survey_dir)
    detector = load_damage_detector(DEMO_DAMAGE_MODEL, ctx.console)
    ctx.console.print(f"damage model for the rendered sample drive: {DEMO_DAMAGE_MODEL} (real surveys: the default, "
                      "a segmentation model trained on real road photos)")
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
    ctx.outputs["sample drive ground truth (damage, face, plate, stop)"] = str(drive.truth)
    ctx.outputs["survey photos (anonymized, EXIF-geotagged)"] = str(survey_dir / "images")
    ctx.outputs["survey records"] = str(survey_dir / "records.jsonl")
    ctx.outputs["camera calibration (sizes in metres)"] = str(calibration_file)
    ctx.state.update(survey_dir=survey_dir, device_id=result.device_id, survey_id=result.survey_id,
                     survey_stats=result.stats.as_dict(), sample_drive=drive)
    return ctx
