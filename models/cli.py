"""``voirie models list|verify|info|register|eval|package`` and ``voirie train damage``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Column, Table

from voirie.models import registry
from voirie.models.errors import ModelError

logger = logging.getLogger(__name__)
console = Console()

models_app = typer.Typer(help="Damage models: list, verify, inspect, register, evaluate.", no_args_is_help=True)
train_app = typer.Typer(help="Train models (needs the train extra: pip install 'voirie\\[train]').", no_args_is_help=True)


def _fail(error: Exception) -> None:
    typer.echo(f"error: {error}", err=False)  # plain echo: rich would wrap long paths
    raise typer.Exit(2)


def _class_list(classes: tuple[str, ...], shown: int = 6) -> str:
    """Class names for a table cell; COCO's 80 would fill the screen."""
    if len(classes) <= shown:
        return ", ".join(classes)
    return f"{len(classes)}: " + ", ".join(classes[:shown]) + ", …"


@models_app.command("list")
def list_models() -> None:
    """List shipped and registered models."""
    table = Table("version", "classes", "input", "variants", "F1 (val)")
    table.columns.insert(0, Column("name", no_wrap=True))
    for manifest, folder in registry.list_manifests():
        f1 = manifest.metrics.get("val", {}).get(manifest.default_variant, {}).get("f1", "")
        table.add_row(", ".join((manifest.name, *manifest.aliases)), manifest.version, _class_list(manifest.classes),
                      "×".join(map(str, manifest.input_size)), ", ".join(manifest.files), str(f1))
    console.print(table)


@models_app.command()
def verify(name: str = typer.Argument(None, help="Model name; all models when omitted.")) -> None:
    """Check every model file's sha256 against its manifest."""
    failures = 0
    for manifest, folder in registry.list_manifests():
        if name and name not in (manifest.name, *manifest.aliases):
            continue
        for variant in manifest.files:
            try:
                registry.verify_file(manifest, folder, variant)
                console.print(f"[green]ok[/green] {manifest.name} {variant}")
            except ModelError as error:
                failures += 1
                console.print(f"[red]FAILED[/red] {error}")
    if failures:
        raise typer.Exit(1)


@models_app.command()
def info(name: str = typer.Argument(..., help="Model name or alias.")) -> None:
    """Print a model's manifest."""
    try:
        manifest, folder = registry.find_model(name)
    except ModelError as error:
        _fail(error)
    console.print_json(json.dumps({**manifest.model_dump(mode="json"), "folder": str(folder)}))


@models_app.command("register")
def register_model(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Your ONNX detector."),
    name: str = typer.Option(..., help="Registry name (lowercase, digits, . _ -)."),
    version: str = typer.Option("1", help="Your version label."),
    classes: str = typer.Option(None, help="Comma-separated class names (default: from the ONNX metadata)."),
    license_: str = typer.Option("unknown", "--license", help="Licence of the weights."),
    training_data: str = typer.Option("unknown", help="What it was trained on."),
    overwrite: bool = typer.Option(False, help="Replace a registered model of that name."),
) -> None:
    """Register a user-supplied ONNX (e.g. a YOLO11 trained on RDD2022 elsewhere)."""
    from voirie.models.runtime import load_detector

    try:
        names = tuple(c.strip() for c in classes.split(",")) if classes else None
        detector = load_detector(path, class_names=names)  # checks it is a detector we can run
        manifest = registry.Manifest(
            name=name, version=version, classes=detector.class_names, input_size=detector.input_size,
            layout=detector.layout, license=license_, training_data=training_data,
            files={"fp32": registry.ModelFile(file=path.name, sha256=registry.sha256_file(path),
                                              bytes=path.stat().st_size)},
            default_variant="fp32", description=f"user-registered model from {path.name}",
        )
        folder = registry.register(path, manifest, overwrite=overwrite)
    except (ModelError, ValueError) as error:
        _fail(error)
    console.print(f"registered [bold]{name}[/bold] in {folder}")


