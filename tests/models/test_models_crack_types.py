"""Crack types from the shape of a crack group (voirie.models.crack_types).

The model is the real ONNX graph of test_models_semantic (its crack map is the darkness of
the picture), so what is drawn decides the shapes: a flat stroke, an upright stroke and a
mesh of strokes that fills its box.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.models.test_models_semantic import RULES, build_semantic_onnx, road
from voirie.models import ModelError, load_detector
from voirie.models.crack_types import CRACK_TYPES, CrackShape, CrackTyping
from voirie.lab.train.evaluate import evaluate
from voirie.lab.train.segment_package import tune_crack_typing, write_crack_typing

DARK = (20, 20, 20)
TYPED_NAMES = ["crack_longitudinal", "crack_transverse", "crack_alligator", "pothole", "patch"]


def draw_transverse(image: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    cv2.line(image, (x, y), (x + 360, y + 30), DARK, 9)
    return x - 5, y - 5, x + 365, y + 35


def draw_longitudinal(image: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    cv2.line(image, (x, y), (x + 90, y + 300), DARK, 9)
    return x - 5, y - 5, x + 95, y + 305


def draw_alligator(image: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    for step in range(0, 181, 30):  # a mesh of blocks: cracks in both directions
        cv2.line(image, (x + step, y), (x + step, y + 180), DARK, 9)
        cv2.line(image, (x, y + step), (x + 180, y + step), DARK, 9)
    return x - 5, y - 5, x + 185, y + 185


@pytest.fixture()
def typed_onnx(tmp_path: Path) -> Path:
    path = build_semantic_onnx(tmp_path / "typed.onnx", grouping={"reference_width": 1024, "classes": RULES})
    write_crack_typing(path, CrackTyping())
    return path


def test_shape_reads_direction_elongation_and_fill() -> None:
    flat = np.stack((np.arange(200), np.full(200, 5)), 1)
    upright = flat[:, ::-1]
    block = np.stack(np.meshgrid(np.arange(20), np.arange(20)), -1).reshape(-1, 2)
    assert CrackShape.of(flat, (0, 5, 200, 6)).angle_deg == pytest.approx(0, abs=1)
    assert CrackShape.of(upright, (5, 0, 6, 200)).angle_deg == pytest.approx(90, abs=1)
    assert CrackShape.of(flat, (0, 5, 200, 6)).elongation > 20
    square = CrackShape.of(block, (0, 0, 20, 20))
    assert square.fill == pytest.approx(1.0) and square.elongation == pytest.approx(1.0, abs=0.01)


def test_the_rule_names_each_type() -> None:
    rule = CrackTyping(transverse_max_deg=35, alligator_min_fill=0.3, alligator_max_elongation=1.3)
    assert rule.type_of(CrackShape(10, 8.0, 0.05)) == "crack_transverse"
    assert rule.type_of(CrackShape(60, 8.0, 0.05)) == "crack_longitudinal"
    assert rule.type_of(CrackShape(10, 3.0, 0.5)) == "crack_alligator"  # fills its box
    assert rule.type_of(CrackShape(10, 8.0, 0.5)) == "crack_transverse"  # a straight crack fills its thin box
    assert rule.type_of(CrackShape(60, 1.1, 0.1)) == "crack_alligator"  # round network
    assert rule.output_names(("crack", "pothole")) == (*CRACK_TYPES, "pothole")
    assert rule.plane_of(("pothole", "crack")) == (0, 1, 1, 1)
    with pytest.raises(ValueError, match="out of range"):
        CrackTyping(transverse_max_deg=120)


def test_a_typed_model_reports_each_drawn_crack_by_its_type(typed_onnx: Path) -> None:
    image = road()
    draw_transverse(image, 80, 120)
    draw_longitudinal(image, 620, 80)
    draw_alligator(image, 900, 420)
    cv2.circle(image, (300, 560), 40, (90, 90, 255), -1)  # a pothole (red)
    detector = load_detector(typed_onnx)
    assert detector.class_names == (*CRACK_TYPES, "pothole") and detector.plane_names == ("crack", "pothole")
    found = detector.detect(image)
    assert sorted(found.names()) == sorted([*CRACK_TYPES, "pothole"]), found.names()
    by_name = dict(zip(found.names(), found.outlines))
    # Lengths for line cracks (a centreline: few points), areas for alligator (a hull around the mesh).
    alligator_box = found.xyxy[found.names().index("crack_alligator")]
    assert cv2.contourArea(by_name["crack_alligator"]) > 0.8 * np.prod(alligator_box[2:] - alligator_box[:2])


def test_an_untyped_dataset_scores_a_typed_model_as_its_untyped_maps(typed_onnx: Path, tmp_path: Path) -> None:
    folder = tmp_path / "untyped"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder / "data.yaml").write_text(yaml.safe_dump({"names": ["crack", "pothole"]}))
    for index in range(3):
        image = road(1024, 640)
        boxes = [draw_transverse(image, 60 + 40 * index, 100), draw_longitudinal(image, 600, 200 + 20 * index)]
        cv2.imwrite(str(folder / "images" / f"{index}.jpg"), image)
        lines = [f"0 {(a + c) / 2048} {(b + d) / 1280} {(c - a) / 1024} {(d - b) / 640}" for a, b, c, d in boxes]
        (folder / "labels" / f"{index}.txt").write_text("\n".join(lines))
    untyped = build_semantic_onnx(tmp_path / "plain.onnx", grouping={"reference_width": 1024, "classes": RULES})
    typed_scores = evaluate(load_detector(typed_onnx, confidence=0.0), folder, confidence=0.0)
    plain_scores = evaluate(load_detector(untyped, confidence=0.0), folder, confidence=0.0)
    assert typed_scores["per_class"]["crack"] == plain_scores["per_class"]["crack"]
    assert typed_scores["per_class"]["crack"]["f1"] > 0.9


def write_typed_folder(folder: Path, photos: int) -> None:
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder / "data.yaml").write_text(yaml.safe_dump({"names": TYPED_NAMES}))
    for index in range(photos):
        image = road(1024, 640)
        drawn = [(1, draw_transverse(image, 40 + 10 * index, 60)), (0, draw_longitudinal(image, 500, 100 + 5 * index)),
                 (2, draw_alligator(image, 760, 380))]
        cv2.imwrite(str(folder / "images" / f"{index}.jpg"), image)
        lines = [f"{c} {(a + x) / 2048} {(b + y) / 1280} {(x - a) / 1024} {(y - b) / 640}" for c, (a, b, x, y) in drawn]
        (folder / "labels" / f"{index}.txt").write_text("\n".join(lines))


def test_tuning_chooses_a_rule_that_types_the_labelled_cracks(tmp_path: Path) -> None:
    write_typed_folder(tmp_path / "typed", photos=4)
    path = build_semantic_onnx(tmp_path / "m.onnx", grouping={"reference_width": 1024, "classes": RULES})
    rule, table = tune_crack_typing(load_detector(path, confidence=0.0), tmp_path / "typed")
    assert table["type_macro_f1"] == 1.0 and table["groups"] == dict.fromkeys(CRACK_TYPES, 4)
    write_crack_typing(path, rule)
    scores = evaluate(load_detector(path, confidence=0.0), tmp_path / "typed", confidence=0.0)
    assert all(scores["per_class"][name]["f1"] == 1.0 for name in CRACK_TYPES), scores["per_class"]


def test_tuning_needs_typed_labels_and_enough_groups(tmp_path: Path) -> None:
    write_typed_folder(tmp_path / "typed", photos=1)
    path = build_semantic_onnx(tmp_path / "m.onnx", grouping={"reference_width": 1024, "classes": RULES})
    with pytest.raises(ModelError, match="too few"):
        tune_crack_typing(load_detector(path, confidence=0.0), tmp_path / "typed")


def test_bad_typing_metadata_and_mismatched_class_names_are_refused(typed_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="crack_longitudinal"):
        load_detector(typed_onnx, class_names=("crack", "pothole"))
    broken = build_semantic_onnx(tmp_path / "broken.onnx", grouping={"reference_width": 1024, "classes": RULES})
    write_crack_typing(broken, CrackTyping(plane="fissure"))
    with pytest.raises(ModelError, match="'fissure'"):
        load_detector(broken)


def test_a_packaged_model_gets_crack_types_without_retraining(tmp_path: Path, monkeypatch) -> None:
    from voirie.models import registry
    from voirie.lab.train.segment_package import add_crack_typing

    monkeypatch.setenv("VOIRIE_MODELS_DIR", str(tmp_path / "zoo"))
    folder = tmp_path / "zoo" / "plain"
    folder.mkdir(parents=True)
    onnx_file = build_semantic_onnx(folder / "model_fp32.onnx", grouping={"reference_width": 1024, "classes": RULES})
    untyped = registry.Manifest(
        name="plain", version="1", task="segment", classes=("crack", "pothole"), input_size=(320, 512),
        layout="semantic", files={"fp32": registry.ModelFile(file=onnx_file.name, sha256=registry.sha256_file(onnx_file),
                                                             bytes=onnx_file.stat().st_size)},
        default_variant="fp32", confidence=0.0, class_confidence={"crack": 0.4, "pothole": 0.3})
    registry.write_manifest(untyped, folder)
    (folder / "MODEL_CARD.md").write_text(f"# Model card: plain 1\n\nclasses: crack, pothole\n\n"
                                          f"sha256 `{untyped.files['fp32'].sha256}`\n")
    write_typed_folder(tmp_path / "typed", photos=4)

    typed = add_crack_typing("plain", tmp_path / "typed", tmp_path / "out", "2", (tmp_path / "typed",))

    assert typed.classes == (*CRACK_TYPES, "pothole") and typed.version == "2"
    assert typed.class_confidence == {"pothole": 0.3, **dict.fromkeys(CRACK_TYPES, 0.4)}
    assert typed.metrics["scores"][str(tmp_path / "typed")]["fp32"]["per_class"]["crack_alligator"]["f1"] == 1.0
    detector = load_detector(tmp_path / "out" / "model_fp32.onnx")  # the manifest beside it: checksum verified
    assert detector.class_names == typed.classes and detector.model_version == "2"
    card = (tmp_path / "out" / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: plain 2") and typed.files["fp32"].sha256 in card
    assert untyped.files["fp32"].sha256 not in card and "## Crack types (version 2)" in card
    assert load_detector("plain").class_names == ("crack", "pothole")  # the source model is left as it was
