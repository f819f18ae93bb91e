"""The shipped detector (`count-default`): a config that only draws a line counts real objects."""

from collections import Counter

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from voirie.cli import app
from voirie.edge.count.config import OnnxDetectorConfig
from voirie.edge.count.detectors import OnnxCountDetector, verify_model
from voirie.edge.count.sources import read_bins
from voirie.lab.sample.drive import ASSETS
from voirie.models.errors import ModelError
from voirie.models.registry import find_model, sha256_file

SAMPLES = ASSETS  # the sample drive's real photos (voirie.lab.sample)
CAR_PHOTO = SAMPLES / "sample_photos" / "1014801_RS_386_386RS124739_30930.jpg"
PERSON_PHOTO = SAMPLES / "face_astronaut.jpg"


def test_count_default_is_registered_with_its_licence_and_checksum():
    manifest, folder = find_model("count-default")
    assert manifest.layout == "yolox" and manifest.license.startswith("Apache-2.0")
    assert {"person", "bicycle", "car", "motorcycle", "bus", "truck"} <= set(manifest.classes)
    entry = manifest.variant(None)
    assert sha256_file(folder / entry.file) == entry.sha256
    assert "Apache License" in (folder / "LICENSE.txt").read_text()
    assert entry.sha256 in (folder / "MODEL_CARD.md").read_text()


def _paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    h, w = patch.shape[:2]
    left, right = max(0, x), min(frame.shape[1], x + w)
    if right > left:
        frame[y:y + h, left:right] = patch[:, left - x:right - x]


def _crossing_clip(path, frames: int = 60) -> None:
    """A real car (from a survey photo) driving right and a real person walking left across x=320."""
    car = cv2.imread(str(CAR_PHOTO))[0:130, 118:331]
    person = cv2.resize(cv2.imread(str(PERSON_PHOTO)), (110, 115))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 360))
    for i in range(frames):
        frame = np.full((360, 640, 3), 118, np.uint8)
        _paste(frame, car, -220 + i * 15, 215)
        _paste(frame, person, 620 - i * 10, 20)
        writer.write(frame)
    writer.release()


def test_a_config_with_only_a_line_counts_with_the_shipped_detector(tmp_path):
    video = tmp_path / "clip.avi"
    _crossing_clip(video)
    config = tmp_path / "pole.toml"
    config.write_text('[[lines]]\nid = "mid"\nstart = [320, 0]\nend = [320, 360]\ndirections = ["east", "west"]\n')
    result = CliRunner().invoke(app, ["count", "--source", str(video), "--config", str(config),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    counted = Counter()
    for path in (tmp_path / "out").glob("*.jsonl"):
        for record in read_bins(path):
            counted[(record.class_name, record.direction)] += record.count
    assert +counted == {("car", "east"): 1, ("pedestrian", "west"): 1}


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelError, match="count-default"):  # the message lists the known models
        OnnxCountDetector(OnnxDetectorConfig(model="no-such-model"))


def test_verify_model_accepts_the_shipped_name_and_refuses_missing_ones(tmp_path):
    # What `voirie edge run --validate-config` reports for a counting box.
    assert verify_model(OnnxDetectorConfig()) == "count-default 1.0.0"
    with pytest.raises(FileNotFoundError, match="none.onnx"):
        verify_model(OnnxDetectorConfig(model=tmp_path / "none.onnx"))
    with pytest.raises(ModelError, match="count-default"):
        verify_model(OnnxDetectorConfig(model="yolo-of-my-dreams"))
