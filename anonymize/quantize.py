"""INT8 models: static QDQ quantization with ONNX Runtime, calibrated on road scenes.

Measured on the hard set (docs/anonymize.md): CenterFace 2.2x, the text detector 3x the
frames/s of the float models, at equal or better recall. The shipped files were made with

    voirie anonymize make-hard --out /tmp/anon_calib --images 16 --seed 7
    voirie anonymize quantize --calib /tmp/anon_calib --out anonymize/centerface_int8.onnx
    voirie anonymize quantize --model plate --calib /tmp/anon_calib --out anonymize/ppocrv4_det_int8.onnx

(calibration scenes use a different seed from the evaluation scenes). The calibration
inputs are cut exactly as the anonymizer's full-resolution band pass cuts frames, so the
activation ranges are those the model meets on the road. (ONNX Runtime's percentile
calibrator needs one input shape, so the low-resolution whole-frame pass is not used.)
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from voirie.anonymize.centerface import CenterFace, dynamic_graph
from voirie.anonymize.centerface import to_blob as centerface_blob
from voirie.anonymize.onnx_model import CENTERFACE, PPOCR_DET, read_verified
from voirie.anonymize.plates import to_blob as text_blob
from voirie.anonymize.detectors import Pass, letterbox
from voirie.anonymize.images import read_image

logger = logging.getLogger(__name__)


class _Feeds(CalibrationDataReader):
    def __init__(self, name: str, blobs: list[np.ndarray]) -> None:
        self._name, self._blobs = name, iter(blobs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._blobs, None)
        return None if blob is None else {self._name: blob}


def calibration_blobs(images: list[Path], one: Pass, to_blob: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Network inputs for every image, cut as the anonymizer's pass ``one`` cuts them."""
    blobs = []
    for path in images:
        pixels = read_image(path)
        top = int(one.top * pixels.shape[0])
        bottom = max(top + 1, int(round(one.bottom * pixels.shape[0])))
        blobs.append(to_blob(letterbox(pixels[top:bottom], one.max_side).image))
    return blobs


def _quantize(graph: onnx.ModelProto, feeds: _Feeds, out: Path, method: CalibrationMethod) -> str:
    # Per-channel QDQ needs opset >= 13; both shipped graphs are older.
    graph = version_converter.convert_version(graph, 13)
    with tempfile.TemporaryDirectory() as folder:
        source, prepared = Path(folder) / "fp32.onnx", Path(folder) / "pre.onnx"
        onnx.save(graph, source)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(out), feeds, quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=method,
        )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    logger.info("wrote %s, sha256 %s", out, digest)
    return digest


def _images(calib_dir: Path, limit: int) -> list[Path]:
    images = sorted(p for p in (calib_dir / "images").iterdir() if p.suffix.lower() in {".jpg", ".png"})[:limit]
    if not images:
        raise ValueError(f"no calibration images in {calib_dir / 'images'}")
    return images


def quantize_centerface(calib_dir: Path, out: Path, passes: tuple[Pass, ...]) -> str:
    """INT8 CenterFace (percentile calibration on 16 scenes' band pass) to ``out``; returns its sha256."""
    network = CenterFace(spec=CENTERFACE)
    blobs = calibration_blobs(_images(calib_dir, 16), passes[-1], centerface_blob)
    graph = onnx.load_from_string(dynamic_graph(network.model))
    return _quantize(graph, _Feeds("input.1", blobs), out, CalibrationMethod.Percentile)


def quantize_text_detector(calib_dir: Path, out: Path, passes: tuple[Pass, ...]) -> str:
    """INT8 PP-OCRv4 detector (min-max calibration on 6 scenes' band pass: the percentile
    calibrator runs out of memory on its large maps) to ``out``; returns its sha256."""
    path = PPOCR_DET.locate()
    graph = onnx.load_from_string(read_verified(path, PPOCR_DET.sha256))
    blobs = calibration_blobs(_images(calib_dir, 6), passes[-1], text_blob)
    return _quantize(graph, _Feeds(graph.graph.input[0].name, blobs), out, CalibrationMethod.MinMax)
