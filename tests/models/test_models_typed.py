"""Typed damage classes: many-to-one class maps, merged maps for untyped labels, and the PCI.

The model is a real ONNX graph (a strided 1×1-channel mix with fixed weights): its
longitudinal-crack map is the blueness of the picture, its transverse-crack map the
redness and its alligator map the greenness, so what each class finds is known from the
colours drawn.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voirie.models import ModelError, load_detector
from voirie.lab.train.evaluate import evaluate, parse_class_map
from voirie.lab.train.segment_data import TYPED_CLASSES

GREY = (200, 200, 200)


def build_typed_onnx(path: Path, size_hw: tuple[int, int] = (320, 512)) -> Path:
    """1×3×H×W RGB 0..1 in, 1×5×H/2×W/2 out: blue, red, green, darkness, nothing."""
    weights = np.zeros((5, 3, 2, 2), np.float32)
    for plane, channel in ((0, 2), (1, 0), (2, 1)):  # RGB input: a channel minus half the other two
        weights[plane, :] = -0.125
        weights[plane, channel] = 0.25
    weights[3] = -1.0 / 12.0
    bias = np.array([0, 0, 0, 0.2, 0], np.float32)
    nodes = [helper.make_node("Conv", ["images", "w", "b"], ["conv"], strides=[2, 2], kernel_shape=[2, 2]),
             helper.make_node("Clip", ["conv", "lo", "hi"], ["maps"])]
    graph = helper.make_graph(
        nodes, "typed",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, *size_hw])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, [1, 5, size_hw[0] // 2, size_hw[1] // 2])],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b"),
                     numpy_helper.from_array(np.array(0, np.float32), "lo"),
                     numpy_helper.from_array(np.array(1, np.float32), "hi")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    rules = {name: {"join_px": 41, "min_pixels": 100, "threshold": 0.3} for name in TYPED_CLASSES}
    meta = {"names": repr(dict(enumerate(TYPED_CLASSES))), "imgsz": str(list(size_hw)), "task": "segment",
            "voirie_grouping": json.dumps({"reference_width": 1024, "classes": rules})}
    for key, value in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(model, str(path))
    return path


def crack_in_two_colours(width: int = 1024, height: int = 640) -> np.ndarray:
    """One horizontal crack whose left half the model calls longitudinal (blue), right half transverse (red)."""
    image = np.full((height, width, 3), GREY, np.uint8)
    cv2.line(image, (200, 320), (500, 320), (255, 0, 0), 8)  # BGR blue
    cv2.line(image, (500, 320), (800, 320), (0, 0, 255), 8)  # BGR red
    return image


def write_untyped_folder(root: Path, image: np.ndarray) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    cv2.imwrite(str(root / "images" / "a.png"), image)
    height, width = image.shape[:2]
    x0, x1, y0, y1 = 196, 804, 316, 324  # the whole crack, one box, as the untyped labels draw it
    (root / "labels" / "a.txt").write_text(
        f"0 {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}\n")
    (root / "data.yaml").write_text("names: {0: crack, 1: pothole}\n")
    return root


def test_many_to_one_maps_parse_and_unmapped_classes_are_ignored() -> None:
    mapping = parse_class_map("crack_longitudinal=crack, crack_transverse=crack,crack_alligator=crack",
                              TYPED_CLASSES, ("crack", "pothole"))
    assert mapping == {0: 0, 1: 0, 2: 0}  # pothole and patch are not scored
    with pytest.raises(ModelError, match="MODEL_CLASS=DATASET_CLASS"):
        parse_class_map("crack_longitudinal", TYPED_CLASSES, ("crack",))
    with pytest.raises(ModelError, match="dataset class 'D00'"):
        parse_class_map("crack_longitudinal=D00", TYPED_CLASSES, ("crack",))


def test_a_typed_model_finds_the_two_types_and_scores_as_one_crack_on_untyped_labels(tmp_path: Path) -> None:
    detector = load_detector(build_typed_onnx(tmp_path / "typed.onnx"), confidence=0.0)
    image = crack_in_two_colours()
    found = detector.detect(image)
    assert sorted(found.names()) == ["crack_longitudinal", "crack_transverse"]

    folder = write_untyped_folder(tmp_path / "data", image)
    merged = evaluate(detector, folder, "crack_longitudinal=crack,crack_transverse=crack,crack_alligator=crack",
                      confidence=0.0)
    assert merged["per_class"]["crack"]["f1"] == 1.0  # maps merged before grouping: one box, matched
    one_type = evaluate(detector, folder, "crack_longitudinal=crack", confidence=0.0)
    assert one_type["per_class"]["crack"]["recall"] == 0.0  # half a crack does not match the whole box


def test_typed_cracks_of_the_same_size_deduct_differently() -> None:
    from voirie.server.condition import distress_of
    from voirie.server.conditions import grade_group

    section = SimpleNamespace(length_m=40.0, width_m=7.0)
    frame = SimpleNamespace(record_id="f1", image_width=1024, image_height=640, time_utc="2026-12-06T08:00:00Z",
                            model_version="test")

    def graded(class_name: str) -> dict:
        detection = SimpleNamespace(class_name=class_name, reviewed_class=None, review_status="pending",
                                    confidence=0.9, x1=100, y1=200, x2=700, y2=400, length_m=None, area_m2=None)
        return grade_group(section, [frame], {"f1": [detection]}, footprint_m=8.0)

    assert distress_of("crack_transverse") == "long_trans" and distress_of("crack_alligator") == "alligator"
    assert distress_of("crack_longitudinal") == "long_trans" and distress_of("patch") == "patching"
    transverse, alligator = graded("crack_transverse"), graded("crack_alligator")
    assert transverse["pci"] < 100 and alligator["pci"] < transverse["pci"]  # alligator cracking deducts more


def test_tuning_through_a_many_to_one_map_sets_every_merged_class_and_can_keep_the_size_cut(tmp_path: Path) -> None:
    from voirie.lab.train.segment_package import tune_rules

    detector = load_detector(build_typed_onnx(tmp_path / "typed.onnx"), confidence=0.0)
    folder = write_untyped_folder(tmp_path / "data", crack_in_two_colours())
    crack_map = "crack_longitudinal=crack,crack_transverse=crack,crack_alligator=crack"
    rules, table = tune_rules(detector, folder, crack_map)
    assert table["crack"][f"{rules[0].threshold}/{rules[0].min_pixels}"] == 1.0
    assert rules[0] == rules[1] == rules[2]  # one choice for the merged crack types
    assert rules[3:] == detector.grouping[0][3:]  # classes the map leaves out keep their rules
    kept, _ = tune_rules(detector, folder, crack_map, keep_min_pixels=frozenset({"crack"}))
    assert {r.min_pixels for r in kept[:3]} == {100}  # the file's own size cut, only the threshold tuned
