"""Export a trained checkpoint to ONNX (fp32) and quantize it to INT8 with ONNX Runtime.

The fp32 export needs the ``train`` extra (ultralytics + torch); INT8 quantization needs
only onnxruntime, so a city can quantize a model it received as fp32 on any machine.
Static QDQ quantization is calibrated on real, letterboxed road photos; the detector's
post-processing tail (box decode, DFL, sigmoid, concat) stays fp32 because quantizing
box coordinates and scores together in one tensor costs far more accuracy than speed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx

from voirie.models.decode import letterbox, to_blob
from voirie.models.errors import ModelError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def offline_ultralytics_env(config_dir: Path) -> None:
    """Make ultralytics work offline: own settings folder, no installs, no downloads, a local font."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    font = config_dir / "Arial.ttf"
    if not font.exists():  # ultralytics fetches Arial.ttf for plots; matplotlib ships DejaVu Sans
        import matplotlib

        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)


def export_onnx(weights: Path, output: Path, imgsz: tuple[int, int], opset: int = 17) -> Path:
    """Export an ultralytics ``.pt`` checkpoint to a static-shape fp32 ONNX file at ``output``."""
    from ultralytics import YOLO  # train extra only

    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "model.pt"  # the trainer may rewrite the checkpoint while we read it
        shutil.copyfile(weights, copy)
        exported = YOLO(str(copy)).export(format="onnx", imgsz=list(imgsz), opset=opset, simplify=False,
                                           dynamic=False, half=False, device="cpu")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(exported, output)
    logger.info("exported %s -> %s", weights, output)
    return output


def calibration_images(folder: Path, count: int) -> list[Path]:
    """Up to ``count`` images spread evenly over a folder (sorted, so the choice is repeatable)."""
    images = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ModelError(f"no calibration images (*.jpg, *.png) under {folder}")
    step = max(1, len(images) // count)
    return images[::step][:count]


class _Calibration:
    """ONNX Runtime calibration reader over letterboxed images (ultralytics RGB 0..1 blobs)."""

    def __init__(self, images: list[Path], input_name: str, size_hw: tuple[int, int]) -> None:
        self._blobs: Iterator[dict[str, np.ndarray]] = (
            {input_name: to_blob([letterbox(cv2.imread(str(p)), size_hw)[0]], "ultralytics")} for p in images
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._blobs, None)


def _tail_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of the detection head's post-processing (after the last convolutions)."""
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    parts = convs[-1].split("/") if convs else []
    if len(parts) < 3:  # unnamed or flat graph: no head scope to keep in float
        return []
    prefix = f"/{parts[1]}/"
    return [n.name for n in model.graph.node
            if n.name.startswith(prefix) and n.op_type != "Conv" and "/cv2." not in n.name and "/cv3." not in n.name]


def quantize_int8(fp32: Path, output: Path, calibration_dir: Path, count: int = 64) -> Path:
    """Static INT8 (QDQ, per-channel weights) quantization of an ultralytics-layout ONNX."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(fp32))
    graph_input = model.graph.input[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        reader = _Calibration(calibration_images(calibration_dir, count), graph_input.name, (dims[2], dims[3]))
        quantize_static(
            str(prepared), str(output), reader, quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=_tail_nodes(model),
        )
    _copy_metadata(model, output)
    logger.info("quantized %s -> %s (%d calibration images)", fp32, output, count)
    return output


def _copy_metadata(source: onnx.ModelProto, target: Path) -> None:
    """Keep class names and input size in the quantized file (quantize_static drops them)."""
    quantized = onnx.load(str(target))
    present = {p.key for p in quantized.metadata_props}
    for prop in source.metadata_props:
        if prop.key not in present:
            quantized.metadata_props.append(prop)
    onnx.save(quantized, str(target))
