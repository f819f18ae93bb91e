"""``voirie train damage-seg``: train the crack/pothole segmentation model on a CPU.

Training data are photos with per-class damage masks: the ``road_damage_cpri`` layout
(``images/<id>.jpg``, ``masks/<id>_CRACK.png`` and ``_POTHOLE.png``, ``splits/train.txt``
and ``val.txt``), optionally plus synthetic scenes from ``voirie.models.synth`` (masks
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
from voirie.models.evaluate import evaluate
from voirie.models.masks import GroupingRule
from voirie.models.segment_data import (CLASS_NAMES, DATA_RULES, OUTPUT_STRIDE, REFERENCE_WIDTH, load_photos,
                                        load_synthetic, split_ids)
from voirie.models.segment_net import DamageSegNet
from voirie.models.segment_package import write_grouping_metadata

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


def _augment(images: np.ndarray, targets: np.ndarray, crop: tuple[int, int], rng: np.random.Generator
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crop (aligned to the output stride), horizontal flip, exposure and contrast."""
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


class TorchSegDetector:
    """A checkpoint in memory scored exactly like the exported ONNX (same letterbox, decode)."""

    def __init__(self, model: DamageSegNet, imgsz: tuple[int, int], rules: tuple[GroupingRule, ...]) -> None:
        self.model, self.imgsz, self.rules = model.eval(), imgsz, rules
        self.model_id, self.class_names = "damage-seg (training)", CLASS_NAMES

    def maps(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        canvas, box = letterbox(image, self.imgsz)
        with torch.no_grad():
            output = self.model(torch.from_numpy(to_blob([canvas], "ultralytics")))[0].numpy()
        return output, box

    def detect(self, image: np.ndarray):
        output, box = self.maps(image)
        return detections_from_masks(output, box, self.imgsz, CLASS_NAMES, self.rules, REFERENCE_WIDTH)


def train_segmentation(root: Path, val_folder: Path, out: Path, config: SegTrainConfig = SegTrainConfig(),
                       resume: bool = False) -> Path:
    """Train; checkpoints ``last.pt`` every epoch and ``best.pt`` by validation F1 in ``out``."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    images, targets = load_photos(root, split_ids(root, "train"), config.imgsz)
    weights = np.ones((len(images), len(CLASS_NAMES)), np.float32)  # per image and class: 1 = learn it
    if config.synthetic:
        extra_images, extra_targets = load_synthetic(config.synthetic, config.synthetic_seed, config.imgsz)
        taught = np.array([name in config.synthetic_classes for name in CLASS_NAMES], np.float32)
        weights = np.concatenate((weights, np.tile(taught, (len(extra_images), 1))))
        images, targets = np.concatenate((images, extra_images)), np.concatenate((targets, extra_targets))
    model = DamageSegNet(len(CLASS_NAMES))
    if config.init:
        model.load_state_dict(torch.load(config.init, weights_only=False, map_location="cpu")["model"])
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
    for epoch in range(start_epoch, config.epochs):
        started, total = time.time(), 0.0
        model.train()
        order = rng.permutation(len(images))
        for first in range(0, len(order) - config.batch + 1, config.batch):
            pick = np.sort(order[first:first + config.batch])
            x, y = _augment(images[pick], targets[pick], config.crop, rng)
            loss = loss_fn(model(x), y, torch.from_numpy(weights[pick]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            averaged.update_parameters(model)
            total += loss.item()
        row = {"epoch": epoch, "loss": round(total / (len(order) // config.batch), 4),
               "seconds": round(time.time() - started, 1)}
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            scores = evaluate(TorchSegDetector(averaged.module, config.imgsz, DATA_RULES), val_folder, confidence=0.5)
            row.update(f1=scores["f1"], per_class={k: v["f1"] for k, v in scores["per_class"].items()})
            if scores["f1"] > best:
                best = scores["f1"]
                torch.save({"format": FORMAT, "model": averaged.module.state_dict(), "config": asdict(config),
                            "epoch": epoch, "f1": best},
                           out / "best.pt")
        history.append(row)
        logger.info("epoch %s", row)
        print(json.dumps(row), flush=True)
        torch.save({"format": FORMAT, "model": averaged.module.state_dict(), "train_model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "config": asdict(config), "epoch": epoch, "best": best, "history": history}, out / "last.pt")
    return out / "best.pt"


class FlipAveraged(torch.nn.Module):
    """The maps of the image and of its mirror image, averaged (test-time augmentation in the graph)."""

    def __init__(self, model: DamageSegNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + torch.flip(self.model(torch.flip(x, (3,))), (3,))) / 2


def export_segmentation(checkpoint: Path, output: Path, rules: tuple[GroupingRule, ...] = DATA_RULES,
                        imgsz: tuple[int, int] | None = None, flip: bool = False) -> Path:
    """Export a checkpoint to ONNX (opset 17, fixed 1×3×H×W input, probabilities out) with the
    metadata the runtime reads: class names, input size and the grouping rules. ``flip``
    averages the maps of the frame and its mirror image (twice the compute)."""
    state = torch.load(checkpoint, weights_only=False, map_location="cpu")
    size = tuple(imgsz or state["config"]["imgsz"])
    model = DamageSegNet(len(CLASS_NAMES))
    model.load_state_dict(state["model"])
    model.eval()
    output.parent.mkdir(parents=True, exist_ok=True)
    exported = FlipAveraged(model).eval() if flip else model
    torch.onnx.export(exported, (torch.zeros(1, 3, *size),), str(output), input_names=["images"], output_names=["maps"],
                      opset_version=17, dynamo=False)
    write_grouping_metadata(output, CLASS_NAMES, size, rules, REFERENCE_WIDTH)
    return output
