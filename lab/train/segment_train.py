"""``voirie train damage-seg``: train the crack/pothole segmentation model on a CPU.

Training data are photos with per-class damage masks: the ``road_damage_cpri`` layout
(``images/<id>.jpg``, ``masks/<id>_CRACK.png`` and ``_POTHOLE.png``, ``splits/train.txt``
and ``val.txt``), optionally plus synthetic scenes from ``voirie.lab.synth.damage`` (masks
exact from the drawn geometry). Every photo is letterboxed once to the model input and
kept in memory; targets are the masks at the output resolution (a cell is damage when any
of its pixels is). Loss: binary cross-entropy plus soft Dice per class (damage is a few
per cent of the pixels). After every ``eval_every`` epochs the model is scored the way
``voirie models eval`` scores it (masks grouped into boxes, IoU ≥ 0.5 against the
validation boxes) and the best checkpoint is kept. torch is imported only here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from voirie.models.decode import Letterbox, detections_from_masks, letterbox, to_blob
from voirie.lab.train.evaluate import evaluate
from voirie.models.masks import GroupingRule
from voirie.lab.train.augment import CameraShift, augment_sample
from voirie.lab.train.segment_data import (CLASS_NAMES, CRACK_TYPES, DATA_RULES, DENSE_PLANES, OUTPUT_STRIDE,
                                        REFERENCE_WIDTH, TYPED_CLASSES, TYPED_RULES, highway_of, load_box_photos,
                                        load_photos, load_synthetic, split_ids, with_empty_box_planes)
from voirie.lab.train.segment_net import DamageSegNet
from voirie.lab.train.segment_package import write_grouping_metadata

logger = logging.getLogger(__name__)
FORMAT = "voirie-damage-seg"  # written into every checkpoint, so `voirie models eval` can tell it from a YOLO one


@dataclass(frozen=True)
class SegTrainConfig:
    """Sizes are (H, W); defaults train in about half an hour on a 2-core CPU."""

    imgsz: tuple[int, int] = (320, 512)
    crop: tuple[int, int] = (256, 384)
    epochs: int = 40
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    synthetic: int = 0  # synthetic scenes added to the training photos
    synthetic_seed: int = 1
    synthetic_classes: tuple[str, ...] = ("crack",)  # what synthetic scenes teach (their potholes look unlike real ones)
    eval_every: int = 2
    seed: int = 0
    threads: int = 2
    init: str | None = None  # checkpoint whose weights start the run (fine-tuning), else from scratch
    ema: float = 0.995  # weights scored and saved are an exponential moving average (steadier than the last step)
    typed: bool = False  # five RDD types (TYPED_CLASSES) instead of crack/pothole
    box_data: str | None = None  # a YOLO box dataset (RDD classes by name) whose train split is added
    mask_splits: tuple[str, ...] = ("train",)  # splits of the mask dataset to train on
    exclude_highway: str | None = None  # leave this highway's photos out (leave-one-highway-out folds)
    backbone: str | None = None  # pretrained ONNX encoder (YOLOX-Nano) instead of training one from scratch
    camera_shift: bool = False  # augment for other cameras: height, pitch, light, shadows, wet, blur, JPEG
    box_negative_weight: float = 0.5  # box photos: weight of "no damage of this class outside its boxes"

    @property
    def class_names(self) -> tuple[str, ...]:
        return TYPED_CLASSES if self.typed else CLASS_NAMES

    @property
    def rules(self) -> tuple[GroupingRule, ...]:
        return TYPED_RULES if self.typed else DATA_RULES


def _augment(images: np.ndarray, targets: np.ndarray, crop: tuple[int, int], rng: np.random.Generator,
             shift: CameraShift | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crop (aligned to the output stride), horizontal flip, exposure and contrast;
    with ``shift``, first each sample under a random other camera (voirie.lab.train.augment)."""
    if shift is not None:
        pairs = [augment_sample(image, target, OUTPUT_STRIDE, shift, rng) for image, target in zip(images, targets)]
        images, targets = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    height, width = images.shape[1:3]
    top = int(rng.integers(0, (height - crop[0]) // OUTPUT_STRIDE + 1)) * OUTPUT_STRIDE
    left = int(rng.integers(0, (width - crop[1]) // OUTPUT_STRIDE + 1)) * OUTPUT_STRIDE
    x = images[:, top:top + crop[0], left:left + crop[1], ::-1].astype(np.float32) / 255.0  # BGR → RGB
    y = targets[:, :, top // OUTPUT_STRIDE:(top + crop[0]) // OUTPUT_STRIDE,
                left // OUTPUT_STRIDE:(left + crop[1]) // OUTPUT_STRIDE].astype(np.float32)
    flip = rng.random(len(x)) < 0.5
    x[flip], y[flip] = x[flip, :, ::-1], y[flip, :, :, ::-1]
    gain = rng.uniform(0.7, 1.3, (len(x), 1, 1, 1)).astype(np.float32)
    bias = rng.uniform(-0.1, 0.1, (len(x), 1, 1, 1)).astype(np.float32)
    x = np.clip((x - 0.5) * gain + 0.5 + bias, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(np.ascontiguousarray(y))


def loss_fn(probabilities: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice per class over the batch; ``weight`` (N×C, 0 or 1)
    leaves out the classes an image does not teach."""
    p = probabilities.clamp(1e-6, 1 - 1e-6)
    w = torch.ones(p.shape[:2]) if weight is None else weight
    w = w[:, :, None, None].expand_as(p)
    bce = (F.binary_cross_entropy(p, target, reduction="none") * w).sum() / w.sum().clamp(min=1)
    inter = (p * target * w).sum((0, 2, 3))
    dice = 1 - (2 * inter + 1) / ((p * w).sum((0, 2, 3)) + (target * w).sum((0, 2, 3)) + 1)
    return bce + dice.mean()


def _projection_dice(probabilities: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Box supervision of a mask (BoxInst's projection loss): the mask's maximum along each
    column and each row must match the boxes' (soft Dice), for every image and class with a box."""
    present = boxes.amax((2, 3)) > 0
    if not present.any():
        return probabilities.sum() * 0
    loss = 0
    for axis in (2, 3):
        p, b = probabilities.amax(axis)[present], boxes.amax(axis)[present]
        loss = loss + (1 - (2 * (p * b).sum(1) + 1) / ((p * p).sum(1) + (b * b).sum(1) + 1)).mean()
    return loss


def typed_loss(probabilities: torch.Tensor, target: torch.Tensor, from_boxes: torch.Tensor,
               negative_weight: float) -> torch.Tensor:
    """Loss of the typed model. Mask photos (untyped crack and pothole masks) teach the
    union of the three crack maps (noisy-or) and the pothole map, pixel by pixel; box photos
    teach every class's map with the projection loss inside its boxes and "nothing of this
    class" outside them (down-weighted: RDD annotators leave some damage unboxed)."""
    loss = probabilities.sum() * 0
    masks = ~from_boxes
    if masks.any():
        p, y = probabilities[masks], target[masks, :DENSE_PLANES]
        any_crack = 1 - torch.prod(1 - p[:, :CRACK_TYPES], 1)
        loss = loss + loss_fn(torch.stack((any_crack, p[:, CRACK_TYPES]), 1), y)
    if from_boxes.any():
        p, boxes = probabilities[from_boxes].clamp(1e-6, 1 - 1e-6), target[from_boxes, DENSE_PLANES:]
        outside = 1 - boxes
        negative = (-torch.log(1 - p) * outside).sum() / outside.sum().clamp(min=1)
        loss = loss + negative_weight * negative + _projection_dice(p, boxes)
    return loss


class TorchSegDetector:
    """A checkpoint in memory scored exactly like the exported ONNX (same letterbox, decode)."""

    def __init__(self, model: DamageSegNet, imgsz: tuple[int, int], rules: tuple[GroupingRule, ...],
                 class_names: tuple[str, ...] = CLASS_NAMES) -> None:
        self.model, self.imgsz, self.rules = model.eval(), imgsz, rules
        self.model_id, self.class_names = "damage-seg (training)", class_names
        self.input_size, self.grouping = imgsz, (rules, REFERENCE_WIDTH)  # as OnnxDetector names them
        self.plane_names, self.plane_of = class_names, tuple(range(len(class_names)))

    def raw_maps(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        canvas, box = letterbox(image, self.imgsz)
        with torch.no_grad():
            output = self.model(torch.from_numpy(to_blob([canvas], "ultralytics")))[0].numpy()
        return output, box

    def detect(self, image: np.ndarray):
        output, box = self.raw_maps(image)
        return detections_from_masks(output, box, self.imgsz, self.class_names, self.rules, REFERENCE_WIDTH)


def mask_photo_ids(root: Path, config: SegTrainConfig) -> list[str]:
    """The mask dataset's training photos: its ``mask_splits``, less ``exclude_highway``'s."""
    ids = [i for split in config.mask_splits for i in split_ids(root, split)]
    if config.exclude_highway:
        ids = [i for i in ids if highway_of(i) != config.exclude_highway]
        if not ids:
            raise ValueError(f"no training photo is left after leaving out highway {config.exclude_highway}")
    return ids


def training_set(root: Path, config: SegTrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, targets, per-image class weights and "taught by boxes" flags of every training sample."""
    images, targets = load_photos(root, mask_photo_ids(root, config), config.imgsz)
    weights = np.ones((len(images), len(CLASS_NAMES)), np.float32)  # per image and class: 1 = learn it
    if config.synthetic:
        extra_images, extra_targets = load_synthetic(config.synthetic, config.synthetic_seed, config.imgsz)
        taught = np.array([name in config.synthetic_classes for name in CLASS_NAMES], np.float32)
        weights = np.concatenate((weights, np.tile(taught, (len(extra_images), 1))))
        images, targets = np.concatenate((images, extra_images)), np.concatenate((targets, extra_targets))
    from_boxes = np.zeros(len(images), bool)
    if config.typed:
        targets = with_empty_box_planes(targets, len(TYPED_CLASSES))
        if config.box_data:
            box_root = Path(config.box_data)
            box_images, box_targets = load_box_photos(box_root, split_ids(box_root, "train"), config.imgsz)
            images, targets = np.concatenate((images, box_images)), np.concatenate((targets, box_targets))
            from_boxes = np.concatenate((from_boxes, np.ones(len(box_images), bool)))
            weights = np.concatenate((weights, np.ones((len(box_images), weights.shape[1]), np.float32)))
    return images, targets, weights, from_boxes


def new_model(config: SegTrainConfig) -> DamageSegNet:
    """The network a config describes, with the pretrained encoder's graph when it names one."""
    backbone = None
    if config.backbone:
        from voirie.lab.train.onnx_backbone import extract_backbone

        backbone = extract_backbone(Path(config.backbone))
    return DamageSegNet(len(config.class_names), backbone=backbone)


def _step_loss(model: DamageSegNet, config: SegTrainConfig, batch: tuple, rng: np.random.Generator,
               shift: CameraShift | None) -> torch.Tensor:
    images, targets, weights, from_boxes = batch
    x, y = _augment(images, targets, config.crop, rng, shift)
    if config.typed:
        return typed_loss(model(x), y, torch.from_numpy(from_boxes), config.box_negative_weight)
    return loss_fn(model(x), y, torch.from_numpy(weights))


def _checkpoint(model: DamageSegNet, config: SegTrainConfig, **extra) -> dict:
    backbone = model.backbone_graph if config.backbone else None
    return {"format": FORMAT, "model": model.state_dict(), "config": asdict(config), "backbone": backbone, **extra}


def train_segmentation(root: Path, val_folder: Path | None, out: Path, config: SegTrainConfig = SegTrainConfig(),
                       resume: bool = False) -> Path:
    """Train; checkpoints ``last.pt`` every epoch and, when ``val_folder`` is given, ``best.pt``
    by its F1 (without one, or for honest folds, use ``last.pt``: nothing chosen on a test set)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    images, targets, weights, from_boxes = training_set(root, config)
    model = new_model(config)
    if config.init:
        model.load_state_dict(torch.load(config.init, weights_only=False, map_location="cpu")["model"])
    shift = CameraShift() if config.camera_shift else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    averaged = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema), use_buffers=True)
    steps = config.epochs * (len(images) // config.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps, pct_start=0.05)
    start_epoch, best, history = 0, -1.0, []
    if resume and (out / "last.pt").is_file():
        state = torch.load(out / "last.pt", weights_only=False)
        model.load_state_dict(state["train_model"])
        averaged.module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start_epoch, best, history = state["epoch"] + 1, state["best"], state["history"]
        rng = np.random.default_rng([config.seed, start_epoch])
    logger.info("training on %d photos (%d taught by boxes)", len(images), int(from_boxes.sum()))
    for epoch in range(start_epoch, config.epochs):
        started, total = time.time(), 0.0
        model.train()
        order = rng.permutation(len(images))
        for first in range(0, len(order) - config.batch + 1, config.batch):
            pick = np.sort(order[first:first + config.batch])
            loss = _step_loss(model, config, (images[pick], targets[pick], weights[pick], from_boxes[pick]), rng, shift)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            averaged.update_parameters(model)
            total += loss.item()
        row = {"epoch": epoch, "loss": round(total / (len(order) // config.batch), 4),
               "seconds": round(time.time() - started, 1)}
        if val_folder is not None and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
            detector = TorchSegDetector(averaged.module, config.imgsz, config.rules, config.class_names)
            scores = evaluate(detector, val_folder, confidence=0.5)
            row.update(f1=scores["f1"], per_class={k: v["f1"] for k, v in scores["per_class"].items()})
            if scores["f1"] > best:
                best = scores["f1"]
                torch.save(_checkpoint(averaged.module, config, epoch=epoch, f1=best), out / "best.pt")
        history.append(row)
        logger.info("epoch %s", row)
        print(json.dumps(row), flush=True)
        torch.save(_checkpoint(averaged.module, config, train_model=model.state_dict(),
                               optimizer=optimizer.state_dict(), schedule=schedule.state_dict(), epoch=epoch,
                               best=best, history=history), out / "last.pt")
    return out / "best.pt" if (out / "best.pt").is_file() else out / "last.pt"


class FlipAveraged(torch.nn.Module):
    """The maps of the image and of its mirror image, averaged (test-time augmentation in the graph)."""

    def __init__(self, model: DamageSegNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + torch.flip(self.model(torch.flip(x, (3,))), (3,))) / 2


def export_segmentation(checkpoint: Path, output: Path, rules: tuple[GroupingRule, ...] | None = None,
                        imgsz: tuple[int, int] | None = None, flip: bool = False) -> Path:
    """Export a checkpoint to ONNX (opset 17, fixed 1×3×H×W input, probabilities out) with the
    metadata the runtime reads: class names, input size and the grouping rules. ``flip``
    averages the maps of the frame and its mirror image (twice the compute)."""
    state = torch.load(checkpoint, weights_only=False, map_location="cpu")
    size = tuple(imgsz or state["config"]["imgsz"])
    names = TYPED_CLASSES if state["config"].get("typed") else CLASS_NAMES
    rules = rules if rules is not None else (TYPED_RULES if state["config"].get("typed") else DATA_RULES)
    model = DamageSegNet(len(names), backbone=state.get("backbone"))
    model.load_state_dict(state["model"])
    model.eval()
    output.parent.mkdir(parents=True, exist_ok=True)
    exported = FlipAveraged(model).eval() if flip else model
    torch.onnx.export(exported, (torch.zeros(1, 3, *size),), str(output), input_names=["images"], output_names=["maps"],
                      opset_version=17, dynamo=False)
    write_grouping_metadata(output, names, size, rules, REFERENCE_WIDTH)
    return output
