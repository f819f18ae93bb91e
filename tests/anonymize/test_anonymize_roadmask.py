"""Road texture must not be masked as plates: the damage model runs on the masked frame.

On the sample drive the text detector fired on alligator cracks and patches near the
camera (frame 112: a ~530x270 px blur over the road before the plate plausibility
filter); our plate network takes the same crack for a row of black plates below its
threshold of 0.5. Frames with damage in view and no plate must keep their road surface
almost unmasked, while the drive's face and plate are still protected.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from voirie.anonymize import Anonymizer
from voirie.anonymize.detectors import contrasts, plausible_plates
from voirie.anonymize.roadmask import measure_frame, road_mask
from voirie.capture.sample_drive import make_sample_drive

# Damage in view, no plate (alligator crack at 50-54 m and 132-136 m, patch at 84-87.5 m).
DAMAGE_FRAMES = (96, 104, 112, 464, 472, 480)
MAX_ROAD_SHARE = 0.01


@pytest.fixture(scope="module")
def drive_frames(tmp_path_factory) -> tuple[dict[int, np.ndarray], list[dict]]:
    # Shared with the other sample-drive tests of this session (cached by folder).
    drive = make_sample_drive(tmp_path_factory.getbasetemp() / "sample_drive_shared")
    truth = json.loads(drive.truth.read_text())["per_frame"]
    wanted, frames, index = {*DAMAGE_FRAMES, *(_nearest(truth, k) for k in ("face_xyxy", "plate_xyxy"))}, {}, 0
    capture = cv2.VideoCapture(str(drive.video))
    while wanted - frames.keys():
        ok, image = capture.read()
        assert ok, f"video ended before frame {index}"
        if index in wanted:
            frames[index] = image
        index += 1
    capture.release()
    return frames, truth


def _height(box: list[int] | None) -> int:
    return box[3] - box[1] if box else 0


def _nearest(truth: list[dict], key: str) -> int:
    """The frame where ``key``'s box is tallest while wholly inside the frame (not cut by its edge)."""
    whole = [i for i, f in enumerate(truth) if f.get(key) and 0 < f[key][0] and f[key][2] < 1280 and f[key][3] < 720]
    return max(whole, key=lambda i: _height(truth[i][key]))


@pytest.mark.parametrize("index", DAMAGE_FRAMES)
def test_damage_frames_keep_road_unmasked(anonymizer: Anonymizer, drive_frames, index: int) -> None:
    frames, truth = drive_frames
    assert "plate_xyxy" not in truth[index]
    image = frames[index]
    share, _, _ = measure_frame(anonymizer, image, truth[index], road_mask(image.shape[1], image.shape[0]))
    assert share < MAX_ROAD_SHARE, f"frame {index}: {share:.3f} of the road surface masked"


def test_face_and_plate_still_masked(anonymizer: Anonymizer, drive_frames) -> None:
    frames, truth = drive_frames
    # The nearest face and plate of the drive (the far ones are below what CenterFace finds,
    # see test_anonymize_survey.py); both must stay masked with the filter on.
    for key, slot in (("face_xyxy", 1), ("plate_xyxy", 2)):
        index = _nearest(truth, key)
        assert _height(truth[index][key]) >= 16
        image = frames[index]
        hits = measure_frame(anonymizer, image, truth[index], road_mask(image.shape[1], image.shape[0]))
        assert hits[slot], f"frame {index}: the {key[:-5]} is not masked"


def test_plausibility_filter_keeps_plates_drops_blobs() -> None:
    boxes = np.array([[100, 500, 207, 542], [600, 450, 963, 683], [10, 10, 20, 40]], np.float32)
    assert plausible_plates(boxes, 720, 0.15, 1.0).tolist() == [True, False, False]
    assert plausible_plates(boxes, 720, 1.0, 0.0).all()


def test_contrast_tells_characters_from_asphalt() -> None:
    image = np.full((100, 200, 3), 90, np.uint8)  # grey asphalt
    image[10:40, 10:60] = 235  # a plate: white ground...
    image[15:35, 20:25] = 20  # ...with a black character
    image[60:90, 100:190:6] = 45  # dark crack lines on the asphalt
    spreads = contrasts(image, np.array([[10, 10, 60, 40], [100, 60, 190, 90], [5, 5, 5, 5]], np.float32))
    assert spreads[0] >= 200 and spreads[1] < 80 and spreads[2] == 255
