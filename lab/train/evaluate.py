"""Detector evaluation on a YOLO-format folder, matched at IoU ≥ 0.5 per class (as CRDDC does).

A folder holds ``images/``, ``labels/`` (one ``class cx cy w h`` line per box, normalised)
and ``data.yaml`` with ``names``. The detector runs once at a low threshold; precision,
recall and F1 at every reporting threshold are then computed from the same predictions
(greedy NMS keeps the same boxes above any higher threshold).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml
from rich.progress import track

from voirie.models.crack_types import CRACK_TYPES
from voirie.models.errors import ModelError
from voirie.lab.train.export import IMAGE_SUFFIXES
from voirie.records import Detections

logger = logging.getLogger(__name__)

IOU_MATCH = 0.5
SWEEP = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)


@dataclass
class YoloFolder:
    """A YOLO-format dataset folder: image paths, their label files and the class names."""

    images: list[Path]
    names: tuple[str, ...]

    @classmethod
    def open(cls, folder: Path) -> YoloFolder:
        """Read ``data.yaml`` names and list ``images/``; errors name what is missing."""
        folder = Path(folder)
        spec = folder / "data.yaml"
        if not spec.is_file() or not (folder / "images").is_dir():
            raise ModelError(f"{folder} is not a YOLO dataset folder: expected images/, labels/ and data.yaml")
        names = (yaml.safe_load(spec.read_text()) or {}).get("names")
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        if not names:
            raise ModelError(f"{spec} has no class names (a 'names:' list or mapping)")
        images = sorted(p for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise ModelError(f"{folder / 'images'} holds no images")
        return cls(images, tuple(str(n) for n in names))

    def boxes(self, image: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Ground-truth boxes (xyxy pixels) and class ids of one image; none when unlabelled."""
        label = image.parent.parent / "labels" / f"{image.stem}.txt"
        rows = np.loadtxt(label, ndmin=2, dtype=np.float64) if label.is_file() and label.stat().st_size else np.zeros((0, 5))
        if rows.shape[1] < 5:
            raise ModelError(f"{label}: expected 'class cx cy w h' rows, got {rows.shape[1]} columns")
        cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
        xyxy = np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1)
        return xyxy, rows[:, 0].astype(np.int64)


def parse_class_map(text: str | None, model_names: tuple[str, ...], data_names: tuple[str, ...]) -> dict[int, int]:
    """Model class id → dataset class id from ``D00=crack,D40=pothole`` (identity by name when
    None). Several model classes may map to one dataset class
    (``crack_longitudinal=crack,crack_transverse=crack``); model classes left out are ignored."""
    items = [item.strip() for item in text.split(",") if item.strip()] if text else []
    malformed = [item for item in items if item.count("=") != 1 or not all(part.strip() for part in item.split("="))]
    if malformed:
        raise ModelError(f"--map entries must be MODEL_CLASS=DATASET_CLASS, got {malformed}")
    pairs = dict((a.strip(), b.strip()) for a, b in (i.split("=") for i in items)) if text else \
        {n: _same_class(n, data_names) for n in model_names}
    mapping = {}
    for model_name, data_name in pairs.items():
        if model_name not in model_names:
            raise ModelError(f"--map names model class {model_name!r}; the model has {list(model_names)}")
        if data_name in data_names:
            mapping[model_names.index(model_name)] = data_names.index(data_name)
        elif text:
            raise ModelError(f"--map names dataset class {data_name!r}; the dataset has {list(data_names)}")
    if not mapping:
        raise ModelError(f"no model class {list(model_names)} maps to a dataset class {list(data_names)}; use --map")
    return mapping


def _same_class(model_name: str, data_names: tuple[str, ...]) -> str:
    """The dataset class a model class scores as without a map: its own name, or ``crack``
    for a crack type when the dataset labels cracks without types (road_damage_cpri)."""
    if model_name in CRACK_TYPES and model_name not in data_names and "crack" in data_names:
        return "crack"
    return model_name


class MergedPlanes:
    """A segmentation model seen through a many-to-one class map: the maps of the model
    classes that map to one dataset class are merged (pixel maximum) before grouping, so a
    crack network whose parts the model typed differently is still one box, as an untyped
    dataset labels it. Grouped with the rule of the first model class of each group. The
    types of a shape-typed model (:mod:`voirie.models.crack_types`) are one map, merged as is."""

    def __init__(self, detector, groups: dict[int, list[int]], names: tuple[str, ...]) -> None:
        self.detector, self.groups, self.class_names = detector, groups, names
        self.model_id = f"{detector.model_id} (classes merged)"
        # Per dataset class, the model's maps to merge (crack types share one map).
        self.members = [sorted({detector.plane_of[m] for m in group}) for group in groups.values()]

    def detect(self, image: np.ndarray) -> Detections:
        from voirie.models.decode import detections_from_masks

        maps, box = self.detector.raw_maps(image)
        rules, reference_width = self.detector.grouping
        merged = np.stack([maps[m].max(0) for m in self.members])
        return detections_from_masks(merged, box, self.detector.input_size, self.class_names,
                                     tuple(rules[m[0]] for m in self.members), reference_width)


