"""Counting benchmark: speed on 720p and count error per class, vs a full-resolution baseline.

    nice -n 10 .venv/bin/python bench/count.py [--quick]

1. A rendered 720p clip (60 s, 25 f/s, every class both ways, a stop-and-go car) with
   exact counts: the full-resolution detector on every frame is the baseline; the
   default (detect at 640 px wide) and a fast setting (480 px, every 2nd frame) show
   what speed costs in accuracy.
2. The real clips in ../shared/data/traffic_videos (when present), with counts made by
   hand from frame sheets (recorded below), counted with the background detector and
   with the YOLOX-Nano COCO model through the ONNX path.

Last line: JSON ``{"fps": x, "per_class_error": {...}, ...}`` (signed relative errors of
the default setting on the rendered clip; the rest under "variants" and "real").
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from voirie.edge.count.config import parse_config
from voirie.edge.count.evaluate import count_video, per_class_error
from voirie.edge.count.synth import SYNTH_VERSION, make_scene, render_video, scene_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / "results"  # git-ignored
YOLOX = SHARED / "models" / "yolox_nano_coco_416.onnx"

# Hand counts, made by stepping through frame sheets (every 6-15 frames, the counting line
# drawn) on 2026-11-22. Directions are the names of each clip's line below.
REAL_CLIPS = {
    "bgslibrary_video.avi": {
        # Top-down multi-lane one-way road: 5 cars pass x=400 left to right (frames ~78,
        # ~126, ~138, ~213, ~309).
        "truth": {("car", "eastbound"): 5},
        "line": {"id": "x400", "start": [400, 0], "end": [400, 360], "directions": ["eastbound", "westbound"],
                 "hysteresis": 6, "min_travel": 15},
        "pixels_per_metre": 35.0,
        "size_rules": [{"class_name": "pedestrian", "max_length_m": 1.0, "min_height_ratio": 1.4},
                       {"class_name": "car", "max_length_m": 7.0}, {"class_name": "truck_bus", "max_length_m": 30}],
    },
    "bgslibrary_video03.avi": {
        # Elevated view of oncoming traffic: 27 vehicles cross y=155 towards the camera,
        # one a box truck (frame ~270), the rest cars, vans and SUVs. +-1 (a car at the
        # top of the view at the last frame is not counted).
        "truth": {("car", "toward"): 26, ("truck_bus", "toward"): 1},
        "line": {"id": "y155", "start": [0, 155], "end": [265, 155], "directions": ["away", "toward"],
                 "hysteresis": 3, "min_travel": 8},
        "pixels_per_metre": 30.0,
        # Seen head-on, a box's horizontal extent is the vehicle's width.
        "size_rules": [{"class_name": "pedestrian", "max_length_m": 0.9, "min_height_ratio": 1.4},
                       {"class_name": "car", "max_length_m": 2.6}, {"class_name": "truck_bus", "max_length_m": 8}],
    },
    "intel_car-detection.mp4": {
        # Top-down parking lane: white car up (frames 61-103), grey car down (187-222),
        # red car up (194-229), white car down (320-345); exposure drops at frame ~341.
        "truth": {("car", "up"): 2, ("car", "down"): 2},
        "line": {"id": "y216", "start": [0, 216], "end": [768, 216], "directions": ["up", "down"],
                 "hysteresis": 6, "min_travel": 20},
        "pixels_per_metre": 45.0,
        "size_rules": [{"class_name": "pedestrian", "max_length_m": 1.0, "min_height_ratio": 1.4},
                       {"class_name": "car", "max_length_m": 3.5}, {"class_name": "truck_bus", "max_length_m": 30}],
    },
}


def _run(video: Path, config: dict, truth) -> dict:
    # Wall-clock f/s depends on what else the shared 2-core machine runs; f/s per CPU-second
    # of this process (all its threads) is the rate one free core would give.
    cpu = time.process_time()
    counted, fps, frames = count_video(video, parse_config(config, video.name), show_progress=False)
    cpu = time.process_time() - cpu
    errors, false_counts = per_class_error(counted, truth)
    return {"fps": round(fps, 1), "fps_per_cpu_second": round(frames / max(cpu, 1e-9), 1), "frames": frames,
            "per_class_error": errors, "false_counts": false_counts,
            "counted": sum(counted.values()), "truth": sum(truth.values())}


def synthetic(quick: bool) -> dict[str, dict]:
    """The rendered 720p clip under three settings."""
    scene = make_scene(duration_s=20.0 if quick else 60.0, width=1280, height=720, seed=7)
    # The name carries the generator's version: a changed scene must not reuse an old render.
    video = CACHE / f"synthetic_720p_{int(scene.duration_s)}s_v{SYNTH_VERSION}.mp4"
    if not video.exists():
        print(f"rendering {video.name} …", flush=True)
        render_video(scene, video)
    settings = {"baseline_full_res": {"detect_width": 1280}, "default_640": {"detect_width": 640},
                "640_every2": {"detect_width": 640, "detect_every": 2},
                "fast_480_every2": {"detect_width": 480, "detect_every": 2}}
    results = {}
    for name, overrides in settings.items():
        results[name] = _run(video, scene_config(scene, **overrides), scene.truth())
        print(f"synthetic 720p {name}: {results[name]}", flush=True)
    return results


def real_clips() -> dict[str, dict]:
    """The shared real clips, background detector and (when present) YOLOX-Nano."""
    results = {}
    for name, spec in REAL_CLIPS.items():
        video = SHARED / "traffic_videos" / name
        if not video.exists():
            continue
        base = {"camera_id": "real", "pixels_per_metre": spec["pixels_per_metre"], "lines": [spec["line"]]}
        results[f"{name}:background"] = _run(
            video, base | {"detector": {"type": "background", "size_rules": spec["size_rules"]}}, spec["truth"])
        if YOLOX.exists():
            onnx = {"type": "onnx", "model": str(YOLOX), "confidence": 0.3}
            results[f"{name}:yolox_nano"] = _run(video, base | {"detector": onnx, "detect_every": 2}, spec["truth"])
        for key in (f"{name}:background", f"{name}:yolox_nano"):
            if key in results:
                print(f"{key}: {results[key]}", flush=True)
    return results


def main() -> None:
    quick = "--quick" in sys.argv
    CACHE.mkdir(parents=True, exist_ok=True)
    variants = synthetic(quick)
    real = real_clips()
    base_fps = variants["baseline_full_res"]["fps"]
    for name, result in variants.items():
        print(f"{name}: {result['fps']} f/s ({result['fps'] / base_fps:.2f}x baseline), "
              f"errors {result['per_class_error']}")
    default = variants["default_640"]
    print(json.dumps({"fps": default["fps"], "per_class_error": default["per_class_error"],
                      "baseline_fps": base_fps, "load_average": os.getloadavg()[0],
                      "variants": variants, "real": real}))


if __name__ == "__main__":
    main()
