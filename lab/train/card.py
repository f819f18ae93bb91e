"""The model card: what a roads department reads before trusting a damage model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voirie.models.registry import Manifest
    from voirie.lab.train.training import PackageSpec

logger = logging.getLogger(__name__)

# Best published F1 (IoU ≥ 0.5) of the road-damage challenges, for scale. They are on other
# data (RDD2020/RDD2022: Japan, India, Czechia, Norway, USA, China), with larger models.
REFERENCE_F1 = {"CRDDC 2022 best (RDD2022, ensemble)": 0.76, "GRDDC 2020 best (RDD2020, ensemble)": 0.67}

CLOSING_THE_GAP = """\
## Why the scores differ from the challenge winners, and how a city closes the gap
- The challenge winners are ensembles of large YOLO models (tens of millions of parameters,
  COCO-pretrained, test-time augmentation) trained on 26,000-47,000 labelled photos; this model
  is one small network (YOLO11n, 2.6 M parameters, or voirie's DamageSegNet, 0.5-0.7 M) trained
  on a CPU, on a few hundred to a few thousand photos.
- The scores here are on the validation split of the same three Brazilian highways; photos of
  other roads, cameras, seasons and light will score lower until the model sees them.
- Boxes here are derived from crack masks (a crack network is one box), so a detector that
  splits a network into several boxes is penalised at IoU 0.5 even when it found the damage.

To close it for your city: (1) collect 300-1,000 survey photos from your own roads, spread over
districts, seasons and light; (2) label them (CVAT or Label Studio, YOLO or Pascal-VOC export;
classes D00 longitudinal crack, D10 transverse crack, D20 alligator crack, D40 pothole, plus any
your city needs); (3) run `voirie train damage --data YOUR_FOLDER` (a GPU makes it hours instead
of a day; starting from these weights with `--model best.pt` also helps); (4) check the new card's
F1 on photos from streets not used for training; (5) `voirie models register` the ONNX and survey
with `--model YOUR_NAME`. Every detection stays a suggestion that an inspector confirms.
"""


def _row(label: str, result: dict) -> str:
    classes = ", ".join(f"{name} {v['f1']:.3f}" for name, v in result.get("per_class", {}).items())
    return (f"| {label} | {result['f1']:.3f} | {result['precision']:.3f} | {result['recall']:.3f} | "
            f"{classes} | {result['ms_per_image']:.1f} |")


def _thresholds_label(manifest: Manifest) -> str:
    if manifest.task == "segment":
        return "masks grouped into boxes by the rules in the ONNX metadata"
    if manifest.class_confidence:
        return "confidence " + ", ".join(f"{name} ≥ {value}" for name, value in manifest.class_confidence.items())
    return f"confidence ≥ {manifest.confidence}"


def _tuning_note(manifest: Manifest) -> str:
    if manifest.task == "segment" and manifest.metrics.get("grouping_tuned_on"):
        return ("Each class's pixel threshold and smallest group were chosen on training photos ("
                + "; ".join(f"`{folder}`" for folder in manifest.metrics["grouping_tuned_on"])
                + "), never on the photos scored here; join distances are the data's own box rule.")
    if manifest.task == "segment" and manifest.metrics.get("grouping_tuned_on_val"):
        return ("Each class's pixel threshold and smallest group were chosen for the best fp32 F1 on this same "
                "validation set (two tuned numbers per class: the scores are slightly optimistic for that reason); "
                "join distances are the data's own box rule.")
    if not manifest.metrics.get("confidence_tuned_on_val"):
        return ""
    if manifest.class_confidence:
        per_class = ", ".join(f"{name} ≥ {value}" for name, value in manifest.class_confidence.items())
        return (f"The recommended thresholds ({per_class}; {manifest.confidence} where one threshold is used) are "
                "the per-class thresholds with the best fp32 F1 on this same validation set (tuned numbers: the "
                "scores are slightly optimistic for that reason). The scores below use them.")
    return (f"The recommended confidence {manifest.confidence} is the threshold with the best fp32 F1 on this same "
            "validation set (one tuned number: the scores are slightly optimistic for that reason).")


def _sweep_line(manifest: Manifest, metrics: dict[str, dict]) -> str:
    if manifest.task == "segment":  # groups already passed their pixel threshold: scores barely vary
        return "Each detection's confidence is the mean damage probability over its pixels."
    return "F1 by confidence threshold (fp32): " + ", ".join(
        f"{t}: {f:.3f}" for t, f in metrics.get("fp32", {}).get("sweep", {}).items())


def render_card(manifest: Manifest, metrics: dict[str, dict], spec: PackageSpec) -> str:
    """Markdown text of a model card."""
    lines = [
        f"# Model card: {manifest.name} {manifest.version}", "",
        f"{manifest.description}. Task: {manifest.task}; classes: {', '.join(manifest.classes)}; "
        f"input {manifest.input_size[0]}×{manifest.input_size[1]} (H×W); default variant: {manifest.default_variant}.",
        "", "## Training data", "", spec.training_data, "", f"Model licence: {manifest.license}.", "",
        "## Measured scores (IoU ≥ 0.5 per class, "
        f"{_thresholds_label(manifest)}, on {manifest.metrics.get('evaluated_on')})", "",
        _tuning_note(manifest), "",
        "| variant | F1 | precision | recall | per-class F1 | ms/image (this machine) |",
        "| --- | --- | --- | --- | --- | --- |",
        *(_row(variant, result) for variant, result in metrics.items()), "",
        "For scale (other data, other models, not comparable one-to-one):", "",
        *(f"- {label}: F1 {value:.2f}" for label, value in REFERENCE_F1.items()), "",
        _sweep_line(manifest, metrics), "",
        CLOSING_THE_GAP,
        "## How it was made", "", f"Command: `{spec.command}`" if spec.command else "", "", spec.notes, "",
        "## Files", "",
        *(f"- `{f.file}` ({v}): {f.bytes} bytes, sha256 `{f.sha256}`" for v, f in manifest.files.items()), "",
    ]
    return "\n".join(lines)


def write_card(path: Path, manifest: Manifest, metrics: dict[str, dict], spec: PackageSpec) -> Path:
    """Write ``MODEL_CARD.md``."""
    path.write_text(render_card(manifest, metrics, spec))
    logger.info("wrote %s", path)
    return path
