"""Background detector: blobs classified by size in metres, uniform scale or calibrated ground."""

import cv2
import numpy as np
import pytest

from voirie.edge.count.config import BackgroundDetectorConfig, ConfigError, parse_config
from voirie.edge.count.detectors import BackgroundDetector
from voirie.edge.count.pipeline import build_ground


class HomographyGround:
    """A plane seen in perspective: 40 px per metre at the bottom row, 10 at the top."""

    def __init__(self) -> None:
        image = np.float32([[0, 0], [640, 0], [640, 360], [0, 360]])
        ground = np.float32([[-32, 40], [32, 40], [8, 0], [-8, 0]])
        self.matrix = cv2.getPerspectiveTransform(image, ground)

    def to_ground(self, points_px: np.ndarray) -> np.ndarray:
        return cv2.perspectiveTransform(np.asarray(points_px, np.float64).reshape(-1, 1, 2), self.matrix).reshape(-1, 2)


def run(detector: BackgroundDetector, box: tuple[int, int, int, int]) -> list[str]:
    background = np.full((360, 640, 3), 90, np.uint8)
    for _ in range(30):
        detector.detect(background)
    frame = background.copy()
    x, y, w, h = box
    cv2.rectangle(frame, (x, y), (x + w, y + h), (30, 30, 220), -1)
    return detector.detect(frame).names()


def test_uniform_scale_classifies_by_length():
    config = BackgroundDetectorConfig()
    assert run(BackgroundDetector(config, pixels_per_metre=20), (100, 200, 90, 30)) == ["car"]  # 4.5 m
    assert run(BackgroundDetector(config, pixels_per_metre=20), (100, 200, 34, 32)) == ["bicycle"]  # 1.7 m


def test_calibrated_ground_sizes_change_with_depth():
    # The same 90 px box is a 2.25 m motorcycle near the camera and a 9 m truck far away.
    config = BackgroundDetectorConfig()
    near = run(BackgroundDetector(config, None, ground=HomographyGround()), (300, 300, 90, 50))
    far = run(BackgroundDetector(config, None, ground=HomographyGround()), (300, 10, 90, 25))
    assert near == ["motorcycle"] and far == ["truck_bus"]


def test_missing_calibration_file_is_a_config_error(tmp_path):
    config = parse_config({"calibration": str(tmp_path / "pole.json"),
                           "lines": [{"id": "a", "start": [0, 0], "end": [0, 9]}]})
    with pytest.raises(ConfigError, match="pole.json"):
        build_ground(config)


def test_scale_or_calibration_is_required_for_background():
    with pytest.raises(ValueError):
        BackgroundDetector(BackgroundDetectorConfig(), pixels_per_metre=None)
