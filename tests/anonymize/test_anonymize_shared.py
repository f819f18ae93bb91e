"""On real labelled photos (../shared/data, skipped when absent): every labelled box is masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.anonymize.evaluate import PROTECTED_SHARE, protected_share, read_labels
from voirie.anonymize.images import read_image
from voirie.anonymize.maskers import expanded_boxes


def _unprotected(anonymizer: Anonymizer, folder: Path, limit: int) -> list[str]:
    missed = []
    for path in sorted((folder / "images").iterdir())[:limit]:
        pixels = read_image(path)
        detections = anonymizer.detect(pixels)
        masked = np.zeros(pixels.shape[:2], bool)
        for x1, y1, x2, y2 in expanded_boxes(detections, pixels.shape, anonymizer.masker.margin):
            masked[y1:y2, x1:x2] = True
        for class_id, xyxy in read_labels(folder / "labels" / f"{path.stem}.txt", pixels.shape[1], pixels.shape[0]):
            if protected_share(masked, xyxy) < PROTECTED_SHARE:
                missed.append(f"{path.name} class {class_id}")
    return missed


def test_real_faces_are_masked(anonymizer: Anonymizer, shared_data: Path) -> None:
    assert _unprotected(anonymizer, shared_data / "faces_mask", limit=12) == []


def test_real_plates_are_masked(shared_data: Path) -> None:
    # plates_it are close-ups (a plate 0.25-0.4 of the photo's height): not survey frames, so
    # the survey's plate height limit is lifted, as `voirie anonymize eval --plate-max-height 1.0`.
    closeup = Anonymizer.default(AnonymizerOptions(timeout_s=60, plate_max_height=1.0))
    assert _unprotected(closeup, shared_data / "plates_it", limit=3) == []

