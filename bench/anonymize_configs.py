"""The speed steps of the anonymizer, one after the other, with recall on every set, in one run.

Each configuration runs on the same frames, interleaved frame by frame (so a change of the
machine's load hits all of them alike): the time is detect + mask of one frame, the
recall is over all labelled boxes of each set (a box is protected when >= 90 % of it is
masked). Sets: the hard road scenes (``make-hard`` seed 0), the sample drive (frames
showing a face or a plate), faces_mask and plates_it (close-ups: plate height limit lifted,
as in docs/anonymize.md) and, with ``--real``, real survey photos with hand-checked plates
(run with the horizon of their camera).

    nice -n 10 .venv/bin/python bench/anonymize_configs.py [--hard-images 120] [--drive-stride 3]
        [--real data/real_plates] [--only "plate"] [--plate-onnx runs/plates-a/platenet.onnx]

Last line: one JSON object, per configuration its median ms per 1280x720 frame and recalls.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.anonymize.detectors import Pass
from voirie.anonymize.evaluate import PROTECTED_SHARE, protected_share
from voirie.anonymize.maskers import expanded_boxes
from voirie.lab.synth.anonymize import write_hard_set

from anonymize_passes import REAL_HORIZON, TEXT_PASSES, labelled_images, load_sets  # bench/ is on the path as a script

logger = logging.getLogger(__name__)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

PREVIOUS_PASSES = {"face_passes": (Pass(0, 1, 512), Pass(0.33, 0.75, 1280)),
                   "plate_passes": (Pass(0, 1, 640), Pass(0.45, 0.95, 1280)),
                   "plate_model": "int8", "plate_min_contrast": 80.0}
PREVIOUS_PLATES = {k: v for k, v in PREVIOUS_PASSES.items() if k != "face_passes"}
NO_EDGE = {"plate_edge_pad_px": 0, "plate_max_aspect": 1e9}  # before plates cut by the frame's edge were looked for
# Each step adds one change to the one before; the last is the default.
STEPS = {
    "previous (2 ORT threads, spinning, one detector after the other)":
        dict(threads=2, workers=1, spinning=True, **PREVIOUS_PASSES, **NO_EDGE),
    "+ no spinning": dict(threads=2, workers=1, **PREVIOUS_PASSES, **NO_EDGE),
    "+ 1 thread a session, 2 worker threads": dict(**PREVIOUS_PASSES, **NO_EDGE),
    "+ narrower face band (rows .36-.70)": dict(**PREVIOUS_PLATES, **NO_EDGE),
    "+ plate low-res pass on rows .40-1 only": dict(plate_model="int8", plate_min_contrast=80.0, **NO_EDGE),
    "+ plate band in 2 tiles (not kept)":
        dict(plate_model="int8", plate_min_contrast=80.0, plate_passes=(Pass(0.40, 1, 640), Pass(0.45, 0.95, 1280, 2)),
             **NO_EDGE),
    "+ plate model fp32, contrast >= 50": dict(plate_model="fp32", plate_passes=TEXT_PASSES, **NO_EDGE),
    "+ plate model platenet (ours, trained by the project)": dict(plate_model="platenet", **NO_EDGE),
    "+ platenet sees the top edge repeated 32 px (stripes dropped)": dict(plate_model="platenet"),
}


def build(overrides: dict, **more: object) -> Anonymizer:
    """The default anonymizer with some options changed (close-up limit lifted for plates_it).

    The horizon is fixed at mid-height: the hard scenes paste faces and plates where a level
    camera sees them, into photos whose own lines say otherwise (the estimate would follow the photos).
    """
    base = AnonymizerOptions(timeout_s=60, plate_max_height=1.0, horizon=0.5)
    return Anonymizer.default(replace(base, **{**overrides, **more}))


def masked_area(anonymizer: Anonymizer, pixels: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Boolean mask of what the anonymizer hides in ``pixels``, the seconds it took and the CPU seconds
    of all threads (what a dedicated 2-core machine would spend, whatever else runs here)."""
    started, cpu = time.perf_counter(), time.process_time()
    detections = anonymizer.detect(pixels)
    anonymizer.masker.mask(pixels, detections)
    seconds = (time.perf_counter() - started, time.process_time() - cpu)
    masked = np.zeros(pixels.shape[:2], bool)
    for x1, y1, x2, y2 in expanded_boxes(detections, pixels.shape, anonymizer.masker.margin):
        masked[y1:y2, x1:x2] = True
    return masked, seconds


def run(sets: dict, steps: dict, console: Console) -> dict:
    """Every step on every frame, interleaved; recall per set and median ms on 1280x720 frames.

    The ``real`` set (DNIT survey photos) is run with the horizon of its camera.
    """
    anonymizers = {name: build(overrides) for name, overrides in steps.items()}
    pitched = {name: build(overrides, horizon=REAL_HORIZON) for name, overrides in steps.items()} if "real" in sets else {}
    hits = {name: {s: {0: [], 1: []} for s in sets} for name in steps}
    times = {name: [] for name in steps}
    frames = [(s, item) for s, items in sets.items() for item in items]
    for set_name, (pixels, labels) in track(frames, description="frames", console=console):
        for name in steps:
            anonymizer = pitched[name] if set_name == "real" else anonymizers[name]
            masked, seconds = masked_area(anonymizer, pixels.copy())
            if pixels.shape[:2] == (720, 1280):
                times[name].append(seconds)
            for class_id, xyxy in labels:
                hits[name][set_name][class_id].append(protected_share(masked, np.asarray(xyxy, float)) >= PROTECTED_SHARE)
    return {name: {"ms": round(float(np.median([t[0] for t in times[name]])) * 1000, 1),
                   "cpu_ms": round(float(np.median([t[1] for t in times[name]])) * 1000, 1),
                   **{f"{s}_{('face', 'plate')[c]}": round(float(np.mean(v)), 4)
                      for s in sets for c, v in hits[name][s].items() if v}} for name in steps}


def main() -> None:
    """Build the sets, run the steps, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hard-images", type=int, default=120)
    parser.add_argument("--drive-stride", type=int, default=3)
    parser.add_argument("--real", type=Path, help="Labelled real survey photos (images/ + labels/, DNIT camera).")
    parser.add_argument("--only", help="Run only the steps whose name contains this text (e.g. 'plate model').")
    parser.add_argument("--plate-onnx", help="A plate network from export-plates for the platenet step.")
    args = parser.parse_args()
    console = Console(stderr=True, width=200)
    steps = {name: dict(overrides) for name, overrides in STEPS.items() if not args.only or args.only in name}
    for overrides in steps.values():
        if args.plate_onnx and overrides.get("plate_model") == "platenet":
            overrides["plate_onnx"] = args.plate_onnx
    with tempfile.TemporaryDirectory(prefix="voirie-configs-") as folder:
        write_hard_set(SHARED, Path(folder), args.hard_images, seed=0)
        sets = load_sets(Path(folder), args.drive_stride)
    if args.real:
        sets["real"] = labelled_images(args.real)
    results = run(sets, steps, console)
    table = Table(title=f"anonymizer speed steps (load average {os.getloadavg()[0]:.1f})")
    columns = list(next(iter(results.values())))
    for column in ("step", *columns):
        table.add_column(column)
    for name, row in results.items():
        table.add_row(name, *(str(row[c]) for c in columns))
    console.print(table)
    print(json.dumps({"load_average": round(os.getloadavg()[0], 2), "steps": results}))


if __name__ == "__main__":
    main()
