"""Transfer to roads a model has never seen: leave-one-highway-out folds (no torch here).

``road_damage_cpri`` holds three highways (RS-290, DF-251, RS-386). A fold trains without
one highway and is scored on all of that highway's photos; everything a fold chooses
(grouping thresholds, smallest groups) is chosen on its training photos only, so nothing
is tuned on the road it is scored on. The typed model is scored on the two-class
Brazilian labels through a many-to-one map (its three crack types merged into ``crack``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from voirie.lab.train.datasets import _write_split, _yolo_images, highway_folder, prepare_dataset
from voirie.models.errors import ModelError
from voirie.lab.train.evaluate import evaluate
from voirie.models.runtime import load_detector
from voirie.lab.train.segment_data import highway_of
from voirie.lab.train.segment_package import tune_rules, write_grouping_metadata

logger = logging.getLogger(__name__)

HIGHWAYS = ("RS-290", "DF-251", "RS-386")
TYPED_TO_CPRI = "crack_longitudinal=crack,crack_transverse=crack,crack_alligator=crack,pothole=pothole"
# Potholes keep the labels' own smallest group (150 px in a 1024-px photo): tuned on RS-290's
# large potholes (median 1,450 px) the cut rose to 600 px and deleted most of RS-386's (median 320 px).
KEEP_MIN_PIXELS = frozenset({"pothole"})


def training_highways_folder(source: Path, held_out: str | None, work: Path, every: int = 1) -> Path:
    """A YOLO folder of every ``every``-th labelled photo *not* of ``held_out`` (all highways
    when None): what a fold may tune on."""
    images, names = _yolo_images(Path(source))
    picked = [image for image in images if highway_of(image.stem) != held_out][::every]
    if not picked:
        raise ModelError(f"{source}: no photo left once highway {held_out!r} is held out")
    _write_split(picked, Path(work), names)
    return Path(work)


def box_dataset_splits(source: Path, work: Path, every: int = 1) -> tuple[Path, Path]:
    """The train (every ``every``-th photo) and val YOLO folders of a box dataset with
    ``splits/`` (RDD2022 China)."""
    prepare_dataset(Path(source), Path(work))
    if every > 1:
        images, names = _yolo_images(Path(work) / "train")
        _write_split(images[::every], Path(work) / f"train-every-{every}", names)
        return Path(work) / f"train-every-{every}", Path(work) / "val"
    return Path(work) / "train", Path(work) / "val"


def tune_typed(onnx_path: Path, box_train: Path | None, mask_tuning: Path | None) -> dict:
    """Tune a model's grouping in place (its ONNX metadata): every class the box dataset shares
    with it on the box dataset's training photos, then the (merged) crack map and the pothole on
    the mask dataset's tuning photos (they label damage as the survey will be scored). Works for
    a typed model and for a crack/pothole one. Returns the tables."""
    tables = {}
    typed = "crack" not in load_detector(onnx_path, confidence=0.0).class_names
    for folder, class_map in ((box_train, None), (mask_tuning, TYPED_TO_CPRI if typed else None)):
        if folder is None:
            continue
        detector = load_detector(onnx_path, confidence=0.0)
        rules, tables[str(folder)] = tune_rules(detector, folder, class_map, keep_min_pixels=KEEP_MIN_PIXELS)
        write_grouping_metadata(onnx_path, detector.plane_names, detector.input_size, rules, detector.grouping[1])
    return tables


def score_fold(onnx_path: Path, test_folder: Path, class_map: str | None) -> dict:
    """Per-class and overall F1 of a model on a fold's test photos, at the model's own rules."""
    result = evaluate(load_detector(onnx_path, confidence=0.0), test_folder, class_map, confidence=0.0)
    return {key: result[key] for key in ("f1", "precision", "recall", "per_class", "images", "ms_per_image")}


def fold_test_folder(source: Path, highway: str, work: Path) -> Path:
    """All of one highway's photos, as the test set of its fold."""
    return highway_folder(source, highway, work / f"test-{highway}")


def _crop(image, xyxy, size: int = 160):
    """A square tile around a box (with some context), resized to ``size``."""
    import cv2
    import numpy as np

    x0, y0, x1, y1 = xyxy
    side = max(x1 - x0, y1 - y0) * 1.8 + 24
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(image.shape[1], cx + side / 2)), int(min(image.shape[0], cy + side / 2))
    tile = image[top:bottom, left:right].copy()
    cv2.rectangle(tile, (int(x0 - left), int(y0 - top)), (int(x1 - left), int(y1 - top)), (0, 255, 255), 1)
    return cv2.resize(tile, (size, size)) if tile.size else np.zeros((size, size, 3), np.uint8)


def error_gallery(onnx_path: Path, folder: Path, class_map: str | None, class_name: str, out: Path,
                  per_row: int = 8, rows: int = 3) -> dict:
    """A picture of one class's misses (top rows) and false alarms (bottom rows) on a fold's
    test photos, each tile a crop around the box (yellow); returns the counts."""
    import cv2
    import numpy as np

    from voirie.lab.train.evaluate import YoloFolder, match, merge_for_dataset, parse_class_map

    data = YoloFolder.open(folder)
    detector = load_detector(onnx_path)
    mapping = parse_class_map(class_map, detector.class_names, data.names)
    detector, mapping = merge_for_dataset(detector, mapping, data.names)
    target = data.names.index(class_name)
    misses, alarms, hits = [], [], 0
    for path in data.images:
        image = cv2.imread(str(path))
        found = detector.detect(image)
        picked = np.array([mapping.get(int(c), -1) == target for c in found.class_id], bool)
        boxes, scores = found.xyxy[picked], found.confidence[picked]
        truth_xyxy, truth_ids = data.boxes(path, image.shape[1], image.shape[0])
        truth = truth_xyxy[truth_ids == target]
        tp = match(boxes, scores, truth)
        hits += int(tp.sum())
        alarms += [_crop(image, b) for b in boxes[~tp]]
        found_truth = match(truth, np.ones(len(truth)), boxes[tp]) if tp.any() else np.zeros(len(truth), bool)
        misses += [_crop(image, b) for b in truth[~found_truth]]
    _write_gallery(misses, alarms, out, per_row, rows)
    return {"class": class_name, "found": hits, "missed": len(misses), "false_alarms": len(alarms)}


def _write_gallery(misses: list, alarms: list, out: Path, per_row: int, rows: int) -> None:
    import cv2
    import numpy as np

    def band(tiles: list, label: str):
        tiles = (tiles[:: max(1, len(tiles) // (per_row * rows))] + [np.zeros((160, 160, 3), np.uint8)] * per_row * rows)
        grid = np.vstack([np.hstack(tiles[r * per_row:(r + 1) * per_row]) for r in range(rows)])
        header = np.full((36, grid.shape[1], 3), 255, np.uint8)
        cv2.putText(header, label, (8, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
        return np.vstack((header, grid))

    picture = np.vstack((band(misses, f"missed ({len(misses)})"), band(alarms, f"false alarms ({len(alarms)})")))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), picture)
