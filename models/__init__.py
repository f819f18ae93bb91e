"""Models: the ONNX detector runtime, the model registry, training and evaluation.

The edge uses only :func:`load_detector`::

    from voirie.models import load_detector
    detector = load_detector("default")          # or a registered name, or a path.onnx
    detections = detector.detect(bgr_pixels)     # voirie.records.Detections
"""

from voirie.models.errors import ModelError
from voirie.models.runtime import DetectorOptions, OnnxDetector, load_detector

__all__ = ["DetectorOptions", "ModelError", "OnnxDetector", "load_detector"]
