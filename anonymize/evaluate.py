"""Recall of the anonymizer on a labelled set (images/ + YOLO labels/, class 0 face, 1 plate).

A labelled box counts as protected when at least 90 % of its area lies inside the masked
area (the union of the masker's expanded boxes). We also report the share of all pixels
masked (over-masking costs evidence for the damage model) and the frames per second of
detect + mask.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from voirie.anonymize.anonymizer import Anonymizer
from voirie.anonymize.detectors import CLASS_NAMES
from voirie.anonymize.errors import AnonymizationError
from voirie.anonymize.images import ImageError, read_image
from voirie.anonymize.maskers import expanded_boxes

logger = logging.getLogger(__name__)

PROTECTED_SHARE = 0.9
SIZE_BUCKETS = ((0, 16), (16, 32), (32, 64), (64, 1_000_000))  # label box height, pixels
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class EvalResult:
    """Counts per class and size bucket, plus totals."""

    labelled: dict[tuple[int, int], int] = field(default_factory=dict)  # (class, bucket) -> count
    protected: dict[tuple[int, int], int] = field(default_factory=dict)
    images: int = 0
    failed: int = 0  # frames the anonymizer refused (they would be dropped, never written)
    masked_fraction_sum: float = 0.0
    seconds: float = 0.0

    def recall(self, class_id: int) -> float | None:
        """Protected / labelled for one class (None when nothing is labelled)."""
        total = sum(v for (c, _), v in self.labelled.items() if c == class_id)
        hit = sum(v for (c, _), v in self.protected.items() if c == class_id)
        return hit / total if total else None

    def summary(self) -> dict[str, float | int | None]:
        """The JSON line of ``voirie anonymize eval``."""
        done = max(self.images - self.failed, 1)
        return {
            "face_recall": _round(self.recall(0)),
            "plate_recall": _round(self.recall(1)),
            "masked_area_fraction": round(self.masked_fraction_sum / done, 4),
            "frames_per_s": round(done / self.seconds, 2) if self.seconds else 0.0,
            "images": self.images,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def read_labels(path: Path, width: int, height: int) -> list[tuple[int, np.ndarray]]:
    """YOLO lines (class cx cy w h, normalised) to (class, xyxy pixels); bad lines raise ValueError."""
    boxes = []
    if not path.is_file():
        return boxes
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise ValueError(f"{path}:{number}: expected 'class cx cy w h', got {line!r}")
        class_id, (cx, cy, w, h) = int(parts[0]), (float(v) for v in parts[1:])
        xyxy = np.array([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
        boxes.append((class_id, xyxy))
    return boxes


def protected_share(masked: np.ndarray, xyxy: np.ndarray) -> float:
    """Share of the box's pixels that are inside ``masked`` (boolean HxW)."""
    h, w = masked.shape
    x1, y1 = int(np.clip(np.floor(xyxy[0]), 0, w)), int(np.clip(np.floor(xyxy[1]), 0, h))
    x2, y2 = int(np.clip(np.ceil(xyxy[2]), 0, w)), int(np.clip(np.ceil(xyxy[3]), 0, h))
    if x2 <= x1 or y2 <= y1:
        return 1.0  # a box entirely outside the image shows nothing
    return float(masked[y1:y2, x1:x2].mean())


def _bucket(xyxy: np.ndarray) -> int:
    height = xyxy[3] - xyxy[1]
    return next(i for i, (low, high) in enumerate(SIZE_BUCKETS) if low <= height < high)


def evaluate(anonymizer: Anonymizer, data_dir: Path, console: Console | None = None) -> EvalResult:
    """Run the anonymizer over every image of ``data_dir`` and count protected boxes."""
    images = sorted(p for p in (data_dir / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"no images found in {data_dir / 'images'}")
    result = EvalResult()
    margin = getattr(anonymizer.masker, "margin", 0.0)
    for path in track(images, description="anonymizing", console=console, transient=True):
        try:
            pixels = read_image(path)
        except ImageError as error:
            logger.warning("skipping %s", error)
            continue
        result.images += 1
        labels = read_labels(data_dir / "labels" / f"{path.stem}.txt", pixels.shape[1], pixels.shape[0])
        masked = np.zeros(pixels.shape[:2], bool)
        started = time.perf_counter()
        try:
            detections = anonymizer.detect(pixels)
            anonymizer.masker.mask(pixels, detections)
        except AnonymizationError as error:
            logger.warning("%s refused (would be dropped): %s", path.name, error)
            result.failed += 1
            detections = None
        result.seconds += time.perf_counter() - started
        if detections is not None:
            for x1, y1, x2, y2 in expanded_boxes(detections, pixels.shape, margin):
                masked[y1:y2, x1:x2] = True
            result.masked_fraction_sum += float(masked.mean())
        for class_id, xyxy in labels:
            key = (class_id, _bucket(xyxy))
            result.labelled[key] = result.labelled.get(key, 0) + 1
            if detections is not None and protected_share(masked, xyxy) >= PROTECTED_SHARE:
                result.protected[key] = result.protected.get(key, 0) + 1
    return result


def results_table(result: EvalResult, title: str) -> Table:
    """Recall per class and box-height bucket."""
    table = Table(title=title)
    for column in ("class", "box height (px)", "labelled", "protected", "recall"):
        table.add_column(column, justify="right" if column != "class" else "left")
    for class_id, name in enumerate(CLASS_NAMES):
        for bucket, (low, high) in enumerate(SIZE_BUCKETS):
            total = result.labelled.get((class_id, bucket), 0)
            if total:
                hit = result.protected.get((class_id, bucket), 0)
                label = f"{low}-{high}" if high < 1_000_000 else f">= {low}"
                table.add_row(name, label, str(total), str(hit), f"{hit / total:.3f}")
        recall = result.recall(class_id)
        if recall is not None:
            table.add_row(f"[bold]{name}", "all", "", "", f"[bold]{recall:.3f}")
    return table
