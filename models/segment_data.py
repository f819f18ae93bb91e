"""Training samples for the damage segmentation model (numpy/OpenCV only, no torch).

Photos with per-class masks in the ``road_damage_cpri`` layout (``images/<id>.jpg``,
``masks/<id>_CRACK.png`` and ``_POTHOLE.png``, ``splits/train.txt``), and synthetic scenes
whose masks come from the drawn geometry. Each sample is letterboxed to the model input
exactly as the runtime letterboxes a frame; its target is the masks at the output
resolution, where a cell is damage when any of its pixels is (a 2-pixel crack must not
vanish when the map is coarser than the photo).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from rich.progress import track

from voirie.models.decode import letterbox
from voirie.models.masks import GroupingRule

CLASS_NAMES = ("crack", "pothole")
MASK_SUFFIXES = ("_CRACK.png", "_POTHOLE.png")
OUTPUT_STRIDE = 2  # the network's maps are half the input size (voirie.models.segment_net)
# road_damage_cpri's box rule (its SOURCE.md), in its 1024-pixel-wide photos.
REFERENCE_WIDTH = 1024
DATA_RULES = (GroupingRule(41, 150), GroupingRule(9, 150))


def read_masks(root: Path, sample_id: str) -> np.ndarray:
    """C×H×W uint8 (0/1) masks of one photo, in CLASS_NAMES order."""
    planes = []
    for suffix in MASK_SUFFIXES:
        mask = cv2.imread(str(root / "masks" / f"{sample_id}{suffix}"), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise FileNotFoundError(f"mask {root / 'masks' / (sample_id + suffix)} is missing or unreadable")
        planes.append((mask > 127).astype(np.uint8))
    return np.stack(planes)


def split_ids(root: Path, split: str) -> list[str]:
    """Sample ids listed in ``splits/<split>.txt`` (lines like ``images/<id>.jpg``)."""
    lines = (root / "splits" / f"{split}.txt").read_text(encoding="utf-8").split()
    return [Path(line).stem for line in lines]


def prepare_sample(image: np.ndarray, masks: np.ndarray, imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Letterboxed BGR input and its C×(H/s)×(W/s) target (a cell is 1 where any pixel is)."""
    canvas, box = letterbox(image, imgsz)
    out_h, out_w = imgsz[0] // OUTPUT_STRIDE, imgsz[1] // OUTPUT_STRIDE
    rows, cols = round(box.image_height * box.scale), round(box.image_width * box.scale)
    top, left = int(box.pad_y), int(box.pad_x)
    targets = []
    for plane in masks:
        placed = np.zeros(imgsz, np.float32)
        placed[top:top + rows, left:left + cols] = cv2.resize(plane.astype(np.float32), (cols, rows),
                                                              interpolation=cv2.INTER_AREA)
        targets.append(cv2.resize(placed, (out_w, out_h), interpolation=cv2.INTER_AREA) > 0)
    return canvas, np.stack(targets).astype(np.uint8)


def _stacked(samples, imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of (image, masks) pairs, as two arrays."""
    prepared = [prepare_sample(image, masks, imgsz) for image, masks in samples]
    return np.stack([c for c, _ in prepared]), np.stack([t for _, t in prepared])


def load_photos(root: Path, ids: list[str], imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The photos ``ids`` of a mask dataset, letterboxed, with their targets."""
    def read(sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        image = cv2.imread(str(root / "images" / f"{sample_id}.jpg"))
        if image is None:
            raise FileNotFoundError(f"photo {root / 'images' / (sample_id + '.jpg')} is missing or unreadable")
        return image, read_masks(root, sample_id)

    return _stacked((read(i) for i in track(ids, description=f"loading {len(ids)} photos")), imgsz)


def load_synthetic(count: int, seed: int, imgsz: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``count`` synthetic scenes of set ``seed`` with their exact masks, as training samples."""
    from voirie.models.synth import SynthConfig, synth_image_with_masks

    config = SynthConfig(images=count, seed=seed)
    scenes = track(range(count), description=f"rendering {count} synthetic scenes")
    return _stacked((synth_image_with_masks(index, config) for index in scenes), imgsz)
