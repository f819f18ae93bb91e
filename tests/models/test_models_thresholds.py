"""Per-class thresholds: chosen from one evaluation, applied by the runtime, read from the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from voirie.cli import app
from voirie.models import ModelError, load_detector, registry
from voirie.lab.train.thresholds import best_class_thresholds, parse_class_thresholds, scores_at

# tp, fp, fn per class at each threshold: cracks are best cut high, potholes low.
RESULT = {"counts": {
    "0.05": {"crack": [40, 60, 10], "pothole": [8, 4, 12]},
    "0.3": {"crack": [35, 15, 15], "pothole": [2, 0, 18]},
}}


def test_scores_combine_counts_of_different_thresholds() -> None:
    scores = scores_at(RESULT, {"crack": 0.3, "pothole": 0.05})
    precision, recall = 43 / (43 + 19), 43 / (43 + 27)
    assert scores["f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-4)
    assert scores["per_class"]["pothole"]["recall"] == pytest.approx(0.4)


def test_best_thresholds_beat_every_single_threshold() -> None:
    best = best_class_thresholds(RESULT)
    assert best == {"crack": 0.3, "pothole": 0.05}
    single = max(scores_at(RESULT, {"crack": t, "pothole": t})["f1"] for t in (0.05, 0.3))
    assert scores_at(RESULT, best)["f1"] > single


def test_unswept_threshold_and_bad_text_are_refused() -> None:
    with pytest.raises(ValueError, match="not evaluated"):
        scores_at(RESULT, {"crack": 0.2})
    with pytest.raises(ValueError, match="classes are"):
        parse_class_thresholds("tree=0.1", ("crack", "pothole"))
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        parse_class_thresholds("crack=high", ("crack", "pothole"))


def test_runtime_applies_one_threshold_per_class(damage_onnx: Path) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    assert load_detector(damage_onnx, class_confidence=(0.5, 0.8)).detect(image).names() == ["crack"]
    assert load_detector(damage_onnx, class_confidence=(0.95, 0.5)).detect(image).names() == ["pothole"]
    with pytest.raises(ModelError, match="2 classes"):
        load_detector(damage_onnx, class_confidence=(0.5,))


def test_manifest_thresholds_apply_unless_the_caller_sets_a_confidence(damage_onnx: Path) -> None:
    manifest = registry.Manifest(
        name="tiny", version="1", classes=("crack", "pothole"), input_size=(64, 64), default_variant="fp32",
        files={"fp32": registry.ModelFile(file=damage_onnx.name, sha256=registry.sha256_file(damage_onnx),
                                          bytes=damage_onnx.stat().st_size)},
        confidence=0.5, class_confidence={"crack": 0.95, "pothole": 0.5})
    registry.write_manifest(manifest, damage_onnx.parent)
    image = np.zeros((64, 64, 3), np.uint8)
    assert load_detector(damage_onnx).detect(image).names() == ["pothole"]
    assert load_detector(damage_onnx, confidence=0.5).detect(image).names() == ["crack", "pothole"]


def test_eval_cli_reports_the_given_class_thresholds(damage_onnx: Path, tmp_path: Path) -> None:
    folder = tmp_path / "val"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    cv2.imwrite(str(folder / "images" / "a.png"), np.zeros((64, 64, 3), np.uint8))
    (folder / "labels" / "a.txt").write_text(f"0 0.5 0.5 {20 / 64} {10 / 64}\n1 0.75 0.125 0.25 0.25\n")
    (folder / "data.yaml").write_text("names:\n  0: crack\n  1: pothole\n")
    args = ["models", "eval", "--model", str(damage_onnx), "--data", str(folder), "--tune-classes"]
    result = CliRunner().invoke(app, [*args, "--class-confidence", "crack=0.5,pothole=0.5"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output.strip().splitlines()[-1])
    assert scores["class_confidence"] == {"crack": 0.5, "pothole": 0.5}
    assert scores["per_class"]["crack"]["f1"] == 1.0 and scores["per_class"]["pothole"]["precision"] == 0.0
    refused = CliRunner().invoke(app, [*args, "--class-confidence", "crack=0.33"])
    assert refused.exit_code == 2 and "not evaluated" in refused.output
