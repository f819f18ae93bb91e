"""Evaluation: IoU matching, class maps and the CLI's last-line JSON, on a real tiny ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from voirie.cli import app
from voirie.models import ModelError, load_detector
from voirie.lab.train.evaluate import evaluate, iou_matrix, match, parse_class_map


@pytest.fixture()
def val_folder(tmp_path: Path) -> Path:
    """Two 64×64 photos: one with a crack exactly where the tiny model puts one, one with nothing."""
    folder = tmp_path / "val"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(folder / "images" / f"{name}.png"), np.zeros((64, 64, 3), np.uint8))
    (folder / "labels" / "a.txt").write_text(f"0 0.5 0.5 {20 / 64} {10 / 64}\n1 0.75 0.125 0.25 0.25\n")
    (folder / "labels" / "b.txt").write_text("")
    (folder / "data.yaml").write_text("names:\n  0: crack\n  1: pothole\n")
    return folder


def test_iou_and_greedy_matching() -> None:
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    pred = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 26, 30]], float)
    assert iou_matrix(pred, truth)[1, 0] == pytest.approx(0.81)
    # the best-scored box takes the first truth; its near-duplicate is a false positive
    assert match(pred, np.array([0.9, 0.95, 0.5]), truth).tolist() == [False, True, True]
    assert match(pred[:0], np.zeros(0), truth).tolist() == []


def test_evaluate_counts_hits_false_alarms_and_misses(damage_onnx: Path, val_folder: Path) -> None:
    result = evaluate(load_detector(damage_onnx, confidence=0.05), val_folder)
    assert result["per_class"]["crack"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667}
    assert result["per_class"]["pothole"]["f1"] == 0.0
    assert (result["precision"], result["recall"], result["f1"]) == (0.25, 0.5, 0.3333)
    assert result["images"] == 2 and result["ms_per_image"] > 0
    assert result["sweep"]["0.6"] == result["f1"]  # every score is above 0.6
    # above 0.7 the pothole false alarms go, the 0.9 cracks stay
    strict = evaluate(load_detector(damage_onnx, confidence=0.05), val_folder, confidence=0.8)
    assert (strict["precision"], strict["recall"], strict["f1"]) == (0.5, 0.5, 0.5)


def test_class_map_ignores_unmapped_and_rejects_unknown() -> None:
    assert parse_class_map("D00=crack,D10=crack,D40=pothole", ("D00", "D10", "D20", "D40"), ("crack", "pothole")) == {
        0: 0, 1: 0, 3: 1}
    with pytest.raises(ModelError, match="model class 'D99'"):
        parse_class_map("D99=crack", ("D00",), ("crack",))
    with pytest.raises(ModelError, match="dataset class 'hole'"):
        parse_class_map("D00=hole", ("D00",), ("crack",))


def test_eval_cli_prints_json_last_line(damage_onnx: Path, val_folder: Path) -> None:
    outcome = CliRunner().invoke(app, ["models", "eval", "--model", str(damage_onnx), "--data", str(val_folder),
                                       "--map", "crack=crack", "--examples", str(val_folder.parent / "ex")])
    assert outcome.exit_code == 0, outcome.output
    result = json.loads(outcome.output.strip().splitlines()[-1])
    # pothole predictions are unmapped, so ignored: 1 hit, 1 false crack, 1 missed pothole
    assert (result["precision"], result["recall"], result["f1"]) == (0.5, 0.5, 0.5)
    assert set(result) >= {"f1", "precision", "recall", "per_class", "images", "ms_per_image"}
    annotated = cv2.imread(str(val_folder.parent / "ex" / "a.jpg"))
    blue, green, red = annotated[27, 30].tolist()  # the detected crack's top edge, drawn in red (JPEG: near)
    assert red > 180 and green < 60 and blue < 60


def test_eval_cli_names_a_bad_folder(damage_onnx: Path, tmp_path: Path) -> None:
    outcome = CliRunner().invoke(app, ["models", "eval", "--model", str(damage_onnx), "--data", str(tmp_path)])
    assert outcome.exit_code == 2 and "not a YOLO dataset folder" in outcome.output
