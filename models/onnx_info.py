"""Read what a detector ONNX file declares (opset, input, outputs, metadata) before running it.

Checks here turn every way a file can be wrong (corrupt, too old an opset, a classifier
instead of a detector, a grayscale input) into one ``ModelError`` that names the model and
what was expected, instead of an ONNX Runtime stack trace on the first survey frame.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError

from voirie.models.decode import guess_layout
from voirie.models.errors import ModelError

logger = logging.getLogger(__name__)

MIN_OPSET = 11  # YOLO exports need Resize/Slice semantics from opset 11 on
SUPPORTED_INPUT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16"}


@dataclass(frozen=True)
class OnnxInfo:
    """The facts about a detector file that the runtime needs."""

    opset: int
    input_name: str
    input_type: str  # numpy dtype name
    input_size: tuple[int, int] | None  # H, W when fixed in the graph
    dynamic_batch: bool
    output_shape: tuple[int | str | None, ...]
    metadata: dict[str, str]

    def class_names(self) -> tuple[str, ...] | None:
        """Class names from the ultralytics ``names`` metadata (``{0: 'crack', ...}``), if any."""
        text = self.metadata.get("names")
        if not text:
            return None
        try:
            names = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        if isinstance(names, dict):
            return tuple(str(names[k]) for k in sorted(names))
        return tuple(str(n) for n in names) if isinstance(names, (list, tuple)) else None

    def metadata_size(self) -> tuple[int, int] | None:
        """Input size from the ``imgsz`` metadata ultralytics writes, for dynamic-shape exports."""
        try:
            size = ast.literal_eval(self.metadata.get("imgsz", ""))
        except (ValueError, SyntaxError):
            return None
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return int(size[0]), int(size[1])
        return (int(size), int(size)) if isinstance(size, int) else None

    def grouping(self) -> tuple[dict, int] | None:
        """A semantic model's grouping rules per class and their reference image width, from
        the ``voirie_grouping`` metadata (``{"reference_width": 1024, "classes": {name: {...}}}``)."""
        text = self.metadata.get("voirie_grouping")
        if not text:
            return None
        try:
            spec = json.loads(text)
            return dict(spec["classes"]), int(spec["reference_width"])
        except (ValueError, KeyError, TypeError):
            return None


def read_opset(path: Path, label: str) -> int:
    """The default-domain opset of an ONNX file; rejects corrupt files and too-old opsets."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as error:
        raise ModelError(f"model {label}: {path} is not a readable ONNX file ({error})") from error
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not opsets or not model.graph.node:
        raise ModelError(f"model {label}: {path} is not a readable ONNX model (no graph or no default opset)")
    if opsets[0] < MIN_OPSET:
        raise ModelError(f"model {label}: opset {opsets[0]} is too old; expected opset >= {MIN_OPSET} (re-export it)")
    return int(opsets[0])


def describe(session: ort.InferenceSession, opset: int, label: str) -> OnnxInfo:
    """Validate a session's input/output signature as a YOLO-family detector's."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelError(f"model {label}: expected one image input, found {[i.name for i in inputs]}")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[1] != 3:
        raise ModelError(f"model {label}: expected an image input of shape N×3×H×W, got {list(shape)}")
    if inputs[0].type not in SUPPORTED_INPUT_TYPES:
        raise ModelError(f"model {label}: expected a float32/float16 input, got {inputs[0].type}")
    fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
    out_shape = tuple(outputs[0].shape)
    if len(out_shape) not in (3, 4):
        raise ModelError(
            f"model {label}: expected a detector output 1×(4+C)×N or 1×N×(5+C), or damage maps 1×C×h×w, "
            f"got {list(out_shape)}"
            + (" (this looks like a classification model)" if len(out_shape) == 2 else "")
        )
    return OnnxInfo(
        opset=opset,
        input_name=inputs[0].name,
        input_type=SUPPORTED_INPUT_TYPES[inputs[0].type],
        input_size=(int(shape[2]), int(shape[3])) if fixed else None,
        dynamic_batch=not isinstance(shape[0], int),
        output_shape=out_shape,
        metadata=dict(session.get_modelmeta().custom_metadata_map),
    )


def check_layout(output_shape: tuple[int, ...], size_hw: tuple[int, int], label: str, layout: str | None) -> str:
    """The output layout (given or guessed) after checking it fits the output shape."""
    guessed = guess_layout(output_shape, size_hw)
    if guessed is None:
        raise ModelError(
            f"model {label}: output shape {list(output_shape)} is not a YOLO detector's "
            "(expected 1×(4+C)×N for ultralytics, 1×N×(5+C) for YOLOX/YOLOv5 or 1×C×h×w maps for semantic)"
        )
    if layout is None:
        return guessed
    if (layout == "ultralytics") != (guessed == "ultralytics") or (layout == "semantic") != (guessed == "semantic"):
        raise ModelError(f"model {label}: layout {layout!r} does not fit output shape {list(output_shape)}")
    return layout


def class_count(output_shape: tuple[int, ...], layout: str) -> int:
    """How many classes a detector output carries."""
    if layout == "semantic":
        return output_shape[1]
    return output_shape[1] - 4 if layout == "ultralytics" else output_shape[2] - 5
