"""Real road photos for the sample drive, shipped in ``assets/sample_photos`` (see its NOTICE).

44 photos of Brazilian highways from "Cracks and Potholes in Road Images" (Passos et al.
2020, MIT), taken by a survey vehicle about every 5 m, each with damage in view. Each
``<sample id>.jpg`` has a ``<sample id>.txt`` beside it: YOLO boxes of the dataset's two
classes, derived from its human-made masks. The drive shows them road by road in the
order of the ids, so consecutive photos are consecutive stretches of one highway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PHOTO_DIR = Path(__file__).with_name("assets") / "sample_photos"
LABEL_NAMES = ("crack", "pothole")  # class ids of the dataset's label files, not of any model
MIN_BOX_PX = 8  # a label cut by the frame's edge to less than this is no longer visible damage

# Before the junction: BR-386 from km 30.100 to 31.500, in order (ids are <n>_<state>_<highway>_<segment>_<position>).
FIRST_ROAD = tuple(f"{n}_RS_386_386RS124739_{p}" for n, p in (
    (1014635, "30100"), (1014641, "30130"), (1014648, "30165"), (1014692, "30385"), (1014723, "30540"),
    (1014729, "30570"), (1014744, "30645"), (1014763, "30740"), (1014765, "30750"), (1014781, "30830"),
    (1014789, "30870"), (1014790, "30875"), (1014798, "30915"), (1014801, "30930"), (1014831, "31080"),
    (1014845, "31150"), (1014883, "31341"), (1014886, "31355"), (1014889, "31370"), (1014894, "31395"),
    (1014900, "31425"), (1014909, "31470"), (1014914, "31495"), (1014915, "31500")))
# After the right turn: two more stretches of BR-386, then a cracked stretch of BR-290.
SECOND_ROAD = tuple(f"{n}_RS_386_386RS169832_{p}" for n, p in (
    (1025771, "08595"), (1025790, "08691"), (1025795, "08715"), (1025866, "09070"), (1025891, "09195"),
    (1025905, "09265"))) + tuple(f"{n}_RS_386_386RS191729_{p}" for n, p in (
        (994075, "07140"), (994082, "07175"), (994086, "07195"), (994095, "07240"), (994204, "07787"),
        (994504, "09285"), (994526, "09396"), (994527, "09400"), (994528, "09405"), (994585, "09690"),
        (994600, "09765"))) + tuple(f"{n}_RS_290_290RS294095_{p}" for n, p in (
            (917238, "19640"), (917253, "19715"), (917254, "19721")))


@dataclass(frozen=True)
class PhotoCamera:
    """The survey vehicle's camera as it appears in a 1280x720 drive frame (see ``photo_frame``).

    The dataset gives no calibration. Estimated from the lane lines of one photo (30870):
    they meet about 560 px above the frame's centre row, and a 3.5 m lane spans 1290 px
    850 px below that point. With an assumed 1000 px focal (a ~65 degree lens) that is a
    29 degree pitch and a 2.0 m height. Metres from it are rough (±20 %).
    """

    focal_px: float = 1000.0
    height_m: float = 2.0
    pitch_deg: float = math.degrees(math.atan(560.0 / 1000.0))


PHOTO_CAMERA = PhotoCamera()


def photo_path(sample_id: str) -> Path:
    """The shipped JPEG of a sample id."""
    return PHOTO_DIR / f"{sample_id}.jpg"


def read_photo(sample_id: str) -> np.ndarray:
    """The photo's BGR pixels; a missing or broken file is an error (the drive needs every one)."""
    pixels = cv2.imread(str(photo_path(sample_id)), cv2.IMREAD_COLOR)
    if pixels is None:
        raise FileNotFoundError(f"sample-drive photo missing or unreadable: {photo_path(sample_id)}")
    return pixels


def read_labels(sample_id: str, width: int, height: int) -> list[tuple[str, np.ndarray]]:
    """The photo's labelled damage: (class name, box x0 y0 x1 y1 in its pixels)."""
    boxes = []
    for line in (PHOTO_DIR / f"{sample_id}.txt").read_text(encoding="utf-8").split("\n"):
        if line.strip():
            cls, cx, cy, w, h = line.split()
            centre, size = np.array([float(cx) * width, float(cy) * height]), np.array([float(w) * width, float(h) * height])
            boxes.append((LABEL_NAMES[int(cls)], np.r_[centre - size / 2, centre + size / 2]))
    return boxes


def frame_fit(photo_size: tuple[int, int], frame_size: tuple[int, int]) -> tuple[float, int]:
    """Scale and rows cut off the top to fill ``frame_size`` (w, h) with a photo of ``photo_size``.

    The photo is scaled to the frame's width and its top (the far road, where damage is a
    few pixels) is cut: black bars would add edges the damage model reads as damage.
    """
    scale = frame_size[0] / photo_size[0]
    scaled_height = int(round(photo_size[1] * scale))
    if scaled_height < frame_size[1]:
        raise ValueError(f"photo {photo_size} is wider than the frame {frame_size}: it cannot fill it")
    return scale, scaled_height - frame_size[1]


def photo_frame(sample_id: str, frame_size: tuple[int, int]) -> tuple[np.ndarray, list[dict]]:
    """The photo filling a frame of ``frame_size`` (w, h), and its damage labels in frame pixels."""
    pixels = read_photo(sample_id)
    height, width = pixels.shape[:2]
    scale, top = frame_fit((width, height), frame_size)
    scaled = cv2.resize(pixels, (frame_size[0], int(round(height * scale))), interpolation=cv2.INTER_LINEAR)
    damage = []
    for name, box in read_labels(sample_id, width, height):
        x0, y0, x1, y1 = box * scale - np.array([0, top, 0, top])
        x0, x1 = max(x0, 0.0), min(x1, frame_size[0])
        y0, y1 = max(y0, 0.0), min(y1, frame_size[1])
        if x1 - x0 >= MIN_BOX_PX and y1 - y0 >= MIN_BOX_PX:
            damage.append({"class": name, "xyxy": [round(float(v), 1) for v in (x0, y0, x1, y1)]})
    return np.ascontiguousarray(scaled[top:]), damage
