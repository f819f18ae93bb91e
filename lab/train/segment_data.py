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
OUTPUT_STRIDE = 2  # the network's maps are half the input size (voirie.lab.train.segment_net)
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
    from voirie.lab.synth.damage import SynthConfig, synth_image_with_masks

    config = SynthConfig(images=count, seed=seed)
    scenes = track(range(count), description=f"rendering {count} synthetic scenes")
    return _stacked((synth_image_with_masks(index, config) for index in scenes), imgsz)


# --- The typed model: five RDD damage types, taught by masks from one country and boxes from another.
TYPED_CLASSES = ("crack_longitudinal", "crack_transverse", "crack_alligator", "pothole", "patch")  # D00 D10 D20 D40 Repair
CRACK_TYPES = 3  # the first three typed classes are cracks: mask photos teach their union
TYPED_RULES = (GroupingRule(41, 150),) * CRACK_TYPES + (GroupingRule(9, 150), GroupingRule(9, 600))
DENSE_PLANES = len(CLASS_NAMES)  # typed targets: crack (any type) and pothole masks first, then one box plane a class


def highway_of(sample_id: str) -> str:
    """The highway of a road_damage_cpri photo, from its id (``1014635_RS_386_...`` → ``RS-386``)."""
    parts = sample_id.split("_")
    if len(parts) < 3 or not parts[1].isalpha() or not parts[2].isdigit():
        raise ValueError(f"photo id {sample_id!r} does not name a highway (expected NUMBER_STATE_ROAD_...)")
    return f"{parts[1]}-{parts[2]}"


def box_planes(rows: np.ndarray, data_names: tuple[str, ...], class_names: tuple[str, ...], box,
               imgsz: tuple[int, int]) -> np.ndarray:
    """C×(H/s)×(W/s) uint8 planes, 1 inside the labelled boxes of each class (YOLO rows
    ``class cx cy w h`` of the original photo; classes matched by name, others ignored)."""
    planes = np.zeros((len(class_names), imgsz[0] // OUTPUT_STRIDE, imgsz[1] // OUTPUT_STRIDE), np.uint8)
    for cls, cx, cy, w, h in rows:
        name = data_names[int(cls)]
        if name not in class_names:
            continue
        x0 = ((cx - w / 2) * box.image_width * box.scale + box.pad_x) / OUTPUT_STRIDE
        x1 = ((cx + w / 2) * box.image_width * box.scale + box.pad_x) / OUTPUT_STRIDE
        y0 = ((cy - h / 2) * box.image_height * box.scale + box.pad_y) / OUTPUT_STRIDE
        y1 = ((cy + h / 2) * box.image_height * box.scale + box.pad_y) / OUTPUT_STRIDE
        planes[class_names.index(name), int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = 1
    return planes


def load_box_photos(root: Path, ids: list[str], imgsz: tuple[int, int],
                    class_names: tuple[str, ...] = TYPED_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """Photos of a YOLO box dataset (``images/<id>.jpg``, ``labels/<id>.txt``, names in
    ``data.yaml``), letterboxed, with typed targets: empty mask planes, then box planes."""
    import yaml

    spec = yaml.safe_load((root / "data.yaml").read_text(encoding="utf-8")) or {}
    names = spec.get("names") or {}
    data_names = tuple(str(names[k]) for k in sorted(names)) if isinstance(names, dict) else tuple(map(str, names))
    if not set(data_names) & set(class_names):
        raise ValueError(f"{root}: its classes {list(data_names)} share none with {list(class_names)}")
    images, targets = [], []
    for sample_id in track(ids, description=f"loading {len(ids)} box photos"):
        image = cv2.imread(str(root / "images" / f"{sample_id}.jpg"))
        if image is None:
            raise FileNotFoundError(f"photo {root / 'images' / (sample_id + '.jpg')} is missing or unreadable")
        label = root / "labels" / f"{sample_id}.txt"
        rows = np.loadtxt(label, ndmin=2) if label.is_file() and label.stat().st_size else np.zeros((0, 5))
        canvas, box = letterbox(image, imgsz)
        dense = np.zeros((DENSE_PLANES, imgsz[0] // OUTPUT_STRIDE, imgsz[1] // OUTPUT_STRIDE), np.uint8)
        images.append(canvas)
        targets.append(np.concatenate((dense, box_planes(rows, data_names, class_names, box, imgsz))))
    return np.stack(images), np.stack(targets)


def with_empty_box_planes(targets: np.ndarray, classes: int) -> np.ndarray:
    """Mask-photo targets (N×2×h×w) widened to the typed layout (their box planes empty)."""
    return np.concatenate((targets, np.zeros((len(targets), classes, *targets.shape[2:]), targets.dtype)), 1)