@models_app.command("eval")
def eval_model(
    model: str = typer.Option("default", help="Registry name, ONNX file, or ultralytics .pt checkpoint (exported first)."),
    data: Path = typer.Option(..., exists=True, file_okay=False, help="YOLO folder: images/, labels/, data.yaml."),
    input_: str = typer.Option("416x416", "--input", help="Input HxW of the export when --model is a .pt checkpoint."),
    map_: str = typer.Option(None, "--map", help="Model→dataset classes, e.g. D00=crack,D10=crack,D40=pothole."),
    variant: str = typer.Option(None, help="fp32 or int8 (registered models)."),
    confidence: float = typer.Option(0.25, min=0.0, max=1.0, help="Score threshold for the reported F1."),
    class_confidence: str = typer.Option(None, help="Per-class thresholds (dataset classes), e.g. crack=0.2,pothole=0.05; "
                                         "each one of the swept values. The JSON line then reports these."),
    tune_classes: bool = typer.Option(False, help="Also print the per-class thresholds with the best F1 on this set."),
    examples: Path = typer.Option(None, help="Write 12 annotated photos here (truth green, detections red)."),
) -> None:
    """Per-class precision/recall/F1 at IoU ≥ 0.5; the last line is one JSON object."""
    from voirie.lab.train.evaluate import SWEEP, evaluate
    from voirie.models.runtime import load_detector
    from voirie.lab.train.thresholds import best_class_thresholds, parse_class_thresholds, scores_at

    try:
        model = _checkpoint_onnx(Path(model), input_) if model.endswith(".pt") else model
        detector = load_detector(model, variant=variant, confidence=min(SWEEP[0], confidence))
        result = evaluate(detector, data, map_, confidence, examples)
        if class_confidence:
            result.update(scores_at(result, parse_class_thresholds(class_confidence, tuple(result["counts"][str(float(confidence))]))))
    except (ModelError, ValueError) as error:
        _fail(error)
    _print_scores(result, f"{detector.model_id} on {data}")
    if tune_classes:
        best = best_class_thresholds(result)
        console.print(f"best per-class thresholds on this set (tuned here, so optimistic): {best} → {scores_at(result, best)}")
    for key in ("sweep", "by_threshold", "counts"):
        result.pop(key)
    print(json.dumps(result))


def _checkpoint_onnx(weights: Path, input_: str) -> str:
    """Export a training checkpoint to a cached fp32 ONNX (the checkpoint is copied, not touched)."""
    import hashlib

    from voirie.lab.train.export import export_onnx

    if not weights.is_file():
        raise ModelError(f"checkpoint {weights} not found")
    height, width = (int(v) for v in input_.lower().split("x"))
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    output = Path(".cache/voirie-eval") / f"{weights.stem}-{digest}-{height}x{width}.onnx"
    if output.is_file():
        return str(output)
    if _is_segmentation_checkpoint(weights):  # from `voirie train damage-seg`: its own input size
        from voirie.lab.train.segment_train import export_segmentation

        return str(export_segmentation(weights, output.with_name(f"{weights.stem}-{digest}-seg.onnx")))
    return str(export_onnx(weights, output, (height, width)))


def _is_segmentation_checkpoint(weights: Path) -> bool:
    """A `voirie train damage-seg` checkpoint says so (``format``; early ones hold its
    ``eval_every`` setting); read without unpickling anything."""
    import zipfile

    try:
        with zipfile.ZipFile(weights) as archive:
            return any(b"voirie-damage-seg" in archive.read(n) or b"eval_every" in archive.read(n)
                       for n in archive.namelist() if n.endswith("data.pkl"))
    except zipfile.BadZipFile:
        return False


def _print_scores(result: dict, title: str) -> None:
    table = Table("class", "precision", "recall", "F1", title=title)
    for name, scores in result["per_class"].items():
        table.add_row(name, *(f"{scores[k]:.3f}" for k in ("precision", "recall", "f1")))
    table.add_row("all", *(f"{result[k]:.3f}" for k in ("precision", "recall", "f1")))
    console.print(table)
    console.print(f"F1 by threshold: {result['sweep']}")