def merge_for_dataset(detector, class_map: dict[int, int], data_names: tuple[str, ...]):
    """The detector and class map to score with: a semantic model whose map sends several
    classes to one dataset class is wrapped in :class:`MergedPlanes`; anything else is kept."""
    groups: dict[int, list[int]] = {}
    for model_id, data_id in sorted(class_map.items()):
        groups.setdefault(data_id, []).append(model_id)
    if getattr(detector, "grouping", None) is None or all(len(g) == 1 for g in groups.values()):
        return detector, class_map
    merged = MergedPlanes(detector, groups, tuple(data_names[d] for d in groups))
    return merged, {index: data_id for index, data_id in enumerate(groups)}


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two xyxy box arrays."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(pred: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching, best score first; True where a prediction is a true positive."""
    hit = np.zeros(len(pred), bool)
    if len(pred) == 0 or len(truth) == 0:
        return hit
    ious = iou_matrix(pred, truth)
    free = np.ones(len(truth), bool)
    for i in np.argsort(-scores):
        candidates = np.where(free, ious[i], 0.0)
        j = int(candidates.argmax())
        if candidates[j] >= IOU_MATCH:
            hit[i], free[j] = True, False
    return hit


@dataclass
class Tally:
    """True/false positives and misses per dataset class, at one confidence threshold."""

    tp: dict[int, int] = field(default_factory=dict)
    fp: dict[int, int] = field(default_factory=dict)
    fn: dict[int, int] = field(default_factory=dict)

    def add(self, cls: int, tp: int, fp: int, fn: int) -> None:
        self.tp[cls] = self.tp.get(cls, 0) + tp
        self.fp[cls] = self.fp.get(cls, 0) + fp
        self.fn[cls] = self.fn.get(cls, 0) + fn

    def scores(self, names: tuple[str, ...]) -> dict:
        """Micro-averaged precision/recall/F1 over all classes, plus per class."""
        def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
            p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
            return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4)}

        per_class = {names[c]: prf(self.tp[c], self.fp[c], self.fn[c]) for c in sorted(self.tp)}
        total = prf(sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values()))
        return {**total, "per_class": per_class}

    def counts(self, names: tuple[str, ...]) -> dict[str, list[int]]:
        """[true positives, false positives, misses] per class name."""
        return {names[c]: [self.tp[c], self.fp[c], self.fn[c]] for c in sorted(self.tp)}


def tally_image(found: Detections, class_map: dict[int, int], truth: tuple[np.ndarray, np.ndarray],
                threshold: float, tally: Tally, n_classes: int) -> None:
    """Add one image's matches at one threshold to the tally."""
    gt_boxes, gt_ids = truth
    mapped = np.array([class_map.get(int(c), -1) for c in found.class_id], np.int64)
    for cls in range(n_classes):
        picked = (mapped == cls) & (found.confidence >= threshold)
        gt = gt_boxes[gt_ids == cls]
        hits = match(found.xyxy[picked], found.confidence[picked], gt)
        tally.add(cls, int(hits.sum()), int((~hits).sum()), len(gt) - int(hits.sum()))


def draw_example(image: np.ndarray, found: Detections, truth: tuple[np.ndarray, np.ndarray],
                 names: tuple[str, ...], threshold: float) -> np.ndarray:
    """The photo with ground truth (green) and detections above ``threshold`` (red, with scores)."""
    canvas = image.copy()
    for box, cls in zip(truth[0].astype(int), truth[1]):
        cv2.rectangle(canvas, tuple(box[:2]), tuple(box[2:]), (0, 200, 0), 2)
        cv2.putText(canvas, names[cls], (box[0], box[3] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 200, 0), 2)
    keep = found.confidence >= threshold
    for box, name, score in zip(found.xyxy[keep].astype(int), np.array(found.names())[keep], found.confidence[keep]):
        cv2.rectangle(canvas, tuple(box[:2]), tuple(box[2:]), (0, 0, 230), 2)
        cv2.putText(canvas, f"{name} {score:.2f}", (box[0], box[1] + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 230), 2)
    return canvas


def evaluate(detector, folder: Path, class_map_text: str | None = None, confidence: float = 0.25,
             examples: Path | None = None, example_count: int = 12) -> dict:
    """Run a detector over a YOLO folder; scores at ``confidence`` plus a threshold sweep.

    With ``examples``, the first ``example_count`` photos are written there annotated
    (ground truth green, detections red) so a person can see what the numbers mean.
    """
    data = YoloFolder.open(folder)
    class_map = parse_class_map(class_map_text, detector.class_names, data.names)
    detector, class_map = merge_for_dataset(detector, class_map, data.names)
    thresholds = sorted({confidence, *SWEEP})
    tallies = {t: Tally() for t in thresholds}
    seconds = 0.0
    for path in track(data.images, description=f"evaluating {detector.model_id}"):
        image = cv2.imread(str(path))
        if image is None:
            raise ModelError(f"cannot read image {path}")
        start = time.perf_counter()
        found = detector.detect(image)
        seconds += time.perf_counter() - start
        truth = data.boxes(path, image.shape[1], image.shape[0])
        for threshold, tally in tallies.items():
            tally_image(found, class_map, truth, threshold, tally, len(data.names))
        if examples is not None and example_count > 0:
            example_count -= 1
            examples.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(examples / f"{path.stem}.jpg"), draw_example(image, found, truth, data.names, confidence))
    result = tallies[confidence].scores(data.names)
    result.update(images=len(data.images), ms_per_image=round(1000 * seconds / len(data.images), 2),
                  confidence=confidence,
                  sweep={str(t): tallies[t].scores(data.names)["f1"] for t in thresholds},
                  by_threshold={str(t): tallies[t].scores(data.names) for t in thresholds},
                  counts={str(float(t)): tallies[t].counts(data.names) for t in thresholds})
    return result
