"""Training data conversion (no torch needed) and one real training epoch (when ultralytics is installed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from voirie.models import ModelError, load_detector
from voirie.lab.train.datasets import convert_voc, prepare_dataset, voc_to_yolo

VOC = """<annotation><filename>{name}.jpg</filename><size><width>600</width><height>400</height><depth>3</depth></size>
<object><name>D00</name><bndbox><xmin>100</xmin><ymin>50</ymin><xmax>160</xmax><ymax>350</ymax></bndbox></object>
<object><name>D40</name><bndbox><xmin>300</xmin><ymin>200</ymin><xmax>400</xmax><ymax>260</ymax></bndbox></object>
<object><name>D43</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>
</annotation>"""


def test_voc_to_yolo_keeps_known_classes() -> None:
    lines, skipped = voc_to_yolo(VOC.format(name="x"), ("D00", "D10", "D20", "D40"))
    assert skipped == 1  # D43 (crosswalk blur) is not a chosen class
    assert lines == ["0 0.216667 0.500000 0.100000 0.750000", "3 0.583333 0.575000 0.166667 0.150000"]
    extended, _ = voc_to_yolo(VOC.format(name="x"), ("D00", "D10", "D20", "D40", "D43"))
    assert extended[-1].startswith("4 ")


def test_voc_without_size_is_refused() -> None:
    with pytest.raises(ModelError, match="size"):
        voc_to_yolo("<annotation><object><name>D00</name></object></annotation>", ("D00",))


def _rdd_tree(root: Path, count: int) -> Path:
    """An RDD2022-style tree: Country/train/images/*.jpg + Country/train/annotations/xmls/*.xml."""
    images, xmls = root / "Czech" / "train" / "images", root / "Czech" / "train" / "annotations" / "xmls"
    images.mkdir(parents=True)
    xmls.mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(images / f"Czech_{i:06d}.jpg"), np.full((400, 600, 3), 90, np.uint8))
        (xmls / f"Czech_{i:06d}.xml").write_text(VOC.format(name=f"Czech_{i:06d}"))
    (xmls / "orphan.xml").write_text(VOC.format(name="orphan"))
    return root


def test_rdd_voc_tree_becomes_a_yolo_split(tmp_path: Path) -> None:
    data_yaml, names = prepare_dataset(_rdd_tree(tmp_path / "rdd", 10), tmp_path / "work")
    spec = yaml.safe_load(data_yaml.read_text())
    assert names == ("D00", "D10", "D20", "D40") and spec["names"][3] == "D40"
    train = sorted((tmp_path / "work" / "train" / "images").iterdir())
    val = sorted((tmp_path / "work" / "val" / "images").iterdir())
    assert (len(train), len(val)) == (8, 2)
    assert val[0].name == "Czech_000008.jpg"  # the last block of frames, not a random pick
    assert (tmp_path / "work" / "val" / "labels" / "Czech_000008.txt").read_text().count("\n") == 2
    assert convert_voc(tmp_path / "rdd", tmp_path / "again")[0].is_symlink()


def test_unknown_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="expected a YOLO folder"):
        prepare_dataset(tmp_path, tmp_path / "work")


def _pothole_dataset(root: Path, count: int = 8) -> Path:
    """Grey road with a dark ellipse per photo: a task one epoch can at least start to learn."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(count):
        image = np.full((96, 128, 3), 120, np.uint8)
        cx, cy = int(rng.integers(30, 98)), int(rng.integers(30, 66))
        cv2.ellipse(image, (cx, cy), (14, 9), 0, 0, 360, (30, 30, 30), -1)
        cv2.imwrite(str(root / "images" / f"p{i:02d}.jpg"), image)
        (root / "labels" / f"p{i:02d}.txt").write_text(f"0 {cx / 128:.4f} {cy / 96:.4f} {28 / 128:.4f} {18 / 96:.4f}\n")
    (root / "data.yaml").write_text("names:\n  0: pothole\n")
    return root


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None, reason="train extra (ultralytics) not installed")
def test_train_damage_one_epoch_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from voirie.cli import app

    monkeypatch.chdir(tmp_path)
    data = _pothole_dataset(tmp_path / "potholes")
    outcome = CliRunner().invoke(app, ["train", "damage", "--data", str(data), "--out", "model", "--imgsz", "64",
                                       "--epochs", "1", "--batch", "4", "--name", "tiny-potholes"])
    assert outcome.exit_code == 0, outcome.output
    metrics = json.loads(outcome.output.strip().splitlines()[-1])
    assert set(metrics) == {"fp32", "int8"} and 0 <= metrics["int8"]["f1"] <= 1
    for variant in ("fp32", "int8"):
        detector = load_detector(Path("model") / f"model_{variant}.onnx")
        assert detector.class_names == ("pothole",) and detector.input_size == (64, 64)
    card = (Path("model") / "MODEL_CARD.md").read_text()
    assert "CRDDC 2022" in card and "train damage" in card