@models_app.command("package")
def package_model(
    weights: Path = typer.Option(..., exists=True, help="Checkpoint: ultralytics (.pt) or `voirie train damage-seg`'s."),
    out: Path = typer.Option(..., help="Model folder to write (ONNX fp32 + INT8, manifest, card)."),
    val: Path = typer.Option(..., exists=True, file_okay=False, help="YOLO val folder for the scores (and tuning)."),
    calibration: Path = typer.Option(..., exists=True, file_okay=False, help="Images for INT8 calibration."),
    name: str = typer.Option("damage-custom"), version: str = typer.Option("1"),
    input_: str = typer.Option("416x416", "--input", help="YOLO: ONNX input HxW, e.g. 256x416 for 16:9 frames."),
    license_: str = typer.Option("AGPL-3.0-or-later", "--license"),
    training_data: str = typer.Option("unknown"), notes: Path = typer.Option(None, help="Markdown appended to the card."),
    command: str = typer.Option("", help="The training command, for the card."),
    tune: bool = typer.Option(True, help="Tune on --val: YOLO the confidence, segmentation each class's grouping."),
    flip: bool = typer.Option(False, help="Segmentation: average each frame's maps with its mirror image's (2× compute)."),
    examples: Path = typer.Option(None, help="Segmentation: also write a PNG of 4 val photos with maps and boxes."),
    tune_on: list[str] = typer.Option([], help="Segmentation: tune the grouping on these YOLO folders instead of --val, "
                                                "in order; FOLDER or FOLDER@MAP (a --map for that folder)."),
    keep_min_pixels: str = typer.Option("", help="Segmentation: classes whose smallest group is not tuned (e.g. pothole)."),
    type_cracks: Path = typer.Option(None, exists=True, file_okay=False,
                                     help="Segmentation: YOLO folder with RDD crack types (crack_longitudinal, ...) "
                                          "on which to choose how crack groups are typed by their shape."),
) -> None:
    """Export a checkpoint to ONNX fp32 + INT8, evaluate both and write manifest + model card."""
    from voirie.lab.train.training import PackageSpec, package

    spec = PackageSpec(name, version, license_, training_data, command, notes.read_text() if notes else "")
    try:
        if _is_segmentation_checkpoint(weights):
            tune_pairs = tuple((Path(t.split("@", 1)[0]), t.split("@", 1)[1] if "@" in t else None) for t in tune_on)
            kept = frozenset(c.strip() for c in keep_min_pixels.split(",") if c.strip())
            manifest = _package_segmentation(weights, out, val, calibration, spec, tune, flip, examples, tune_pairs, kept,
                                             type_cracks)
        else:
            height, width = (int(v) for v in input_.lower().split("x"))
            manifest = package(weights, out, val, calibration, spec, (height, width), tune=tune)
    except ValueError as error:  # ModelError included
        _fail(error)
    print(json.dumps(manifest.metrics["val"]))


@models_app.command("type-cracks")
def type_cracks_command(
    model: str = typer.Option("default", help="A registered segmentation model (name or alias)."),
    data: Path = typer.Option(..., exists=True, file_okay=False,
                              help="YOLO folder with RDD crack types, e.g. RDD2022's train split."),
    out: Path = typer.Option(..., help="Model folder to write (the model's files with crack typing, manifest, card)."),
    version: str = typer.Option(..., help="Version of the typed model."),
    score: list[Path] = typer.Option([], help="Also score every variant on these YOLO folders (repeatable)."),
) -> None:
    """Add crack types to a crack/pothole segmentation model: its crack groups are named
    longitudinal, transverse or alligator by their shape, chosen on typed photos."""
    from voirie.lab.train.segment_package import add_crack_typing

    try:
        manifest = add_crack_typing(model, data, out, version, tuple(score))
    except (ModelError, ValueError) as error:
        _fail(error)
    console.print(f"typed model written to {out}: classes {', '.join(manifest.classes)}")
    print(json.dumps(manifest.metrics["crack_typing"]))


def _package_segmentation(weights: Path, out: Path, val: Path, calibration: Path, spec, tune: bool, flip: bool,
                          examples: Path | None, tune_on: tuple = (), keep_min_pixels: frozenset[str] = frozenset(),
                          type_cracks: Path | None = None):
    from voirie.models.runtime import load_detector
    from voirie.lab.train.segment_package import package_segmentation, write_examples
    from voirie.lab.train.segment_train import export_segmentation

    fp32 = export_segmentation(weights, out / "model_fp32.onnx", flip=flip)
    manifest = package_segmentation(fp32, out, val, calibration, spec, tune=tune, tune_on=tune_on,
                                    keep_min_pixels=keep_min_pixels, typing_on=type_cracks)
    if examples is not None:
        console.print(f"examples: {write_examples(load_detector(out / manifest.files['fp32'].file), val, examples)}")
    return manifest


