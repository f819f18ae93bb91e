"""Recall of the anonymizer on a labelled set (images/ + YOLO labels/, class 0 face, 1 plate).

A labelled box counts as protected when at least 90 % of its area lies inside the masked
area (the union of the masker's expanded boxes). We also report the share of all pixels
masked (over-masking costs evidence for the damage model) and the frames per second of
detect + mask.

A label line may carry a sixth field, the id of the vehicle (or person) the box belongs
to: ``1 cx cy w h car-17``. The same id in several images is the same vehicle seen again.
Recall is then also counted per vehicle: a vehicle is protected only when every box of it
is (a plate that leaks in one frame of ten leaks), binned by its smallest box.

Images are read in name order, as one drive: the anonymizer's horizon estimate
(anonymize/horizon.py) carries from one image to the next, as it does in a survey.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
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
# Label box height, pixels: plates of 6-16 px are the hard ones on survey footage (issue 20).
SIZE_BUCKETS = ((0, 8), (8, 12), (12, 16), (16, 32), (32, 64), (64, 1_000_000))
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class EvalResult:
    """Counts per class and size bucket, plus totals."""

    labelled: dict[tuple[int, int], int] = field(default_factory=dict)  # (class, bucket) -> count
    protected: dict[tuple[int, int], int] = field(default_factory=dict)
    # (class, vehicle id) -> (every box protected so far, smallest box height)
    objects: dict[tuple[int, str], tuple[bool, float]] = field(default_factory=dict)
    horizons: Counter = field(default_factory=Counter)  # horizon source -> images anonymized with it
    images: int = 0
    failed: int = 0  # frames the anonymizer refused (they would be dropped, never written)
    masked_fraction_sum: float = 0.0
    seconds: float = 0.0

    def count_box(self, class_id: int, xyxy: np.ndarray, protected: bool, object_id: str | None) -> None:
        """One labelled box: per box, and towards its vehicle when it has an id."""
        key = (class_id, _bucket(xyxy[3] - xyxy[1]))
        self.labelled[key] = self.labelled.get(key, 0) + 1
        if protected:
            self.protected[key] = self.protected.get(key, 0) + 1
        if object_id is not None:
            was_protected, smallest = self.objects.get((class_id, object_id), (True, np.inf))
            self.objects[(class_id, object_id)] = (was_protected and protected, min(smallest, xyxy[3] - xyxy[1]))

    def recall(self, class_id: int) -> float | None:
        """Protected / labelled boxes for one class (None when nothing is labelled)."""
        total = sum(v for (c, _), v in self.labelled.items() if c == class_id)
        hit = sum(v for (c, _), v in self.protected.items() if c == class_id)
        return hit / total if total else None

    def object_counts(self, class_id: int) -> dict[int, tuple[int, int]]:
        """Bucket of the smallest box -> (objects, objects with every box protected), for one class."""
        counts: dict[int, tuple[int, int]] = {}
        for (c, _), (protected, smallest) in self.objects.items():
            if c == class_id:
                total, hit = counts.get(_bucket(smallest), (0, 0))
                counts[_bucket(smallest)] = (total + 1, hit + int(protected))
        return counts

    def object_recall(self, class_id: int) -> float | None:
        """Share of the class's ids with every box protected (None when no label has an id)."""
        counts = self.object_counts(class_id).values()
        total = sum(t for t, _ in counts)
        return sum(h for _, h in counts) / total if total else None

    def summary(self) -> dict[str, object]:
        """The JSON line of ``voirie anonymize eval``."""
        done = max(self.images - self.failed, 1)
        return {
            "face_recall": _round(self.recall(0)),
            "plate_recall": _round(self.recall(1)),
            "vehicle_recall": _round(self.object_recall(1)),
            "masked_area_fraction": round(self.masked_fraction_sum / done, 4),
            "frames_per_s": round(done / self.seconds, 2) if self.seconds else 0.0,
            "images": self.images,
            "horizon": dict(sorted(self.horizons.items())),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def read_labels(path: Path, width: int, height: int) -> list[tuple[int, np.ndarray]]:
    """YOLO lines (class cx cy w h, normalised) to (class, xyxy pixels); bad lines raise ValueError."""
    return [(class_id, xyxy) for class_id, xyxy, _ in read_labels_with_ids(path, width, height)]


def read_labels_with_ids(path: Path, width: int, height: int) -> list[tuple[int, np.ndarray, str | None]]:
    """``class cx cy w h [vehicle_id]`` lines to (class, xyxy pixels, id or None); bad lines raise ValueError.

    Lines starting with ``#`` are comments (the origin of hand-made labels).
    """
    boxes = []
    if not path.is_file():
        return boxes
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) not in (5, 6):
            raise ValueError(f"{path}:{number}: expected 'class cx cy w h [vehicle_id]', got {line!r}")
        try:
            class_id, (cx, cy, w, h) = int(parts[0]), (float(v) for v in parts[1:5])
        except ValueError as error:
            raise ValueError(f"{path}:{number}: expected 'class cx cy w h [vehicle_id]', got {line!r}") from error
        xyxy = np.array([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
        boxes.append((class_id, xyxy, parts[5] if len(parts) == 6 else None))
    return boxes


def protected_share(masked: np.ndarray, xyxy: np.ndarray) -> float:
    """Share of the box's pixels that are inside ``masked`` (boolean HxW)."""
    h, w = masked.shape
    x1, y1 = int(np.clip(np.floor(xyxy[0]), 0, w)), int(np.clip(np.floor(xyxy[1]), 0, h))
    x2, y2 = int(np.clip(np.ceil(xyxy[2]), 0, w)), int(np.clip(np.ceil(xyxy[3]), 0, h))
    if x2 <= x1 or y2 <= y1:
        return 1.0  # a box entirely outside the image shows nothing
    return float(masked[y1:y2, x1:x2].mean())


def _bucket(height: float) -> int:
    height = round(float(height), 3)  # a box 8 px tall read back from normalised labels is 7.9999...
    return next(i for i, (low, high) in enumerate(SIZE_BUCKETS) if low <= height < high)


def evaluate(anonymizer: Anonymizer, data_dir: Path, console: Console | None = None) -> EvalResult:
    """Run the anonymizer over every image of ``data_dir`` (in name order) and count protected boxes."""
    images = sorted(p for p in (data_dir / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"no images found in {data_dir / 'images'}")
    result = EvalResult()
    for path in track(images, description="anonymizing", console=console, transient=True):
        try:
            pixels = read_image(path)
        except ImageError as error:
            logger.warning("skipping %s", error)
            continue
        result.images += 1
        labels = read_labels_with_ids(data_dir / "labels" / f"{path.stem}.txt", pixels.shape[1], pixels.shape[0])
        masked = _masked_area(anonymizer, pixels, path.name, result)
        for class_id, xyxy, object_id in labels:
            protected = masked is not None and protected_share(masked, xyxy) >= PROTECTED_SHARE
            result.count_box(class_id, xyxy, protected, object_id)
    return result


def _masked_area(anonymizer: Anonymizer, pixels: np.ndarray, name: str, result: EvalResult) -> np.ndarray | None:
    """Detect and mask one image; the boolean mask of what was masked, None when the frame was refused."""
    started = time.perf_counter()
    try:
        detections, view = anonymizer.detect_with_horizon(pixels)
        anonymizer.masker.mask(pixels, detections)
    except AnonymizationError as error:
        logger.warning("%s refused (would be dropped): %s", name, error)
        result.failed += 1
        return None
    finally:
        result.seconds += time.perf_counter() - started
    result.horizons[view.source if view is not None else "as given"] += 1
    masked = np.zeros(pixels.shape[:2], bool)
    for x1, y1, x2, y2 in expanded_boxes(detections, pixels.shape, getattr(anonymizer.masker, "margin", 0.0)):
        masked[y1:y2, x1:x2] = True
    result.masked_fraction_sum += float(masked.mean())
    return masked


def results_table(result: EvalResult, title: str) -> Table:
    """Recall per class and box-height bucket, per box and (when labels carry ids) per vehicle."""
    with_ids = bool(result.objects)
    table = Table(title=title)
    columns = ["class", "box height (px)", "boxes", "protected", "recall"]
    columns += ["vehicles (by smallest box)", "all boxes protected", "vehicle recall"] if with_ids else []
    for column in columns:
        table.add_column(column, justify="right" if column != "class" else "left")
    for class_id, name in enumerate(CLASS_NAMES):
        objects = result.object_counts(class_id)
        for bucket, (low, high) in enumerate(SIZE_BUCKETS):
            total = result.labelled.get((class_id, bucket), 0)
            if total or bucket in objects:
                hit = result.protected.get((class_id, bucket), 0)
                label = f"{low}-{high}" if high < 1_000_000 else f">= {low}"
                table.add_row(name, label, str(total), str(hit), _ratio(hit, total), *_object_cells(objects, bucket, with_ids))
        recall = result.recall(class_id)
        if recall is not None:
            whole = result.object_recall(class_id)
            extra = ["", "", f"[bold]{whole:.3f}" if whole is not None else "-"] if with_ids else []
            table.add_row(f"[bold]{name}", "all", "", "", f"[bold]{recall:.3f}", *extra)
    return table


def _ratio(hit: int, total: int) -> str:
    return f"{hit / total:.3f}" if total else "-"


def _object_cells(objects: dict[int, tuple[int, int]], bucket: int, with_ids: bool) -> list[str]:
    if not with_ids:
        return []
    total, hit = objects.get(bucket, (0, 0))
    return [str(total), str(hit), _ratio(hit, total)]
