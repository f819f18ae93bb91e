"""Training the typed model (train extra: torch): box photos beside mask photos, a pretrained
ONNX encoder, camera-shift augmentation, and the leave-one-highway-out selection."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from voirie.models import load_detector  # noqa: E402
from voirie.lab.train.augment import CameraShift, augment_sample  # noqa: E402
from voirie.lab.train.onnx_backbone import OnnxBackbone  # noqa: E402
from voirie.lab.train.segment_data import TYPED_CLASSES, box_planes, highway_of, load_box_photos  # noqa: E402
from voirie.lab.train.segment_train import (SegTrainConfig, export_segmentation, mask_photo_ids,  # noqa: E402
                                         train_segmentation, typed_loss)
from tests.models.test_models_segment_data import write_sample  # noqa: E402


class TinyEncoder(torch.nn.Module):
    """Five stride-2 stages with SiLU (Sigmoid × x), a max-pool and a channel slice: the
    operators a YOLOX backbone uses, exported to ONNX to stand for a pretrained file."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = torch.nn.ModuleList([torch.nn.Conv2d(c, 8, 3, 2, 1) for c in (3, 8, 8, 8, 8)])

    def forward(self, x):
        outputs = []
        for stage in self.stages:
            x = stage(x)
            x = x * torch.sigmoid(x) + torch.nn.functional.max_pool2d(x, 3, 1, 1)[:, :8]
            outputs.append(x)
        return tuple(outputs)


def tiny_backbone(path: Path) -> Path:
    names = [f"f{i}" for i in range(5)]
    torch.onnx.export(TinyEncoder().eval(), (torch.rand(1, 3, 64, 96),), str(path), input_names=["images"],
                      output_names=names, opset_version=13, dynamo=False,
                      dynamic_axes={"images": {2: "h", 3: "w"}})
    return path


def write_box_dataset(root: Path, count: int = 3) -> Path:
    for sub in ("images", "labels", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = np.full((512, 512, 3), 130, np.uint8)
        cv2.line(image, (256, 40), (256, 470), (40, 40, 40), 3)  # a longitudinal crack
        cv2.rectangle(image, (60, 300), (180, 420), (90, 90, 90), -1)  # a patch
        cv2.imwrite(str(root / "images" / f"cn{i}.jpg"), image)
        (root / "labels" / f"cn{i}.txt").write_text("0 0.5 0.49 0.03 0.85\n4 0.234 0.703 0.24 0.24\n")
    (root / "splits" / "train.txt").write_text("".join(f"images/cn{i}.jpg\n" for i in range(count)))
    (root / "data.yaml").write_text("names: {0: crack_longitudinal, 1: crack_transverse, 2: crack_alligator, "
                                    "3: pothole, 4: patch}\n")
    return root


def test_the_onnx_encoder_gives_what_onnx_runtime_gives_and_trains(tmp_path: Path) -> None:
    path = tiny_backbone(tmp_path / "tiny.onnx")
    graph = onnx.load(str(path)).graph
    encoder = OnnxBackbone(graph, tuple(o.name for o in graph.output), bgr_255=False)
    x = torch.rand(1, 3, 64, 96)
    expected = ort.InferenceSession(str(path)).run(None, {"images": x.numpy()})
    got = encoder(x)
    assert len(got) == 5 and all(np.allclose(g.detach().numpy(), e, atol=1e-5) for g, e in zip(got, expected))
    sum(g.mean() for g in got).backward()
    assert all(p.grad is not None for p in encoder.parameters())  # every weight is trainable


def test_box_planes_land_where_the_labels_are_after_the_letterbox() -> None:
    from voirie.models.decode import letterbox

    _, box = letterbox(np.zeros((512, 512, 3), np.uint8), (320, 512))  # 512² into 320×512: 320×320, 96 px pads
    planes = box_planes(np.array([[4, 0.5, 0.5, 0.5, 0.25]]), TYPED_CLASSES, TYPED_CLASSES, box, (320, 512))
    rows, cols = np.nonzero(planes[4])
    assert planes[:4].sum() == 0
    assert rows.min() == 60 and rows.max() == 99  # 0.375..0.625 of 320 rows, halved
    assert cols.min() == (96 + 80) // 2 and cols.max() == (96 + 240) // 2 - 1


def test_camera_shift_moves_a_target_with_its_pixels() -> None:
    image = np.full((320, 512, 3), 120, np.uint8)
    image[150:170, 240:280] = 255
    planes = np.zeros((1, 160, 256), np.uint8)
    planes[0, 75:85, 120:140] = 1
    rng = np.random.default_rng(3)
    shift = CameraShift(p_geometry=1.0, p_shadow=0, p_wet=0, p_blur=0, p_jpeg=0, p_noise=0, exposure=(1, 1))
    moved_image, moved = augment_sample(image, planes, 2, shift, rng)
    bright = np.argwhere(moved_image.mean(2) > 200).mean(0) / 2
    assert moved.any() and np.abs(np.argwhere(moved[0]).mean(0) - bright).max() < 2


def test_box_photos_teach_their_class_and_not_the_others() -> None:
    target = torch.zeros(1, 7, 8, 8)
    target[0, 2 + 1, 2:6, 2:6] = 1  # a transverse-crack box
    inside = torch.full((1, 5, 8, 8), 0.01)
    inside[0, 1, 2:6, 2:6] = 0.99
    wrong_type = torch.full((1, 5, 8, 8), 0.01)
    wrong_type[0, 0, 2:6, 2:6] = 0.99  # the same pixels called longitudinal
    from_boxes = torch.tensor([True])
    assert typed_loss(inside, target, from_boxes, 0.5) < typed_loss(wrong_type, target, from_boxes, 0.5)


def test_a_typed_run_with_box_photos_and_a_pretrained_encoder_exports_five_classes(tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    for i, highway in enumerate(("RS_290", "RS_290", "DF_251")):
        write_sample(masks, f"{i}_{highway}_{highway.replace('_', '')}_0")
    (masks / "splits" / "train.txt").write_text("".join(f"images/{p.name}\n" for p in sorted((masks / "images").iterdir())))
    boxes = write_box_dataset(tmp_path / "boxes")
    config = SegTrainConfig(epochs=1, batch=2, typed=True, box_data=str(boxes), exclude_highway="RS-290",
                            backbone=str(tiny_backbone(tmp_path / "tiny.onnx")), camera_shift=True, crop=(256, 384))
    assert [highway_of(i) for i in mask_photo_ids(masks, config)] == ["DF-251"]
    images, targets = load_box_photos(boxes, ["cn0"], config.imgsz)
    assert targets.shape == (1, 2 + 5, 160, 256) and targets[0, 2].any() and targets[0, 6].any()

    checkpoint = train_segmentation(masks, None, tmp_path / "run", config)
    assert checkpoint.name == "last.pt"  # no validation set: nothing chosen, the last weights kept
    onnx_path = export_segmentation(checkpoint, tmp_path / "typed.onnx")
    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert list(json.loads(meta["voirie_grouping"])["classes"]) == list(TYPED_CLASSES)
    detector = load_detector(onnx_path)
    assert detector.class_names == TYPED_CLASSES
    assert np.isfinite(detector.raw_maps(cv2.imread(str(boxes / "images" / "cn0.jpg")))[0]).all()