@train_app.command("damage")
def train_damage(
    data: Path = typer.Option(..., exists=True, file_okay=False, help="YOLO folder or RDD Pascal-VOC XML tree."),
    out: Path = typer.Option(Path("runs/damage-model"), help="Where the ONNX files, manifest and card go."),
    classes: str = typer.Option(",".join(("D00", "D10", "D20", "D40")), help="VOC classes to keep, in order."),
    model: str = typer.Option("yolo11n.yaml", help="Architecture YAML (from scratch) or a local .pt to fine-tune."),
    imgsz: int = typer.Option(416), epochs: int = typer.Option(60, min=1), batch: int = typer.Option(16, min=1),
    device: str = typer.Option("cpu", help="cpu, or a GPU index such as 0."),
    name: str = typer.Option("damage-custom", help="Registry name written into the manifest."),
    resume: bool = typer.Option(False, help="Resume the interrupted run in runs/damage/NAME."),
) -> None:
    """Train a damage detector, export ONNX fp32 + INT8, evaluate, and write the model card."""
    from voirie.lab.train.datasets import prepare_dataset
    from voirie.lab.train.training import PackageSpec, TrainConfig, command_line, package, train

    try:
        work = Path("runs/damage") / name / "dataset"
        data_yaml, _ = prepare_dataset(data, work, tuple(c.strip() for c in classes.split(",")))
        config = TrainConfig(model=model, imgsz=imgsz, epochs=epochs, batch=batch, device=device, name=name)
        best = train(config, data_yaml, resume=resume)
        spec = PackageSpec(name, "1", "AGPL-3.0-or-later (ultralytics YOLO architecture)", str(data), command_line())
        manifest = package(best, out, work / "val", work / "train" / "images", spec, (imgsz, imgsz), tune=True)
    except ModelError as error:
        _fail(error)
    console.print(f"model written to {out} (default variant {manifest.default_variant})")
    print(json.dumps(manifest.metrics["val"]))


@train_app.command("damage-seg")
def train_damage_seg(
    data: Path = typer.Option(..., exists=True, file_okay=False,
                              help="Photos with masks: images/, masks/<id>_CRACK.png, _POTHOLE.png, splits/."),
    out: Path = typer.Option(Path("runs/damage-seg"), help="Checkpoints (last.pt, best.pt) and the scores."),
    epochs: int = typer.Option(40, min=1), batch: int = typer.Option(8, min=1),
    synthetic: int = typer.Option(0, min=0, help="Synthetic scenes with exact masks to add."),
    synthetic_classes: str = typer.Option("crack", help="Classes the synthetic scenes teach (others ignored on them)."),
    init: Path = typer.Option(None, exists=True, dir_okay=False, help="Start from this checkpoint's weights."),
    lr: float = typer.Option(2e-3, min=0),
    ema: float = typer.Option(0.995, min=0, max=0.9999, help="Weight averaging per step; 0 keeps the last step's weights."),
    typed: bool = typer.Option(False, help="Five RDD types (crack_longitudinal/transverse/alligator, pothole, patch)."),
    box_data: Path = typer.Option(None, exists=True, file_okay=False,
                                  help="Typed: a YOLO box dataset (e.g. RDD2022) whose splits/train.txt is added."),
    mask_splits: str = typer.Option("train", help="Splits of DATA to train on, e.g. train,val."),
    exclude_highway: str = typer.Option(None, help="Leave this highway out (e.g. RS-290) for a transfer fold."),
    backbone: Path = typer.Option(None, exists=True, dir_okay=False,
                                  help="Pretrained ONNX encoder (YOLOX-Nano COCO) instead of one from scratch."),
    camera_shift: bool = typer.Option(False, help="Augment for other cameras: height, pitch, light, shadow, wet, blur, JPEG."),
    validate: bool = typer.Option(True, help="Score on DATA's val split every 2 epochs and keep best.pt; "
                                             "off for folds and final runs (nothing chosen on a test set)."),
    threads: int = typer.Option(2, min=1, help="torch CPU threads."),
    imgsz: str = typer.Option("320x512", help="Network input HxW (multiples of 32); training crops stay 256x384."),
    resume: bool = typer.Option(False, help="Continue from OUT/last.pt."),
) -> None:
    """Train the damage segmentation model (masks grouped into boxes as annotators draw them)."""
    from voirie.lab.train.datasets import prepare_dataset
    from voirie.lab.train.segment_train import SegTrainConfig, train_segmentation

    try:
        prepare_dataset(data, out / "dataset")
        config = SegTrainConfig(epochs=epochs, batch=batch, synthetic=synthetic, lr=lr, ema=ema,
                                synthetic_classes=tuple(c.strip() for c in synthetic_classes.split(",") if c.strip()),
                                init=str(init) if init else None, typed=typed,
                                box_data=str(box_data) if box_data else None,
                                mask_splits=tuple(s.strip() for s in mask_splits.split(",") if s.strip()),
                                exclude_highway=exclude_highway, backbone=str(backbone) if backbone else None,
                                camera_shift=camera_shift, threads=threads, imgsz=_input_size(imgsz))
        best = train_segmentation(data, out / "dataset" / "val" if validate else None, out, config, resume=resume)
    except (ModelError, FileNotFoundError, ValueError) as error:
        _fail(error)
    console.print(f"checkpoint: {best}")


