"""Plate recall against road surface masked, per plate threshold, for the plate models.

Only the plate detector runs (faces do not change with it), with the default passes (the
text detector: the two passes it was the default with) and plausibility filter. Sets: the hard road scenes (``make-hard`` seed 0), plates_it
(close-ups: height limit lifted), the sample drive (frames showing a plate; and the share
of its road surface masked, which the damage model loses) and, with ``--real``, real
survey photos with hand-checked plates (run with the horizon of their camera, 0.0).

    nice -n 10 .venv/bin/python bench/anonymize_plate_threshold.py --real data/real_plates_train --real data/real_plates_val \\
        [--models platenet,fp32] [--thresholds 0.05,0.1,0.2,0.3,0.5] [--plate-onnx FILE] [--plot FILE.png]

Last line: one JSON object, per model and threshold the recall of every set, the mean share
of the drive's road masked and the median CPU ms of the plate passes on a 1280x720 frame.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from voirie.anonymize.anonymizer import AnonymizerOptions, plate_network
from voirie.anonymize.detectors import PlateDetector, shifted
from voirie.anonymize.evaluate import PROTECTED_SHARE, protected_share
from voirie.anonymize.maskers import expanded_boxes
from voirie.anonymize.roadmask import damage_mask
from voirie.lab.synth.anonymize import write_hard_set

from anonymize_passes import REAL_HORIZON, TEXT_PASSES, drive_frames, labelled_images  # bench/ is on the path as a script

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def plate_detectors(model: str, threshold: float, plate_onnx: str | None) -> dict[str, PlateDetector]:
    """The default plate detector of ``model`` at ``threshold``: as on the road, for close-ups, for the DNIT camera."""
    options = AnonymizerOptions(plate_model=model, plate_threshold=threshold,
                                plate_onnx=plate_onnx if model == "platenet" else None)
    network = plate_network(options)
    filters = (options.plate_max_height, options.plate_min_aspect, options.plate_min_contrast)
    passes = options.plate_passes if model == "platenet" else TEXT_PASSES
    return {
        "road": PlateDetector(network, threshold, passes, *filters),
        "closeup": PlateDetector(network, threshold, passes, 1.0, *filters[1:]),
        "pitched": PlateDetector(network, threshold, shifted(passes, REAL_HORIZON - 0.5), *filters),
    }


def measure(sets: dict, detectors: dict[str, PlateDetector], margin: float) -> dict[str, float]:
    """Plate recall per set, the drive's mean share of labelled road damage masked and the median CPU ms
    on 1280x720 frames."""
    use = {"plates_it": "closeup"}
    out, cpu = {}, []
    for set_name, items in sets.items():
        hits, road_shares = [], []
        for pixels, labels in items:
            started = time.process_time()
            kind = "pitched" if set_name.startswith("real") else use.get(set_name, "road")
            found = detectors[kind].detect(pixels, 60)
            if pixels.shape[:2] == (720, 1280):
                cpu.append(time.process_time() - started)
            masked = np.zeros(pixels.shape[:2], bool)
            for x1, y1, x2, y2 in expanded_boxes(found, pixels.shape, margin):
                masked[y1:y2, x1:x2] = True
            hits += [protected_share(masked, np.asarray(xyxy, float)) >= PROTECTED_SHARE for c, xyxy in labels if c == 1]
            road = damage_mask([{"xyxy": xyxy} for c, xyxy in labels if c == 2], *pixels.shape[1::-1])
            if set_name == "drive" and road.any():
                road_shares.append(float(masked[road].mean()))
        out[f"{set_name}_plate"] = round(float(np.mean(hits)), 4) if hits else None
        if road_shares:
            out["drive_road_masked"] = round(float(np.mean(road_shares)), 4)
    out["cpu_ms"] = round(float(np.median(cpu)) * 1000, 1) if cpu else None
    return out


def main() -> None:
    """Build the sets, sweep the thresholds of each model, print a table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hard-images", type=int, default=40)
    parser.add_argument("--drive-stride", type=int, default=4)
    parser.add_argument("--real", type=Path, action="append", default=[],
                        help="Labelled real survey photos (images/ + labels/, DNIT camera); repeatable.")
    parser.add_argument("--models", default="platenet,fp32")
    parser.add_argument("--thresholds", default="0.05,0.1,0.2,0.3,0.5")
    parser.add_argument("--plate-onnx", help="A plate network from export-plates instead of the shipped one.")
    parser.add_argument("--plot", type=Path, help="Write a picture of the sweep here (PNG).")
    args = parser.parse_args()
    console = Console(stderr=True, width=200)
    with tempfile.TemporaryDirectory(prefix="voirie-threshold-") as folder:
        write_hard_set(SHARED, Path(folder), args.hard_images, seed=0)
        sets = {"hard": labelled_images(Path(folder)), "plates_it": labelled_images(SHARED / "plates_it")}
    sets["drive"] = drive_frames(args.drive_stride, damage=True)
    for folder in args.real:
        sets[folder.name if folder.name.startswith("real") else f"real_{folder.name}"] = labelled_images(folder)
    margin = AnonymizerOptions().margin
    runs = [(m, float(t)) for m in args.models.split(",") for t in args.thresholds.split(",")]
    results = []
    for model, threshold in track(runs, description="models x thresholds", console=console):
        row = {"model": model, "threshold": threshold}
        row.update(measure(sets, plate_detectors(model, threshold, args.plate_onnx), margin))
        results.append(row)
    table = Table(title="plate recall and road masked per threshold")
    for column in results[0]:
        table.add_column(column)
    for row in results:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    counts = {name: sum(c == 1 for items in [v] for _, labels in items for c, _ in labels) for name, v in sets.items()}
    if args.plot:
        plot(results, counts, args.plot)
    print(json.dumps({"plates": counts, "runs": results}))


def plot(results: list[dict], counts: dict[str, int], path: Path) -> None:
    """Recall per set against the threshold (lines), each other model as a dashed level, road masked below."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    ours = [r for r in results if r["model"] == "platenet"]
    others = [r for r in results if r["model"] != "platenet"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(3, 1))
    for index, name in enumerate(counts):
        colour = f"C{index}"
        top.plot([r["threshold"] for r in ours], [r[f"{name}_plate"] for r in ours], "o-", color=colour,
                 label=f"{name} ({counts[name]} plates)")
        if others:
            top.axhline(others[0][f"{name}_plate"], color=colour, ls="--", lw=1)
    top.set_ylabel("plates protected (>= 90 % masked)")
    top.set_title(f"platenet per threshold; dashed: {others[0]['model'] + ' text detector' if others else ''}")
    top.legend(fontsize=8, loc="lower left")
    top.set_ylim(0, 1.02)
    bottom.plot([r["threshold"] for r in ours], [100 * r["drive_road_masked"] for r in ours], "o-", color="k")
    if others:
        bottom.axhline(100 * others[0]["drive_road_masked"], color="k", ls="--", lw=1)
    bottom.set_ylabel("drive road\nmasked (%)")
    bottom.set_xlabel("plate threshold")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
