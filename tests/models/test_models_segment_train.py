"""Training and export of the segmentation model (train extra: torch)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from voirie.models import load_detector  # noqa: E402
from voirie.lab.train.segment_train import SegTrainConfig, export_segmentation, train_segmentation  # noqa: E402
from tests.models.test_models_segment_data import write_sample  # noqa: E402


def test_a_short_run_checkpoints_and_exports_an_onnx_the_runtime_loads(tmp_path: Path) -> None:
    from voirie.lab.train.datasets import prepare_dataset

    root = tmp_path / "data"
    for i in range(4):
        write_sample(root, f"s{i}")
    (root / "splits" / "train.txt").write_text("".join(f"images/s{i}.jpg\n" for i in range(3)))
    (root / "splits" / "val.txt").write_text("images/s3.jpg\n")
    (root / "labels").mkdir()
    for i in range(4):  # boxes of the drawn crack and pothole, normalised
        (root / "labels" / f"s{i}.txt").write_text("0 0.293945 0.471875 0.392578 0.006250\n1 0.781250 0.781250 0.060547 0.096875\n")
    (root / "data.yaml").write_text("names: {0: crack, 1: pothole}\n")
    prepare_dataset(root, tmp_path / "dataset")
    config = SegTrainConfig(epochs=2, batch=2, eval_every=1, crop=(256, 384))
    best = train_segmentation(root, tmp_path / "dataset" / "val", tmp_path / "run", config)
    assert best.is_file() and (tmp_path / "run" / "last.pt").is_file()
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["epoch"] == 1 and len(state["history"]) == 2

    onnx_path = export_segmentation(best, tmp_path / "out" / "model_fp32.onnx")
    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(meta["voirie_grouping"])["classes"]["crack"]["join_px"] == 41
    detector = load_detector(onnx_path)
    assert detector.layout == "semantic" and detector.input_size == (320, 512)
    found = detector.detect(cv2.imread(str(root / "images" / "s0.jpg")))
    assert found.class_names == ("crack", "pothole") and np.isfinite(found.xyxy).all()

    # `voirie models package` tells the checkpoint from a YOLO one and packages it with the mirror average
    from typer.testing import CliRunner

    from voirie.cli import app

    outcome = CliRunner().invoke(app, ["models", "package", "--weights", str(best), "--out", str(tmp_path / "pkg"),
                                       "--val", str(tmp_path / "dataset" / "val"), "--calibration", str(root / "images"),
                                       "--name", "seg-test", "--flip", "--examples", str(tmp_path / "ex.png")])
    assert outcome.exit_code == 0, outcome.output
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert manifest["task"] == "segment" and manifest["layout"] == "semantic" and (tmp_path / "ex.png").is_file()
    graph = onnx.load(str(tmp_path / "pkg" / "model_fp32.onnx")).graph
    assert sum(node.op_type == "Sigmoid" for node in graph.node) == 2  # the network runs on the frame and its mirror


def test_eval_tells_a_segmentation_checkpoint_from_other_files(tmp_path: Path) -> None:
    from voirie.models.cli import _is_segmentation_checkpoint
    from voirie.lab.train.segment_net import DamageSegNet
    from voirie.lab.train.segment_train import FORMAT

    ours, other, junk = tmp_path / "seg.pt", tmp_path / "other.pt", tmp_path / "junk.pt"
    torch.save({"format": FORMAT, "model": DamageSegNet().state_dict()}, ours)
    torch.save({"train_args": {"crop_fraction": 1.0}, "model": None}, other)
    junk.write_bytes(b"not a checkpoint")
    assert _is_segmentation_checkpoint(ours)
    assert not _is_segmentation_checkpoint(other) and not _is_segmentation_checkpoint(junk)