def _input_size(text: str) -> tuple[int, int]:
    """``HxW`` → (H, W), both positive multiples of 32 (the network's deepest stride)."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--imgsz {text!r}: expected HxW, e.g. 480x768") from None
    if height < 256 or width < 384 or height % 32 or width % 32:
        raise ValueError(f"--imgsz {text!r}: multiples of 32, at least 256x384 (the training crop)")
    return height, width


@train_app.command("synth-damage")
def synth_damage(
    out: Path = typer.Option(..., help="YOLO folder to write (images/, labels/, data.yaml)."),
    images: int = typer.Option(400, min=1, help="How many scenes."),
    seed: int = typer.Option(1, help="Set seed: use another one for a held-out set."),
    preview: Path = typer.Option(None, help="Also write a PNG of the first 6 scenes with their boxes."),
) -> None:
    """Render road scenes with cracks and potholes and their exact YOLO labels (crack=0, pothole=1)."""
    from voirie.lab.synth.damage import SynthConfig, write_preview, write_synth_dataset

    config = SynthConfig(images=images, seed=seed)
    counts = write_synth_dataset(out, config)
    if preview is not None:
        console.print(f"preview: {write_preview(preview, config)}")
    print(json.dumps(counts))


@train_app.command("sample-drive-labels")
def sample_drive_labels(
    out: Path = typer.Option(..., help="YOLO folder to write."),
    spacing: float = typer.Option(4.0, min=0.5, help="Metres between frames, as the survey takes them."),
) -> None:
    """Write the sample drive's frames with their photos' human damage labels, to score a model on the demo."""
    from voirie.lab.synth.damage import sample_drive_dataset

    print(json.dumps(sample_drive_dataset(out, spacing_m=spacing)))


@train_app.command("mix-data")
def mix_data(
    out: Path = typer.Option(..., help="Data YAML to write (a .txt list of training images goes beside it)."),
    real: Path = typer.Option(..., exists=True, file_okay=False, help="Folder with train/images (real photos)."),
    synth: Path = typer.Option(..., exists=True, file_okay=False, help="Synthetic YOLO folder."),
    synth_count: int = typer.Option(300, min=0, help="How many synthetic images to add."),
    val: list[Path] = typer.Option(..., exists=True, file_okay=False, help="Validation YOLO folder(s)."),
) -> None:
    """Write a data YAML mixing real training photos with synthetic scenes."""
    from voirie.lab.synth.damage import write_mixed_yaml

    try:
        console.print(f"wrote {write_mixed_yaml(out, real, synth, synth_count, val)}")
    except ValueError as error:
        _fail(error)


def register(app: typer.Typer) -> None:
    """Add ``voirie models ...`` and ``voirie train ...`` to the main command."""
    app.add_typer(models_app, name="models")
    app.add_typer(train_app, name="train")
