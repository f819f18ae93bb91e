"""INT8 CenterFace: static QDQ quantization with ONNX Runtime, calibrated on road scenes.

Measured on the hard set (docs/anonymize.md): 2.2x the frames/s of the float model at
equal or better recall. The shipped file ``centerface_int8.onnx`` was made with

    voirie anonymize make-hard --out /tmp/anon_calib --images 16 --seed 7
    voirie anonymize quantize --calib /tmp/anon_calib --out anonymize/centerface_int8.onnx

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

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from voirie.anonymize.centerface import CenterFace, dynamic_graph, to_blob
from voirie.anonymize.onnx_model import CENTERFACE
from voirie.anonymize.detectors import Pass, letterbox
from voirie.anonymize.images import read_image

logger = logging.getLogger(__name__)


class _Feeds(CalibrationDataReader):
    def __init__(self, blobs: list[np.ndarray]) -> None:
        self._blobs = iter(blobs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._blobs, None)
        return None if blob is None else {"input.1": blob}


def calibration_blobs(images: list[Path], passes: tuple[Pass, ...]) -> list[np.ndarray]:
    """Network inputs for every image and pass, cut as the anonymizer cuts them."""
    blobs = []
    for path in images:
        pixels = read_image(path)
        height = pixels.shape[0]
        for one in passes:
            top, bottom = int(one.top * height), max(int(one.top * height) + 1, int(round(one.bottom * height)))
            blobs.append(to_blob(letterbox(pixels[top:bottom], one.max_side).image))
    return blobs


def quantize_centerface(calib_dir: Path, out: Path, passes: tuple[Pass, ...]) -> str:
    """Write an INT8 (QDQ, per-channel, percentile-calibrated) CenterFace to ``out``; returns its sha256."""
    images = sorted(p for p in (calib_dir / "images").iterdir() if p.suffix.lower() in {".jpg", ".png"})
    if not images:
        raise ValueError(f"no calibration images in {calib_dir / 'images'}")
    network = CenterFace(spec=CENTERFACE)
    # Per-channel QDQ needs opset >= 13; the shipped graph is older.
    graph = version_converter.convert_version(onnx.load_from_string(dynamic_graph(network.model)), 13)
    with tempfile.TemporaryDirectory() as folder:
        source, prepared = Path(folder) / "fp32.onnx", Path(folder) / "pre.onnx"
        onnx.save(graph, source)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(out), _Feeds(calibration_blobs(images, passes[-1:])),
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Percentile,
        )
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    logger.info("wrote %s (%d calibration images), sha256 %s", out, len(images), digest)
    return digest
