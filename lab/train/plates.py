"""Train the plate detector (torch; ``train`` extra only, never on the edge box).

``PlateNet`` is a small fully convolutional network that gives, at half the input
resolution, the probability that a pixel lies on a number plate. Plain 3×3
convolutions, 8-48 channels, down to 1/16 and a light decoder back to 1/2: far fewer
multiply-adds per pixel than the PP-OCR text detector it replaces, because a plate band
at full resolution is the largest input the anonymizer runs. It learns from
``plate_synth`` scenes (rendered plates pasted into road photos), with binary
cross-entropy plus soft Dice on the plate masks.

    voirie anonymize train-plates --out runs/plates-a --minutes 40
    voirie anonymize export-plates --checkpoint runs/plates-a/last.pt --out anonymize/platenet.onnx
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from rich.progress import Progress
from torch import nn
from torch.nn import functional as F

from voirie.lab.synth.plates import training_sample

logger = logging.getLogger(__name__)

OUTPUT_STRIDE = 2  # the map is at 1/2 of the input (anonymize/platenet.py reads it from the metadata too)


def _conv(inputs: int, outputs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class PlateNet(nn.Module):
    """Input N×3×H×W BGR in 0..255 (H, W multiples of 16); output N×1×H/2×W/2 plate probability.

    Plain 3×3 convolutions (they fuse with batch norm on export): measured against a
    depthwise-separable build of the same shape, ONNX Runtime ran them as fast on a
    1280×384 band and torch trained them 1.5× faster on the CPU.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (8, 16, 32, 48)) -> None:
        super().__init__()
        w = widths
        self.down = nn.ModuleList([
            nn.Sequential(_conv(3, w[0], 2), _conv(w[0], w[0])),
            nn.Sequential(_conv(w[0], w[1], 2), _conv(w[1], w[1])),
            nn.Sequential(_conv(w[1], w[2], 2), _conv(w[2], w[2])),
            nn.Sequential(_conv(w[2], w[3], 2), _conv(w[3], w[3]), _conv(w[3], w[3], dilation=2)),
        ])
        self.lateral = nn.ModuleList([nn.Conv2d(w[i + 1], w[i], 1) for i in range(3)])
        self.merge = nn.ModuleList([_conv(w[i], w[i]) for i in range(3)])
        self.head = nn.Conv2d(w[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * (1.0 / 255.0)
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for level in reversed(range(3)):  # 1/16 -> 1/8 -> 1/4 -> 1/2
            skip = skips.pop()
            x = F.interpolate(self.lateral[level](x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.merge[level](x + skip)
        return torch.sigmoid(self.head(x))


@dataclass(frozen=True)
class PlateTrainConfig:
    """Everything that decides the trained weights (written into each checkpoint)."""

    minutes: float = 40.0
    batch: int = 16
    crop: int = 192
    lr: float = 3e-3
    seed: int = 0
    min_plate_px: float = 12.0  # plate widths drawn log-uniformly in [min, max] pixels
    max_plate_px: float = 220.0
    positive_weight: float = 3.0  # plates are a few % of the pixels
    threads: int = 2


def loss_fn(probability: torch.Tensor, target: torch.Tensor, positive_weight: float) -> torch.Tensor:
    """Weighted binary cross-entropy plus soft Dice over the batch."""
    weight = 1.0 + (positive_weight - 1.0) * target
    bce = F.binary_cross_entropy(probability.clamp(1e-6, 1 - 1e-6), target, weight=weight)
    overlap = (probability * target).sum()
    dice = 1 - (2 * overlap + 1) / (probability.sum() + target.sum() + 1)
    return bce + dice


def read_backgrounds(folder: Path, names: list[str] | None = None, limit: int = 0) -> list[np.ndarray]:
    """Road photos to paste plates into (every image of ``folder``, or the listed names)."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if names is not None:
        wanted = set(names)
        paths = [p for p in paths if p.name in wanted or p.stem in wanted]
    photos = [image for image in (cv2.imread(str(p)) for p in paths[: limit or None]) if image is not None]
    if not photos:
        raise ValueError(f"no readable road photos in {folder}")
    return photos


def batch_of(photos: list[np.ndarray], rng: np.random.Generator, config: PlateTrainConfig
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: images N×3×S×S (0..255) and targets N×1×S/2×S/2 (0..1)."""
    images, targets = [], []
    for _ in range(config.batch):
        image, mask = training_sample(photos[rng.integers(len(photos))], rng, (config.crop, config.crop),
                                      config.min_plate_px, config.max_plate_px)
        images.append(image.transpose(2, 0, 1))
        half = config.crop // OUTPUT_STRIDE
        targets.append(cv2.resize(mask, (half, half), interpolation=cv2.INTER_AREA)[None])
    return (torch.from_numpy(np.stack(images).astype(np.float32)),
            torch.from_numpy(np.stack(targets).astype(np.float32) / 255.0))


def train_plates(backgrounds: list[np.ndarray], out: Path, config: PlateTrainConfig = PlateTrainConfig(),
                 resume: Path | None = None, init: Path | None = None) -> Path:
    """Train for ``config.minutes`` of wall time; writes ``last.pt`` (and a log line per 50 steps) to ``out``.

    ``resume`` continues a run (weights, optimizer, schedule); ``init`` starts a new run from
    another run's weights (a fine-tune: new schedule, new optimizer).
    """
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    model = PlateNet()
    if init is not None:
        model.load_state_dict(torch.load(init, map_location="cpu", weights_only=False)["model"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    step, spent = 0, 0.0
    if resume is not None:
        state = torch.load(resume, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, spent = state["step"], state["seconds"]
        rng = np.random.default_rng([config.seed, step])
    out.mkdir(parents=True, exist_ok=True)
    budget = config.minutes * 60
    started = time.perf_counter() - spent
    model.train()
    with Progress() as progress, (out / "train.log").open("a") as log:
        task = progress.add_task("training plates", total=budget, completed=spent)
        running = None
        while (elapsed := time.perf_counter() - started) < budget:
            for group in optimizer.param_groups:  # cosine decay over the wall-time budget
                group["lr"] = config.lr * 0.5 * (1 + np.cos(np.pi * min(1.0, elapsed / budget)))
            images, targets = batch_of(backgrounds, rng, config)
            loss = loss_fn(model(images), targets, config.positive_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            progress.update(task, completed=elapsed, description=f"training plates, step {step}, loss {running:.3f}")
            if step % 50 == 0:
                log.write(f"step {step} t {elapsed:.0f} loss {running:.4f}\n")
                log.flush()
                _save(out / "last.pt", model, optimizer, step, elapsed, config)
    return _save(out / "last.pt", model, optimizer, step, time.perf_counter() - started, config)


def _save(path: Path, model: PlateNet, optimizer: torch.optim.Optimizer, step: int, seconds: float,
          config: PlateTrainConfig) -> Path:
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "seconds": seconds,
                "config": asdict(config)}, path)
    return path


def export_plates(checkpoint: Path, output: Path) -> Path:
    """The trained network as ONNX (opset 17, free height/width), with its output stride in the metadata."""
    import onnx

    model = PlateNet()
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["model"])
    model.eval()
    sample = torch.zeros(1, 3, 384, 1280)
    torch.onnx.export(model, sample, str(output), input_names=["images"], output_names=["plate"], opset_version=17,
                      dynamic_axes={"images": {2: "height", 3: "width"}, "plate": {2: "h", 3: "w"}}, dynamo=False)
    graph = onnx.load(str(output))
    entry = graph.metadata_props.add()
    entry.key, entry.value = "voirie_plate_stride", str(OUTPUT_STRIDE)
    onnx.save(graph, str(output))
    return output

