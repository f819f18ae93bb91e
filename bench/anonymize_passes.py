"""Cost and recall of each detector pass, and of pass combinations, on every labelled set.

Each candidate pass (rows top..bottom of the frame, longer side <= max_side) runs once per
image; its boxes and its time are kept. Boxes of several passes are unioned before masking,
so the recall of any combination of passes is computed from the kept boxes without running
the networks again; its cost is the sum of its passes' median times. Sets: the hard road
scenes (built here, ``make-hard`` seed 0), faces_mask and plates_it (close-ups, plates with
``plate_max_height=1.0`` as in docs/anonymize.md) and the sample drive (rendered by the
capture stage with its own camera: 1.5 m up, pitched 3 degrees down, so a check of the bands
on a geometry the hard set was not built from).

    nice -n 10 .venv/bin/python bench/anonymize_passes.py [--hard-images 120] [--drive-stride 3]

Sessions run with one thread and no spinning (the default, see docs/anonymize.md). Last line:
one JSON object with every combination's cost and recall.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from voirie.anonymize.anonymizer import AnonymizerOptions
from voirie.anonymize.centerface import CenterFace
from voirie.anonymize.detectors import FaceDetector, Pass, PlateDetector
from voirie.anonymize.evaluate import PROTECTED_SHARE, protected_share, read_labels
from voirie.anonymize.images import read_image
from voirie.anonymize.maskers import expanded_boxes
from voirie.anonymize.onnx_model import CENTERFACE_INT8, PPOCR_DET_INT8
from voirie.anonymize.plates import TextDetector
from voirie.lab.synth.anonymize import write_hard_set

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

# The DNIT survey camera (real plates, docs/anonymize.md) is pitched down: its horizon is at the top edge.
REAL_HORIZON = 0.0
# The plate passes the text detector was the default with (before platenet and its 320 px pass).
TEXT_PASSES = (Pass(0.40, 1.0, 640), Pass(0.45, 0.95, 1280))

FACE_WHOLE = [Pass(0, 1, s) for s in (384, 448, 512, 640)]
FACE_BANDS = [Pass(0.33, 0.75, 1280), Pass(0.36, 0.70, 1280), Pass(0.38, 0.66, 1280), Pass(0.33, 0.75, 1024)]
PLATE_WHOLE = [Pass(0, 1, s) for s in (480, 640, 800)]
PLATE_BANDS = [Pass(0.45, 0.95, 1280), Pass(0.45, 0.80, 1280), Pass(0.42, 0.72, 1280), Pass(0.45, 0.70, 1280),
               Pass(0.45, 0.95, 960), Pass(0.42, 0.80, 960)]


def label(one: Pass) -> str:
    """Short name of a pass: rows and scale."""
    return f"{one.top:.2f}-{one.bottom:.2f}@{one.max_side}"


def load_sets(hard_dir: Path, drive_stride: int) -> dict[str, list[tuple[np.ndarray, list]]]:
    """Every set as (pixels, [(class, xyxy)]) pairs."""
    sets = {}
    for name, folder in (("hard", hard_dir), ("faces_mask", SHARED / "faces_mask"), ("plates_it", SHARED / "plates_it")):
        sets[name] = labelled_images(folder)
    sets["drive"] = drive_frames(drive_stride)
    return sets


def labelled_images(folder: Path) -> list[tuple[np.ndarray, list]]:
    """(pixels, [(class, xyxy)]) of every image of an eval-layout folder."""
    items = []
    for path in sorted((folder / "images").iterdir()):
        pixels = read_image(path)
        items.append((pixels, read_labels(folder / "labels" / f"{path.stem}.txt", pixels.shape[1], pixels.shape[0])))
    return items


def drive_frames(stride: int, damage: bool = False) -> list[tuple[np.ndarray, list]]:
    """Sample-drive frames that show a face or a plate, with their true boxes (face: its core);
    with ``damage``, also the labelled road damage of the photo each frame shows (class 2)."""
    import cv2

    from voirie.anonymize.roadmask import FACE_INSET, _core
    from voirie.lab.sample.drive import make_sample_drive

    drive = make_sample_drive()
    drive_truth = json.loads(drive.truth.read_text(encoding="utf-8"))
    truth, photos = drive_truth["per_frame"], drive_truth["photos"]
    capture, items = cv2.VideoCapture(str(drive.video)), []
    for index, frame_truth in enumerate(truth):
        ok, pixels = capture.read()
        if not ok:
            break
        labels = [(c, _core(frame_truth[k], inset)) for c, k, inset in ((0, "face_xyxy", FACE_INSET), (1, "plate_xyxy", 0.0))
                  if frame_truth.get(k)]
        if labels and index % stride == 0:
            road = [(2, np.asarray(d["xyxy"], float)) for d in photos[frame_truth["photo"]]["damage"]] if damage else []
            items.append((pixels, labels + road))
    capture.release()
    return items


def run_passes(sets: dict, console: Console) -> tuple[dict, dict]:
    """Boxes per (detector, pass, set, image) and median ms per pass on 1280x720 frames."""
    options = AnonymizerOptions()
    face_net, text_net = CenterFace(1, CENTERFACE_INT8), TextDetector(1, PPOCR_DET_INT8)
    filters = (options.plate_max_height, options.plate_min_aspect, options.plate_min_contrast)
    boxes, times = {}, {}
    jobs = [("face", p, FaceDetector(face_net, options.face_threshold, (p,))) for p in FACE_WHOLE + FACE_BANDS]
    jobs += [("plate", p, PlateDetector(text_net, options.plate_threshold or text_net.default_threshold, (p,), *filters)) for p in PLATE_WHOLE + PLATE_BANDS]
    closeup = {p: PlateDetector(text_net, options.plate_threshold or text_net.default_threshold, (p,), 1.0, *filters[1:]) for p in PLATE_WHOLE + PLATE_BANDS}
    for kind, one, detector in track(jobs, description="passes", console=console):
        detector.detect(np.zeros((720, 1280, 3), np.uint8), 60)  # warm up this input size
        spent = []
        for set_name, items in sets.items():
            use = closeup[one] if kind == "plate" and set_name == "plates_it" else detector
            for index, (pixels, _) in enumerate(items):
                started = time.perf_counter()
                found = use.detect(pixels, 60)
                if pixels.shape[:2] == (720, 1280):
                    spent.append(time.perf_counter() - started)
                boxes[(kind, one, set_name, index)] = found.xyxy
        times[(kind, one)] = float(np.median(spent)) * 1000
    return boxes, times


def recall(sets: dict, boxes: dict, passes: dict[str, tuple[Pass, ...]], margin: float) -> dict[str, dict]:
    """Face and plate recall per set for one combination of passes (union of their boxes)."""
    out = {}
    for set_name, items in sets.items():
        hits = {0: [], 1: []}
        for index, (pixels, labels) in enumerate(items):
            masked = np.zeros(pixels.shape[:2], bool)
            for kind, chosen in passes.items():
                for one in chosen:
                    for x1, y1, x2, y2 in _grown(boxes[(kind, one, set_name, index)], pixels.shape, margin):
                        masked[y1:y2, x1:x2] = True
            for class_id, xyxy in labels:
                hits[class_id].append(protected_share(masked, np.asarray(xyxy, float)) >= PROTECTED_SHARE)
        out[set_name] = {c: round(float(np.mean(v)), 4) if v else None for c, v in hits.items()}
    return out


def _grown(xyxy: np.ndarray, shape: tuple, margin: float) -> np.ndarray:
    from voirie.records import Detections

    detections = Detections(xyxy=xyxy.astype(np.float32), confidence=np.ones(len(xyxy), np.float32),
                            class_id=np.zeros(len(xyxy), np.int64), class_names=("face", "plate"))
    return expanded_boxes(detections, shape, margin)


def combinations(kind: str) -> list[tuple[Pass, ...]]:
    """Whole-frame pass alone, or with one full-resolution band."""
    whole, bands = (FACE_WHOLE, FACE_BANDS) if kind == "face" else (PLATE_WHOLE, PLATE_BANDS)
    return [(w,) for w in whole] + [(w, b) for w, b in itertools.product(whole, bands)] + [(b,) for b in bands]


def main() -> None:
    """Run every pass once, then print cost and recall of every combination."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hard-images", type=int, default=120)
    parser.add_argument("--drive-stride", type=int, default=3)
    args = parser.parse_args()
    console = Console(stderr=True)
    margin = AnonymizerOptions().margin
    with tempfile.TemporaryDirectory(prefix="voirie-passes-") as folder:
        write_hard_set(SHARED, Path(folder), args.hard_images, seed=0)
        sets = load_sets(Path(folder), args.drive_stride)
    boxes, times = run_passes(sets, console)
    for (kind, one), ms in times.items():
        print(f"{kind:5s} pass {label(one):16s} {ms:6.1f} ms (median, 1280x720, 1 thread)")
    results = []
    for kind, class_id, sets_used in (("face", 0, ("hard", "faces_mask", "drive")), ("plate", 1, ("hard", "plates_it", "drive"))):
        table = Table(title=f"{kind} passes: cost and recall")
        for column in ("passes", "ms", *sets_used):
            table.add_column(column)
        for combo in combinations(kind):
            found = recall(sets, boxes, {kind: combo}, margin)
            ms = sum(times[(kind, one)] for one in combo)
            row = {"kind": kind, "passes": [label(p) for p in combo], "ms": round(ms, 1)}
            row.update({s: found[s][class_id] for s in sets_used})
            results.append(row)
            table.add_row(" + ".join(row["passes"]), f"{ms:.1f}", *(str(row[s]) for s in sets_used))
        console.print(table)
    counts = {name: sum(len(labels) for _, labels in items) for name, items in sets.items()}
    print(json.dumps({"labelled_boxes": counts, "combinations": results}))


if __name__ == "__main__":
    main()
