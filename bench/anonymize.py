"""Benchmark: voirie's anonymization stage vs deface on the same 1280x720 road clip, one run.

The clip is built by code (anonymize.synthetic): road photos from ../shared/data with
small real faces and angled plates composited in, so every frame has known boxes and
recall can be compared too. deface runs in its own virtual environment (.cache/deface-venv,
installed from the registry with its dependencies: it is not a voirie dependency) through
bench/anonymize_deface_driver.py, which mirrors deface's own video loop and CLI defaults.
Both sides decode the video, detect, mask and encode the result.

    nice -n 10 .venv/bin/python bench/anonymize.py [--frames 40]

Last line: {"voirie_fps": a, "deface_fps": b, "ratio_vs_deface": a/b, ...}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.anonymize.evaluate import protected_share
from voirie.anonymize.maskers import expanded_boxes
from voirie.lab.synth.anonymize import SCENE_SIZE, compose_scene, face_crops

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFACE_VENV = REPO / ".cache" / "deface-venv"
SURVEY_BUDGET_FPS = 12.5


def build_clip(path: Path, frames: int, seed: int = 1) -> list[list[tuple[int, tuple[int, int, int, int]]]]:
    """Write a 1280x720 MJPG clip of composited road scenes; returns the labels of each frame."""
    backgrounds = sorted((SHARED / "road_damage_cpri" / "images").glob("*.jpg"))
    faces = face_crops(SHARED / "faces_mask")
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12.5, SCENE_SIZE)
    labels = []
    for _ in range(frames):
        background = cv2.imread(str(backgrounds[int(rng.integers(len(backgrounds)))]))
        scene, pasted = compose_scene(background, faces, rng)
        writer.write(scene)
        labels.append([(p.class_id, p.xyxy) for p in pasted])
    writer.release()
    return labels


def ensure_deface_venv(console: Console) -> Path:
    """Python of a venv with deface and its real runtime dependencies (made once)."""
    python = DEFACE_VENV / "bin" / "python"
    if not python.exists():
        console.print(f"creating {DEFACE_VENV} with deface from the registry (once)")
        subprocess.run([sys.executable, "-m", "venv", str(DEFACE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "deface==1.5.0", "onnxruntime", "onnx"], check=True)
    return python


def run_voirie(clip: Path, out: Path, faces_only: bool = False) -> tuple[float, list[np.ndarray]]:
    """Decode, anonymize, encode with voirie; returns frames/s and each frame's masked area.

    ``faces_only`` drops the plate detector: the like-for-like comparison with deface,
    which finds faces only.
    """
    # The hard scenes are composed for a level camera (horizon at mid-height) on photos of a
    # pitched one: the horizon estimate would follow the photos, so the scenes' own horizon is given.
    anonymizer = Anonymizer.default(AnonymizerOptions(horizon=0.5))
    if faces_only:
        anonymizer = Anonymizer(anonymizer.detectors[:1], anonymizer.masker, anonymizer.options)
    reader = cv2.VideoCapture(str(clip))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 12.5, SCENE_SIZE)
    masks, frames = [], 0
    margin = anonymizer.masker.margin
    started = time.perf_counter()
    while True:
        ok, pixels = reader.read()
        if not ok:
            break
        detections = anonymizer.detect(pixels)
        anonymizer.masker.mask(pixels, detections)
        writer.write(pixels)
        masked = np.zeros(pixels.shape[:2], bool)
        for x1, y1, x2, y2 in expanded_boxes(detections, pixels.shape, margin):
            masked[y1:y2, x1:x2] = True
        masks.append(masked)
        frames += 1
    seconds = time.perf_counter() - started
    writer.release()
    return frames / seconds, masks


def run_deface(python: Path, clip: Path, out: Path) -> tuple[float, list[np.ndarray], str]:
    """deface's own loop in its venv; returns frames/s, masked areas (its ellipses), backend."""
    driver = REPO / "bench" / "anonymize_deface_driver.py"
    done = subprocess.run([str(python), str(driver), str(clip), str(out)], check=True, capture_output=True, text=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    masks = []
    for boxes in report["boxes"]:
        masked = np.zeros((SCENE_SIZE[1], SCENE_SIZE[0]), np.uint8)
        for x1, y1, x2, y2 in boxes:  # deface blurs the ellipse inscribed in the scaled box
            center = (int((x1 + x2) / 2), int((y1 + y2) / 2))
            cv2.ellipse(masked, center, (int((x2 - x1) / 2), int((y2 - y1) / 2)), 0, 0, 360, 1, -1)
        masks.append(masked.astype(bool))
    return report["frames"] / report["seconds"], masks, report["backend"]


def recall(labels: list, masks: list[np.ndarray], class_id: int) -> float:
    """Share of labelled boxes of ``class_id`` with >= 90 % of their area masked."""
    hits = [protected_share(m, np.array(b, float)) >= 0.9 for lab, m in zip(labels, masks) for c, b in lab if c == class_id]
    return float(np.mean(hits)) if hits else float("nan")


def _table(figures: dict, title: str) -> Table:
    table = Table(title=title)
    for column in ("", "frames/s", "face recall", "plate recall"):
        table.add_column(column)
    for side in ("voirie", "deface"):
        table.add_row(side, f"{figures[side + '_fps']}", f"{figures[side + '_face_recall']}", f"{figures[side + '_plate_recall']}")
    table.add_row("voirie, faces only", f"{figures['voirie_faces_only_fps']}", f"{figures['voirie_faces_only_face_recall']}", "-")
    return table


def _figures(voirie_fps: float, faces_fps: float, deface_fps: float, labels: list, masks: tuple) -> dict:
    """The JSON figures: frames/s, ratios, recalls, the share of the survey budget, the load."""
    voirie_masks, faces_masks, deface_masks = masks
    return {
        "voirie_fps": round(voirie_fps, 2),
        "deface_fps": round(deface_fps, 2),
        "ratio_vs_deface": round(voirie_fps / deface_fps, 2),
        "voirie_faces_only_fps": round(faces_fps, 2),
        "faces_only_ratio_vs_deface": round(faces_fps / deface_fps, 2),
        "voirie_faces_only_face_recall": round(recall(labels, faces_masks, 0), 4),
        "voirie_face_recall": round(recall(labels, voirie_masks, 0), 4),
        "deface_face_recall": round(recall(labels, deface_masks, 0), 4),
        "voirie_plate_recall": round(recall(labels, voirie_masks, 1), 4),
        "deface_plate_recall": round(recall(labels, deface_masks, 1), 4),
        "voirie_ms_per_frame": round(1000 / voirie_fps, 1),
        "survey_budget_share": round(SURVEY_BUDGET_FPS / voirie_fps, 3),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> None:
    """Build the clip, run voirie (default configuration) and deface A-B-A, print figures and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames in the clip")
    args = parser.parse_args()
    console = Console(stderr=True)
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED} (road photos and faces to build the clip)")
    python = ensure_deface_venv(console)
    with tempfile.TemporaryDirectory(prefix="voirie-bench-") as folder:
        clip = Path(folder) / "road_1280x720.avi"
        labels = build_clip(clip, args.frames)
        # A-B-A order: the machine is shared, its load drifts; our figure is the mean of a
        # run before and a run after deface's.
        before, voirie_masks = run_voirie(clip, Path(folder) / "voirie.avi")
        faces_before, faces_masks = run_voirie(clip, Path(folder) / "voirie_faces.avi", faces_only=True)
        deface_fps, deface_masks, backend = run_deface(python, clip, Path(folder) / "deface.mp4")
        faces_after, _ = run_voirie(clip, Path(folder) / "voirie_faces.avi", faces_only=True)
        after, _ = run_voirie(clip, Path(folder) / "voirie.avi")
        voirie_fps, faces_fps = (before + after) / 2, (faces_before + faces_after) / 2
        console.print(f"voirie runs: {before:.2f} and {after:.2f} frames/s, faces only {faces_before:.2f} and "
                      f"{faces_after:.2f} (deface between them)")
    figures = _figures(voirie_fps, faces_fps, deface_fps, labels, (voirie_masks, faces_masks, deface_masks))
    figures["frames"] = args.frames
    console.print(_table(figures, f"anonymization, {args.frames} frames 1280x720 (deface backend: {backend})"))
    console.print(
        f"voirie / deface: {figures['ratio_vs_deface']}x (faces only: {figures['faces_only_ratio_vs_deface']}x); "
        f"anonymization takes {figures['voirie_ms_per_frame']} ms a frame (decode, detect, mask, encode): "
        f"{figures['survey_budget_share']:.0%} of the 12.5 f/s survey budget (80 ms a frame) on this machine now "
        f"(load average {figures['load_average'][0]} on {os.cpu_count()} cores)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
