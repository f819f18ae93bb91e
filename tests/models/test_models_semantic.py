"""Semantic damage models: maps → boxes grouped the way annotators box a crack network.

The model here is a real ONNX graph (one strided convolution with fixed weights): its crack
map is the darkness of the picture and its pothole map the redness, so the expected boxes are
known from what is drawn.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voirie.models import ModelError, load_detector
from voirie.models.masks import GroupingRule, group_mask

GREY = (200, 200, 200)
RULES = {"crack": {"join_px": 41, "min_pixels": 150, "threshold": 0.6},
         "pothole": {"join_px": 9, "min_pixels": 150, "threshold": 0.5}}


def build_semantic_onnx(path: Path, size_hw: tuple[int, int] = (320, 512), grouping: dict | None = None) -> Path:
    """1×3×H×W RGB 0..1 in, 1×2×H/2×W/2 out: darkness (crack) and redness (pothole)."""
    weights = np.zeros((2, 3, 2, 2), np.float32)
    weights[0] = -1.0 / 12.0  # 1 - mean of the 2×2×3 block (bias 1)
    weights[1, 0], weights[1, 1:] = 0.25, -0.125  # R - (G + B) / 2
    nodes = [helper.make_node("Conv", ["images", "w", "b"], ["conv"], strides=[2, 2], kernel_shape=[2, 2]),
             helper.make_node("Clip", ["conv", "lo", "hi"], ["maps"])]
    out_shape = [1, 2, size_hw[0] // 2, size_hw[1] // 2]
    graph = helper.make_graph(
        nodes, "semantic",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, *size_hw])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.array([1, 0], np.float32), "b"),
                     numpy_helper.from_array(np.array(0, np.float32), "lo"),
                     numpy_helper.from_array(np.array(1, np.float32), "hi")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"names": "{0: 'crack', 1: 'pothole'}", "imgsz": str(list(size_hw)), "task": "segment"}
    if grouping is not None:
        meta["voirie_grouping"] = json.dumps(grouping)
    for key, value in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def semantic_onnx(tmp_path: Path) -> Path:
    return build_semantic_onnx(tmp_path / "semantic.onnx", grouping={"reference_width": 1024, "classes": RULES})


def road(width: int = 1280, height: int = 720) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


def near(box: np.ndarray, expected: tuple[float, ...], tolerance: float) -> bool:
    return bool(np.all(np.abs(np.asarray(box) - np.asarray(expected)) <= tolerance))


def test_a_drawn_crack_and_pothole_come_back_as_boxes_in_image_pixels(semantic_onnx: Path) -> None:
    image = road()
    cv2.line(image, (200, 400), (600, 440), (20, 20, 20), 10)
    cv2.circle(image, (900, 500), 40, (90, 90, 255), -1)  # BGR: red
    detector = load_detector(semantic_onnx)
    assert detector.layout == "semantic" and detector.class_names == ("crack", "pothole")
    found = detector.detect(image)
    by_class = {name: found.xyxy[found.class_id == i] for i, name in enumerate(found.class_names)}
    assert len(by_class["crack"]) == 1 and len(by_class["pothole"]) == 1, found
    assert near(by_class["crack"][0], (195, 395, 605, 445), 8)
    assert near(by_class["pothole"][0], (860, 460, 940, 540), 8)
    assert np.all((found.confidence > 0.5) & (found.confidence <= 1.0))
    assert found.metadata["model_id"] == "semantic"


def test_crack_strokes_closer_than_the_join_distance_are_one_box(semantic_onnx: Path) -> None:
    # 1280-px frame, rules for 1024-px photos: cracks join within 41 × 1.25 ≈ 51 px
    close, apart = road(), road()
    for image, gap in ((close, 30), (apart, 150)):
        cv2.line(image, (200, 400), (500, 400), (20, 20, 20), 8)
        cv2.line(image, (500 + gap, 400), (800 + gap, 400), (20, 20, 20), 8)
    detector = load_detector(semantic_onnx)
    assert len(detector.detect(close)) == 1
    assert len(detector.detect(apart)) == 2


def test_groups_under_the_smallest_size_are_dropped(semantic_onnx: Path) -> None:
    image = road()
    cv2.circle(image, (300, 300), 3, (20, 20, 20), -1)  # a speck: ~30 px, under 150 × 1.25²
    cv2.line(image, (600, 300), (900, 320), (20, 20, 20), 8)
    found = load_detector(semantic_onnx).detect(image)
    assert len(found) == 1 and found.xyxy[0][0] > 550


def test_a_plain_road_gives_no_damage_and_letterboxing_keeps_boxes_in_the_frame(semantic_onnx: Path) -> None:
    detector = load_detector(semantic_onnx)
    assert len(detector.detect(road())) == 0
    tall = road(640, 900)  # portrait: padded left and right
    cv2.line(tall, (100, 850), (500, 860), (20, 20, 20), 10)
    box = detector.detect(tall).xyxy
    assert len(box) == 1 and near(box[0], (95, 845, 505, 865), 8)


def test_a_semantic_model_without_grouping_rules_is_refused(tmp_path: Path) -> None:
    path = build_semantic_onnx(tmp_path / "no-rules.onnx")
    with pytest.raises(ModelError, match="voirie_grouping"):
        load_detector(path)


def test_grouping_rules_must_cover_every_class(tmp_path: Path) -> None:
    path = build_semantic_onnx(tmp_path / "half.onnx", grouping={"reference_width": 1024,
                                                                "classes": {"crack": RULES["crack"]}})
    with pytest.raises(ModelError, match="pothole"):
        load_detector(path)


def test_group_mask_joins_by_distance_and_averages_scores() -> None:
    mask = np.zeros((100, 200), bool)
    mask[50, 10:60] = True
    mask[50, 80:130] = True  # 20 px gap
    scores = np.zeros(mask.shape, np.float32)
    scores[50, 10:60], scores[50, 80:130] = 1.0, 0.5
    joined = group_mask(mask, 41, 10, scores)
    assert [g.xyxy for g in joined] == [(10, 50, 130, 51)]
    assert joined[0].pixels == 100 and joined[0].score == pytest.approx(0.75)
    assert sorted(g.xyxy for g in group_mask(mask, 15, 10)) == [(10, 50, 60, 51), (80, 50, 130, 51)]
    assert group_mask(mask, 15, 60) == []
    assert group_mask(np.zeros((5, 5), bool), 41, 1) == []
    with pytest.raises(ValueError, match="H×W"):
        group_mask(np.zeros((2, 5, 5), bool), 41, 1)


def test_rules_scale_with_the_frame_width() -> None:
    assert GroupingRule(41, 150).scaled(2048, 1024) == (82, 600)
    assert GroupingRule(41, 150).scaled(512, 1024) == (20.5, 38)


CPRI = Path(__file__).resolve().parents[3] / "shared" / "data" / "road_damage_cpri"


@pytest.mark.skipif(not (CPRI / "masks").is_dir(), reason="needs ../shared/data/road_damage_cpri")
def test_the_rule_reproduces_the_cpri_boxes_from_their_masks() -> None:
    from voirie.lab.train.evaluate import YoloFolder, match

    folder = YoloFolder.open(CPRI)
    found = total = 0
    for path in folder.images[::5]:
        crack = cv2.imread(str(CPRI / "masks" / f"{path.stem}_CRACK.png"), cv2.IMREAD_GRAYSCALE) > 127
        pothole = cv2.imread(str(CPRI / "masks" / f"{path.stem}_POTHOLE.png"), cv2.IMREAD_GRAYSCALE) > 127
        boxes, ids = folder.boxes(path, crack.shape[1], crack.shape[0])
        for cls, mask, join in ((0, crack, 41), (1, pothole, 9)):
            groups = np.array([g.xyxy for g in group_mask(mask, join, 150)], np.float32).reshape(-1, 4)
            truth = boxes[ids == cls]
            found += int(match(truth, np.ones(len(truth)), groups).sum())
            total += len(truth)
    assert total > 250 and found / total >= 0.98, (found, total)


def test_packaging_tunes_the_grouping_quantizes_and_writes_a_verifiable_manifest(tmp_path: Path) -> None:
    from voirie.models import registry
    from voirie.lab.train.segment_package import package_segmentation
    from voirie.lab.train.training import PackageSpec

    val = tmp_path / "val"
    (val / "images").mkdir(parents=True)
    (val / "labels").mkdir()
    (val / "data.yaml").write_text("names: {0: crack, 1: pothole}\n")
    for i in range(3):
        image = road(1024, 640)
        cv2.line(image, (100 + 50 * i, 300), (500, 320), (20, 20, 20), 8)
        cv2.imwrite(str(val / "images" / f"v{i}.jpg"), image)
        x0, x1 = 96 + 50 * i, 504
        (val / "labels" / f"v{i}.txt").write_text(
            f"0 {(x0 + x1) / 2 / 1024:.6f} {310 / 640:.6f} {(x1 - x0) / 1024:.6f} {28 / 640:.6f}\n")
    source = build_semantic_onnx(tmp_path / "src.onnx", grouping={"reference_width": 1024, "classes": RULES})
    spec = PackageSpec("damage-test", "9", "AGPL-3.0-or-later", "drawn lines")
    manifest = package_segmentation(source, tmp_path / "pkg", val, val / "images", spec)
    assert manifest.task == "segment" and manifest.layout == "semantic" and set(manifest.files) == {"fp32", "int8"}
    assert manifest.metrics["val"]["fp32"]["f1"] == 1.0
    assert "crack" in manifest.metrics["grouping_f1"]
    card = (tmp_path / "pkg" / "MODEL_CARD.md").read_text()
    assert "masks grouped into boxes" in card and manifest.files["int8"].sha256 in card
    detector = load_detector(tmp_path / "pkg" / "model_int8.onnx")  # manifest beside it: checksum checked
    assert detector.model_id == "damage-test" and detector.model_version == "9"
    (tmp_path / "pkg" / "model_int8.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="sha256|checksum"):
        load_detector(tmp_path / "pkg" / "model_int8.onnx")
    assert registry.read_manifest(tmp_path / "pkg" / "manifest.json").name == "damage-test"


def test_outlines_measure_a_diagonal_crack_along_itself_and_a_pothole_by_its_shape(semantic_onnx: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_models_sizing import TopDownPlane

    from voirie.models.sizing import size_detections

    image = road()
    cv2.line(image, (200, 200), (600, 500), (20, 20, 20), 8)  # 500 px long, box 400 × 300
    cv2.circle(image, (1000, 400), 50, (90, 90, 255), -1)  # 7,854 px², box 10,000
    found = load_detector(semantic_onnx).detect(image)
    assert found.outlines is not None and len(found.outlines) == len(found) == 2
    sized = size_detections(found, TopDownPlane(0.01))  # 1 px = 1 cm
    crack, pothole = (int(np.flatnonzero(found.class_id == c)[0]) for c in (0, 1))
    line = found.outlines[crack]
    assert min(np.linalg.norm(line[0] - (200, 200)), np.linalg.norm(line[-1] - (200, 200))) < 12
    assert sized.length_m[crack] == pytest.approx(5.0, abs=0.25)  # the box's longer side would say 4.0
    assert 0.65 < sized.area_m2[pothole] < 0.85  # true 0.785 (the map blurs its rim); the box would say 1.0
    assert found[found.class_id == 1].outlines[0].shape == found.outlines[pothole].shape


def test_centreline_follows_a_bent_crack() -> None:
    from voirie.models.masks import centreline

    xs = np.arange(0, 200)
    points = np.stack((xs, np.where(xs < 100, 0, xs - 100)), 1)  # flat, then 45° up
    line = centreline(points, step_px=8)
    length = np.linalg.norm(np.diff(line, axis=0), axis=1).sum()
    assert 100 + 100 * np.sqrt(2) - 15 < length < 100 + 100 * np.sqrt(2) + 5
