"""Road damage must not be masked as plates: the damage model runs on the masked frame.

On the rendered drive the text detector once fired on alligator cracks and patches near
the camera (a ~530x270 px blur over the road before the plate plausibility filter). The
sample drive is now made of real road photos with human damage labels: on one frame of
each photo, the labelled damage boxes must stay almost unmasked, while the drive's face
and plate are still protected. Measured (2026-12-06, default anonymizer): 43 of the 44
photos keep under 1 % of their labelled damage masked; on the last photo of the first road
(31500) the plate network takes the pothole in the bottom-right corner for a plate (38 %
of its box blurred). Privacy first: the plate filter is not loosened for it.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from voirie.anonymize import Anonymizer
from voirie.anonymize.detectors import contrasts, plausible_plates
from voirie.anonymize.roadmask import damage_mask, measure_frame
from voirie.lab.sample.drive import make_sample_drive

MAX_DAMAGE_SHARE = 0.01
# Share of the photos whose labelled damage stays (almost) unmasked. Measured 40 of 44 (0.91)
# since the horizon is estimated by default (until it is sure, the passes search the whole
# frame), 39 of 44 (0.89) since plates cut by the frame's top edge are looked for (the top
# row repeated upwards: real DNIT plates 32 -> 37 of 37): 5 photos lose 1.1-1.9 % instead of
# under 1 %; over the drive the road masked stays 0.11 % (privacy first, issue 20).
MIN_PHOTOS_KEPT = 0.85


@pytest.fixture(scope="module")
def drive_frames(tmp_path_factory) -> tuple[dict[int, np.ndarray], dict]:
    """The first frame of each photo, and the frames of the nearest face and plate."""
    # Shared with the other sample-drive tests of this session (cached by folder).
    drive = make_sample_drive(tmp_path_factory.getbasetemp() / "sample_drive_shared")
    truth = json.loads(drive.truth.read_text())
    per_frame = truth["per_frame"]
    firsts = {f["photo"]: i for i, f in reversed(list(enumerate(per_frame)))}
    wanted, frames, index = {*firsts.values(), *(_nearest(per_frame, k) for k in ("face_xyxy", "plate_xyxy"))}, {}, 0
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


def test_labelled_damage_stays_unmasked(anonymizer: Anonymizer, drive_frames) -> None:
    frames, truth = drive_frames
    per_frame, shares = truth["per_frame"], []
    for index in sorted({f["photo"]: i for i, f in reversed(list(enumerate(per_frame)))}.values()):
        image = frames[index]
        damage = damage_mask(truth["photos"][per_frame[index]["photo"]]["damage"], image.shape[1], image.shape[0])
        assert damage.any()  # every photo of the drive has labelled damage
        shares.append(measure_frame(anonymizer, image, per_frame[index], damage)[0])
    kept = np.mean(np.array(shares) < MAX_DAMAGE_SHARE)
    assert len(shares) == len(truth["photos"]) and kept >= MIN_PHOTOS_KEPT, np.round(shares, 3)
    assert np.median(shares) < MAX_DAMAGE_SHARE


def test_face_and_plate_still_masked(anonymizer: Anonymizer, drive_frames) -> None:
    frames, drive_truth = drive_frames
    truth = drive_truth["per_frame"]
    # The nearest face and plate of the drive (the far ones are below what CenterFace finds,
    # see test_anonymize_survey.py); both must stay masked with the filter on.
    for key, slot in (("face_xyxy", 1), ("plate_xyxy", 2)):
        index = _nearest(truth, key)
        assert _height(truth[index][key]) >= 16
        image = frames[index]
        damage = damage_mask(drive_truth["photos"][truth[index]["photo"]]["damage"], image.shape[1], image.shape[0])
        hits = measure_frame(anonymizer, image, truth[index], damage)
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
