"""Counting benchmark: speed on 720p and count error per class, vs baselines in the same run.

    nice -n 10 .venv/bin/python bench/count.py [--quick]

1. A rendered 720p clip (60 s, 25 f/s, every class both ways, a stop-and-go car) with
   exact counts, counted with the background detector: full resolution on every frame is
   the baseline; detecting at 640 px or every 2nd frame shows what speed costs.
2. The default config (the shipped `count-default` detector, a config with only a line) on
   a 720p stream made from a real clip (bgslibrary_video03 scaled to 960×720 and padded to
   1280×720, 30 f/s), detecting every frame (the baseline), every 2nd and every 3rd frame.
3. The real clips in ../shared/data/traffic_videos (when present) against the hand counts
   in bench/count_truth/ (how they were made: its README), with their minimal configs (the
   default detector), and with the background detector and hand-set sizes for comparison.

Last line: JSON ``{"fps": x, "per_class_error": {...}, "real_per_class_error": {...}, ...}``:
``fps`` is the default config on the 720p stream; ``per_class_error`` the rendered clip's
signed relative errors; ``real_per_class_error`` per clip and class ``counted``, ``truth``
and the signed ``error`` (``null`` where the truth is 0, ``note`` where a class appears once
or twice: a percentage of 1 says nothing).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter as Tally
from pathlib import Path

import cv2

from voirie.edge.count.config import CLASSES, load_config, parse_config
from voirie.edge.count.evaluate import count_video, per_class_error, read_truth
from voirie.edge.count.synth import SYNTH_VERSION, make_scene, render_video, scene_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / "results"  # git-ignored
TRUTH = ROOT / "bench" / "count_truth"

# Background-detector settings found by hand per clip (the comparison the default replaced).
BACKGROUND = {
    "bgslibrary_video.avi": {
        "pixels_per_metre": 35.0,
        "size_rules": [{"class_name": "pedestrian", "max_length_m": 1.0, "min_height_ratio": 1.4},
                       {"class_name": "car", "max_length_m": 7.0}, {"class_name": "truck_bus", "max_length_m": 30}],
    },
    "bgslibrary_video03.avi": {
        "pixels_per_metre": 30.0,
        # Seen head-on, a box's horizontal extent is the vehicle's width.
        "size_rules": [{"class_name": "pedestrian", "max_length_m": 0.9, "min_height_ratio": 1.4},
                       {"class_name": "car", "max_length_m": 2.6}, {"class_name": "truck_bus", "max_length_m": 8}],
    },
    "intel_car-detection.mp4": {
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


def class_table(counted: Tally, truth: Tally) -> dict[str, dict]:
    """Per class: counted, truth, signed error; a class seen once or twice gets a note instead."""
    table = {}
    for name in CLASSES:
        c = sum(n for (k, _), n in counted.items() if k == name)
        t = sum(n for (k, _), n in truth.items() if k == name)
        if not c and not t:
            continue
        row = {"counted": c, "truth": t, "error": round((c - t) / t, 4) if t else None}
        if 0 < t <= 2:
            row["note"] = f"{c} counted of {t}: too few for a percentage"
        table[name] = row
    return table


def _clip_of(config: Path) -> Path | None:
    found = sorted((SHARED / "traffic_videos").glob(config.stem + ".*"))
    return next((path for path in found if path.suffix in (".avi", ".mp4", ".gif")), None)


def real_clips() -> tuple[dict[str, dict], dict[str, dict]]:
    """The shared real clips with their minimal configs, and the background detector for comparison."""
    results, tables = {}, {}
    for config_path in sorted(TRUTH.glob("*.toml")):
        video = _clip_of(config_path)
        if video is None:
            continue
        truth = read_truth(config_path.with_suffix(".csv"))
        default = load_config(config_path)
        cpu = time.process_time()
        counted, fps, frames = count_video(video, default, show_progress=False)
        tables[video.name] = class_table(counted, truth)
        results[f"{video.name}:default"] = {"fps": round(fps, 1), "frames": frames,
                                            "fps_per_cpu_second": round(frames / max(time.process_time() - cpu, 1e-9), 1),
                                            "per_class": tables[video.name]}
        print(f"{video.name} default: {results[f'{video.name}:default']}", flush=True)
        if video.name in BACKGROUND:
            spec = BACKGROUND[video.name]
            data = default.model_dump(mode="json", exclude={"detector", "pixels_per_metre"})
            data |= {"pixels_per_metre": spec["pixels_per_metre"],
                     "detector": {"type": "background", "size_rules": spec["size_rules"]}}
            results[f"{video.name}:background"] = _run(video, data, truth)
            print(f"{video.name} background: {results[f'{video.name}:background']}", flush=True)
    return results, tables


def stream_720p() -> Path | None:
    """A 720p, 30 f/s stream with real road users (bgslibrary_video03 scaled up and padded)."""
    source = SHARED / "traffic_videos" / "bgslibrary_video03.avi"
    target = CACHE / "real_720p_video03.mp4"
    if target.exists() or not source.exists():
        return target if target.exists() else None
    capture = cv2.VideoCapture(str(source))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 2 == 0:  # 60 f/s source -> 30 f/s
            writer.write(cv2.copyMakeBorder(cv2.resize(frame, (960, 720)), 0, 0, 160, 160, cv2.BORDER_CONSTANT))
        index += 1
    writer.release()
    return target


def default_speed(quick: bool) -> dict[str, dict]:
    """The default config on a 720p stream: every frame (baseline), every 2nd, every 3rd."""
    video = stream_720p()
    if video is None:
        return {}
    truth = Tally({("car", "toward"): 26, ("truck_bus", "toward"): 1})  # bench/count_truth/bgslibrary_video03.csv
    line = {"id": "y155", "start": [160, 465], "end": [1120, 465], "directions": ["away", "toward"]}
    results = {}
    for every in (1, 2) if quick else (1, 2, 3):
        results[f"default_720p_every{every}"] = _run(video, {"lines": [line], "detect_every": every}, truth)
        print(f"720p default every {every}: {results[f'default_720p_every{every}']}", flush=True)
    return results


def main() -> None:
    quick = "--quick" in sys.argv
    CACHE.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    speed = default_speed(quick)
    variants = synthetic(quick)
    real, tables = real_clips()
    base_fps = variants["baseline_full_res"]["fps"]
    for name, result in variants.items():
        print(f"{name}: {result['fps']} f/s ({result['fps'] / base_fps:.2f}x baseline), "
              f"errors {result['per_class_error']}")
    default = speed.get("default_720p_every1") or variants["default_640"]
    print(json.dumps({"fps": default["fps"], "fps_per_cpu_second": default["fps_per_cpu_second"],
                      "per_class_error": variants["default_640"]["per_class_error"],
                      "real_per_class_error": tables, "load_average": [load_before, os.getloadavg()[0]],
                      "cpu_count": os.cpu_count(), "default_720p": speed, "synthetic_background": variants,
                      "real": real}))


if __name__ == "__main__":
    main()
