"""The survey with a real ONNX damage detector: detections and the model's id reach the records."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voirie.anonymize import Anonymizer, AnonymizerOptions, make_masker
from voirie.anonymize.centerface import CenterFace
from voirie.anonymize.detectors import FaceDetector
from voirie.lab.sample.drive import make_sample_drive
from voirie.edge.survey import SurveyConfig, survey_video
from voirie.edge.survey.calibration import SurveyCalibration, vehicle_calibration
from voirie.edge.survey.writer import read_records
from voirie.models import load_detector


def _tiny_damage_model(path: Path) -> Path:
    """An ultralytics-layout 2-class ONNX model (64x64 input) that always sees one crack."""
    raw = np.zeros((1, 6, 16), np.float32)
    raw[0, :4, :] = 1.0
    raw[0, :, 0] = (32, 40, 30, 8, 0.9, 0.1)  # cx, cy, w, h, crack, pothole
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),  # the input is really read
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["raw", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(raw.shape))],
        initializer=[numpy_helper.from_array(raw, "raw"), numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {"names": "{0: 'crack', 1: 'pothole'}", "imgsz": "[64, 64]", "task": "detect"}.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(model, str(path))
    return path


def _survey_clip(tmp_path: Path, tmp_path_factory, config: SurveyConfig):
    """The first 40 frames of the sample drive surveyed with the tiny model; (result, detector)."""
    # Shared with the sample-drive tests of this session (make_sample_drive caches by folder): real photos.
    drive = make_sample_drive(tmp_path_factory.getbasetemp() / "sample_drive_shared")
    capture = cv2.VideoCapture(str(drive.video))
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (1280, 720))
    for _ in range(40):
        writer.write(capture.read()[1])
    writer.release()
    detector = load_detector(_tiny_damage_model(tmp_path / "tiny_damage.onnx"))
    anonymizer = Anonymizer([FaceDetector(CenterFace(threads=1))], make_masker("blur", 0.2), AnonymizerOptions(timeout_s=60))
    return survey_video(clip, drive.nmea, tmp_path / "out", anonymizer, detector, config, progress=False), detector


def test_detections_and_model_id_are_recorded(tmp_path: Path, tmp_path_factory) -> None:
    result, detector = _survey_clip(tmp_path, tmp_path_factory, SurveyConfig())
    records = read_records(tmp_path / "out")
    assert records and result.stats.detections == len(records)
    for record in records:
        assert record.model_id == detector.model_id and [d.class_name for d in record.detections] == ["crack"]
        x1, y1, x2, y2 = record.detections[0].box_xyxy
        assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720 and record.detections[0].confidence > 0.5
    assert record.calibration_id is None and record.detections[0].length_m is None  # no calibration: pixels only


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_a_calibration_sizes_damage_in_metres_for_frames_of_its_size(tmp_path: Path, tmp_path_factory, size) -> None:
    calibration = SurveyCalibration.from_calibration(
        vehicle_calibration("edge-01", "cam0", size, focal_px=1000.0, height_m=1.5, pitch_deg=3.0))
    _, _ = _survey_clip(tmp_path, tmp_path_factory, SurveyConfig(calibration=calibration))
    records = read_records(tmp_path / "out")
    assert records
    for record in records:
        crack = record.detections[0]
        if size != (1280, 720):  # calibrated at another size: its metres would be wrong, so none
            assert record.calibration_id is None and crack.length_m is None
            continue
        x1, y1, x2, y2 = crack.box_xyxy
        axis = np.array([[x1, (y1 + y2) / 2], [x2, (y1 + y2) / 2]])  # a wide box: length along x
        assert record.calibration_id == calibration.calibration_id
        assert crack.length_m == pytest.approx(calibration.plane.length_m(axis), rel=1e-6)
        assert 0.05 < crack.length_m < 20 and crack.area_m2 is None
