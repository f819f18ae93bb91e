"""Leave-one-highway-out transfer of the damage model, plus the second country's val split.

For each fold (a highway held out), the fold's checkpoint (trained without that highway:
``voirie train damage-seg --exclude-highway HW ...``) is exported, its grouping tuned on
the box dataset's training photos and on the *other* highways' photos, then scored on all
of the held-out highway's photos; a crack/pothole checkpoint has its crack groups typed by
shape first (chosen on the box dataset's training photos, as the shipped model). The previous
default is scored on the same folds (it
saw all three highways in training: its numbers are optimistic). Prints one JSON line per
result and the summary last.

    .venv/bin/python bench/damage_transfer.py --cpri ../shared/data/road_damage_cpri \
        --cn ../shared/data/road_damage_rdd2022_cn --fold RS-290=runs/fold-RS-290-yolox/last.pt ...
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from voirie.lab.train.evaluate import evaluate
from voirie.models.runtime import load_detector
from voirie.lab.train.segment_package import tune_crack_typing, write_crack_typing
from voirie.lab.train.transfer import (HIGHWAYS, TYPED_TO_CPRI, box_dataset_splits, error_gallery, fold_test_folder,
                                    score_fold, training_highways_folder, tune_typed)


def export_fold(checkpoint: Path, out: Path, flip: bool) -> Path:
    from voirie.lab.train.segment_train import export_segmentation

    return export_segmentation(checkpoint, out, flip=flip)


def run_fold(highway: str, checkpoint: Path, args, work: Path, cn_train: Path, cn_val: Path) -> dict:
    onnx_path = export_fold(checkpoint, work / f"fold-{highway}.onnx", args.flip)
    tuning = training_highways_folder(args.cpri, highway, work / f"tune-{highway}", args.tune_every)
    tune_typed(onnx_path, cn_train, tuning)
    if "crack" in load_detector(onnx_path, confidence=0.0).class_names:  # a crack/pothole model: type by shape
        write_crack_typing(onnx_path, tune_crack_typing(load_detector(onnx_path, confidence=0.0), cn_train)[0])
    test = fold_test_folder(args.cpri, highway, work)
    result = {"fold": highway, "checkpoint": str(checkpoint), **score_fold(onnx_path, test, TYPED_TO_CPRI)}
    result["cn_val"] = score_fold(onnx_path, cn_val, None)
    if args.errors is not None:
        out = args.errors / f"models-pothole-errors-{highway}.png"
        result["pothole_errors"] = {**error_gallery(onnx_path, test, TYPED_TO_CPRI, "pothole", out), "picture": str(out)}
    return result


def previous_default(args, work: Path) -> list[dict]:
    rows = []
    for highway in HIGHWAYS:
        test = fold_test_folder(args.cpri, highway, work)
        scores = evaluate(load_detector(args.previous), test, None)
        rows.append({"fold": highway, "model": args.previous, **{k: scores[k] for k in ("f1", "per_class")}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpri", type=Path, required=True)
    parser.add_argument("--cn", type=Path, required=True)
    parser.add_argument("--fold", action="append", default=[], help="HIGHWAY=CHECKPOINT, once per fold")
    parser.add_argument("--work", type=Path, default=Path("runs/transfer"))
    parser.add_argument("--flip", action="store_true", help="export with the mirror average, as shipped")
    parser.add_argument("--previous", default=None, help="also score this registered model on the same folds")
    parser.add_argument("--tune-every", type=int, default=1, help="tune on every N-th training photo (faster)")
    parser.add_argument("--errors", type=Path, default=None, help="write each fold's pothole misses/false alarms here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cn_train, cn_val = box_dataset_splits(args.cn, args.work / "cn", args.tune_every)
    results = []
    for item in args.fold:
        highway, checkpoint = item.split("=", 1)
        results.append(run_fold(highway, Path(checkpoint), args, args.work, cn_train, cn_val))
        print(json.dumps(results[-1]), flush=True)
    summary = {"folds": {r["fold"]: r["f1"] for r in results},
               "pothole": {r["fold"]: r["per_class"].get("pothole", {}).get("f1") for r in results}}
    if results:
        summary["mean_f1"] = round(statistics.mean(r["f1"] for r in results), 4)
    if args.previous:
        summary["previous"] = previous_default(args, args.work)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
