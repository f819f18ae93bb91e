"""The ONNX runtime on real ONNX Runtime sessions: decode, letterbox, NMS, layouts, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.models import ModelError, load_detector
from voirie.models.decode import YOLOX_STRIDES, letterbox, yolox_grid

from .conftest import build_onnx, ultralytics_raw


def test_ultralytics_layout_decodes_boxes_back_to_image_pixels(damage_onnx: Path) -> None:
    detector = load_detector(damage_onnx)
    assert detector.class_names == ("crack", "pothole") and detector.layout == "ultralytics"
    # 128×64 image into a 64×64 input: scale 0.5, 16 px of padding above and below
    found = detector.detect(np.zeros((64, 128, 3), np.uint8))
    assert found.names() == ["crack", "pothole"]  # the 0.6 crack overlaps the 0.9 one: suppressed
    np.testing.assert_allclose(found.xyxy[0], [44, 22, 84, 42], atol=1e-4)
    np.testing.assert_allclose(found.confidence, [0.9, 0.7], atol=1e-6)
    assert found.metadata["model_id"] == "tiny_damage"


def test_confidence_threshold_and_batch_agree_with_single(damage_onnx: Path) -> None:
    detector = load_detector(damage_onnx, confidence=0.8, workers=2)
    images = [np.zeros((64, 128, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)]
    batch = detector.detect_batch(images)
    assert [len(d) for d in batch] == [1, 1]
    np.testing.assert_allclose(batch[0].xyxy, detector.detect(images[0]).xyxy)
    np.testing.assert_allclose(batch[1].xyxy[0], [22, 27, 42, 37], atol=1e-4)  # no letterbox needed
    detector.close()


def test_letterbox_rectangular_input_keeps_aspect() -> None:
    canvas, box = letterbox(np.full((720, 1280, 3), 7, np.uint8), (384, 640))
    assert canvas.shape == (384, 640, 3)
    assert box.scale == pytest.approx(0.5) and box.pad_y == 12 and box.pad_x == 0
    assert canvas[0, 0, 0] == 114 and canvas[200, 300, 0] == 7


def test_yolox_layout_with_grid_decode(tmp_path: Path) -> None:
    size = 64
    grid, strides = yolox_grid((size, size))
    assert len(grid) == sum((size // s) ** 2 for s in YOLOX_STRIDES)
    raw = np.zeros((1, len(grid), 5 + 3), np.float32)
    raw[0, :, 2:4] = -5  # tiny boxes, no score
    # anchor 9 of the stride-8 grid sits at cell (1, 1): centre (1+0.5)*8 = 12
    raw[0, 9] = [0.5, 0.5, np.log(2.0), np.log(1.0), 0.9, 0.1, 0.8, 0.0]
    path = build_onnx(tmp_path / "tiny_yolox.onnx", raw)
    detector = load_detector(path, class_names=("a", "b", "c"))
    assert detector.layout == "yolox"
    found = detector.detect(np.zeros((64, 64, 3), np.uint8))
    assert found.names() == ["b"]
    np.testing.assert_allclose(found.xyxy[0], [4, 8, 20, 16], atol=1e-4)
    np.testing.assert_allclose(found.confidence, [0.72], atol=1e-5)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("classifier", "classification model"),
        ("gray_input", "N×3×H×W"),
        ("old_opset", "opset 9 is too old"),
        ("corrupt", "not a readable ONNX"),
        ("nan", "NaN"),
        ("wrong_names", "2 classes but 3 names"),
    ],
)
def test_bad_models_raise_model_error_naming_the_model(tmp_path: Path, kind: str, message: str) -> None:
    path = tmp_path / f"bad_{kind}.onnx"
    good = ultralytics_raw([(32, 32, 20, 10)], [[0.9, 0.1]])
    options = {}
    if kind == "classifier":
        build_onnx(path, np.zeros((1, 1000), np.float32))
    elif kind == "gray_input":
        build_onnx(path, good, input_shape=(1, 1, 64, 64))
    elif kind == "old_opset":
        build_onnx(path, good, opset=9)
    elif kind == "corrupt":
        path.write_bytes(b"\x08\x07garbage" * 100)
    elif kind == "nan":
        build_onnx(path, np.full_like(good, np.nan))
    else:
        build_onnx(path, good)
        options["class_names"] = ("a", "b", "c")
    with pytest.raises(ModelError, match=message) as error:
        load_detector(path, **options)
    assert f"bad_{kind}" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_bad_pixels_are_refused(damage_onnx: Path) -> None:
    detector = load_detector(damage_onnx)
    with pytest.raises(ModelError, match="H×W×3 uint8"):
        detector.detect(np.zeros((64, 64), np.float32))


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such ONNX file"):
        load_detector(tmp_path / "absent.onnx")
    with pytest.raises(ModelError, match="no registered model named 'nope'"):
        load_detector("nope")


def test_yolox_nano_coco_finds_the_two_cars(shared_data: Path) -> None:
    """The real YOLOX-Nano export on a real traffic frame: two top-down cars, boxes tight around them."""
    names = tuple((shared_data / "models" / "coco.names").read_text().split("\n")[:80])
    detector = load_detector(shared_data / "models" / "yolox_nano_coco_416.onnx", class_names=names, confidence=0.3)
    assert detector.layout == "yolox" and detector.input_size == (416, 416)
    capture = cv2.VideoCapture(str(shared_data / "traffic_videos" / "intel_car-detection.mp4"))
    for _ in range(201):
        ok, frame = capture.read()
    assert ok
    found = detector.detect(frame)
    widths, heights = found.xyxy[:, 2] - found.xyxy[:, 0], found.xyxy[:, 3] - found.xyxy[:, 1]
    big = (widths > 120) & (heights > 200)  # a car seen from above is about 150×250 px here
    assert big.sum() == 2


def test_yolov5_layout_is_already_decoded(tmp_path: Path) -> None:
    raw = np.zeros((1, 10, 5 + 2), np.float32)  # 10 rows: not a YOLOX grid, so boxes are in pixels
    raw[0, 0] = [32, 32, 20, 10, 0.8, 0.25, 1.0]
    path = build_onnx(tmp_path / "tiny_v5.onnx", raw)
    found = load_detector(path, class_names=("crack", "pothole")).detect(np.zeros((64, 64, 3), np.uint8))
    assert found.names() == ["pothole"]
    np.testing.assert_allclose(found.xyxy[0], [22, 27, 42, 37], atol=1e-4)
    np.testing.assert_allclose(found.confidence, [0.8], atol=1e-6)
