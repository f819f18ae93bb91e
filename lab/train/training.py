"""``voirie train damage``: train a YOLO detector on CPU or GPU, export, quantize, evaluate, card.

Training builds the network from the architecture YAML (``yolo11n.yaml``) or starts from
weights the user provides; nothing is downloaded. ultralytics and torch come from the
``train`` extra and are imported only here.
"""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from voirie.models import registry
from voirie.lab.train.card import write_card
from voirie.models.errors import ModelError
from voirie.lab.train.evaluate import SWEEP, evaluate
from voirie.lab.train.export import export_onnx, offline_ultralytics_env, quantize_int8
from voirie.models.runtime import load_detector
from voirie.lab.train.thresholds import best_class_thresholds, scores_at

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how long; defaults fit a 2-core CPU in about two hours."""

    model: str = "yolo11n.yaml"  # architecture YAML (from scratch) or a local .pt to fine-tune
    imgsz: int = 416
    epochs: int = 60
    batch: int = 16
    workers: int = 2
    patience: int = 100
    device: str = "cpu"
    project: Path = Path("runs/damage")
    name: str = "train"
    save_period: int = 1  # a checkpoint per epoch so an interrupted run resumes with --resume
    close_mosaic: int = 8
    seed: int = 0


def train(config: TrainConfig, data_yaml: Path, resume: bool = False) -> Path:
    """Train (or resume) with ultralytics; returns the best checkpoint."""
    offline_ultralytics_env(Path(".cache/ultralytics").resolve())
    from ultralytics import YOLO  # train extra only

    last = config.project.resolve() / config.name / "weights" / "last.pt"
    if resume:
        if not last.is_file():
            raise ModelError(f"nothing to resume: {last} does not exist")
        YOLO(str(last)).train(resume=True)
    else:
        if config.model.endswith(".pt") and not Path(config.model).is_file():
            raise ModelError(f"weights {config.model} not found (nothing is downloaded: give a local file)")
        YOLO(config.model).train(
            data=str(data_yaml), imgsz=config.imgsz, epochs=config.epochs, batch=config.batch,
            workers=config.workers, patience=config.patience, device=config.device, seed=config.seed,
            project=str(config.project.resolve()), name=config.name, exist_ok=True, cache="ram",
            pretrained=config.model.endswith(".pt"), amp=config.device != "cpu", plots=False,
            save_period=config.save_period, close_mosaic=config.close_mosaic,
        )
    best = last.with_name("best.pt")
    return best if best.is_file() else last


@dataclass(frozen=True)
class PackageSpec:
    """Identity and provenance written into the manifest and the model card."""

    name: str
    version: str
    license: str
    training_data: str
    command: str = ""
    notes: str = ""


def package(weights: Path, out_dir: Path, val_dir: Path, calibration_dir: Path, spec: PackageSpec,
            imgsz: tuple[int, int], confidence: float = 0.25, tune: bool = False) -> registry.Manifest:
    """Export fp32 + INT8, evaluate both on ``val_dir``, write manifest.json and MODEL_CARD.md.

    With ``tune``, the recommended confidence is the one with the best fp32 F1 on ``val_dir``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(weights, out_dir / "model_fp32.onnx", imgsz)
    int8 = quantize_int8(fp32, out_dir / "model_int8.onnx", calibration_dir)
    metrics = {}
    for variant, path in (("fp32", fp32), ("int8", int8)):
        detector = load_detector(path, confidence=SWEEP[0])
        metrics[variant] = evaluate(detector, val_dir, confidence=confidence)
    class_confidence: dict[str, float] = {}
    if tune:  # thresholds with the best fp32 F1 on val become the recommended ones (disclosed in the card)
        confidence = float(max(metrics["fp32"]["sweep"], key=metrics["fp32"]["sweep"].get))
        class_confidence = best_class_thresholds(metrics["fp32"])
        metrics = {v: {**m, **scores_at(m, class_confidence), "confidence": confidence} for v, m in metrics.items()}
    return finish_package(
        out_dir, spec, metrics, {"fp32": fp32, "int8": int8}, val_dir,
        {"confidence": confidence, "confidence_tuned_on_val": tune},
        classes=detector.class_names, input_size=imgsz, layout="ultralytics",
        confidence=confidence, class_confidence=class_confidence, description="Pavement damage detector (YOLO11n, ONNX)",
    )


def finish_package(out_dir: Path, spec: PackageSpec, metrics: dict[str, dict], files: dict[str, Path], val_dir: Path,
                   extra_metrics: dict, **fields) -> registry.Manifest:
    """The manifest (files with their sha256, scores, default variant) and the card of a packaged
    model; ``fields`` are the model-specific manifest fields (classes, layout, thresholds...)."""
    # INT8 is the default when it costs at most 0.02 F1 (the budget for speed tricks)
    default = "int8" if metrics["int8"]["f1"] >= metrics["fp32"]["f1"] - 0.02 else "fp32"
    manifest = registry.Manifest(
        name=spec.name, version=spec.version, license=spec.license, training_data=spec.training_data,
        metrics={"val": {k: headline_metrics(v) for k, v in metrics.items()}, **extra_metrics,
                 "evaluated_on": str(val_dir), "date": datetime.now(timezone.utc).date().isoformat()},
        files={v: registry.ModelFile(file=p.name, sha256=registry.sha256_file(p), bytes=p.stat().st_size)
               for v, p in files.items()},
        default_variant=default, aliases=(registry.DEFAULT_ALIAS,) if spec.name == "damage-default" else (),
        **fields,
    )
    registry.write_manifest(manifest, out_dir)
    write_card(out_dir / "MODEL_CARD.md", manifest, metrics, spec)
    return manifest


def headline_metrics(result: dict) -> dict:
    keys = ("f1", "precision", "recall", "per_class", "class_confidence", "images", "ms_per_image", "sweep")
    return {k: result[k] for k in keys if k in result}


def command_line() -> str:
    """The command that is running, for the model card."""
    return " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])


def config_summary(config: TrainConfig) -> dict:
    """The training settings as plain values."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
