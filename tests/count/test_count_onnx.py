"""The ONNX path with a real COCO detector (YOLOX-Nano from ../shared/data, skipped when absent)."""

import cv2
import numpy as np
import pytest

from voirie.edge.count.config import CLASSES, OnnxDetectorConfig
from voirie.edge.count.detectors import OnnxCountDetector


@pytest.fixture(scope="module")
def yolox(shared_data):
    model = shared_data / "models" / "yolox_nano_coco_416.onnx"
    if not model.exists():
        pytest.skip("yolox_nano_coco_416.onnx not in shared data")
    return OnnxCountDetector(OnnxDetectorConfig(model=model, confidence=0.3))


def test_yolox_finds_the_car_in_a_real_frame(yolox, shared_data):
    # Oncoming traffic (a COCO-like view; top-down cars look like phones to COCO models).
    capture = cv2.VideoCapture(str(shared_data / "traffic_videos" / "bgslibrary_video03.avi"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 1530)  # a van and two cars near the camera (hand-checked)
    ok, frame = capture.read()
    assert ok
    found = yolox.detect(frame)
    assert found.class_names == CLASSES and found.names().count("car") >= 2
    assert all(name in CLASSES for name in found.names())
    blank = yolox.detect(np.full((432, 768, 3), 60, np.uint8))
    assert len(blank) == 0


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        OnnxCountDetector(OnnxDetectorConfig(model=tmp_path / "none.onnx"))
