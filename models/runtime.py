"""The ONNX detector runtime: ``load_detector(...)`` → ``OnnxDetector.detect(pixels)``.

The edge box never imports torch: a detector is one ONNX Runtime session, tuned for a
small CPU (intra-op threads, full graph optimisation), warmed up at load so the first
survey frame is not slow, with letterbox, decode and NMS in numpy/OpenCV.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from voirie.models import registry
from voirie.models.crack_types import METADATA_KEY as TYPING_KEY
from voirie.models.crack_types import CrackTyping
from voirie.models.decode import (DecodeOptions, Letterbox, detections_from_masks, detections_from_onnx_yolo, letterbox,
                                  to_blob, yolox_grid)
from voirie.models.errors import ModelError
from voirie.models.masks import GroupingRule
from voirie.models.onnx_info import OnnxInfo, check_layout, class_count, describe, read_opset
from voirie.onnx import onnx_session
from voirie.records import Detections

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorOptions:
    """How to run a detector; every field has a sensible edge default."""

    confidence: float = 0.25
    class_confidence: tuple[float, ...] | None = None  # per class id, applied after NMS; None: ``confidence`` for all
    iou: float = 0.45
    max_det: int = 300
    threads: int = 0  # ONNX Runtime intra-op threads; 0 = one per core
    workers: int = 1  # images run in parallel by detect_batch (each session.run is thread-safe)
    imgsz: tuple[int, int] | None = None  # required only for a dynamic-shape export without metadata
    layout: str | None = None  # ultralytics | yolox | yolov5 | semantic; guessed from the output shape when None
    class_names: tuple[str, ...] | None = None  # overrides the file's metadata
    warmup: bool = True
    spin: bool = False  # ORT worker threads busy-wait between ops: faster alone, wasteful beside anonymization

    def __post_init__(self) -> None:
        if not 0 <= self.confidence <= 1 or not 0 < self.iou <= 1:
            raise ValueError(f"confidence must be in [0, 1] and iou in (0, 1], got {self.confidence}, {self.iou}")
        if self.class_confidence is not None and not all(0 <= c <= 1 for c in self.class_confidence):
            raise ValueError(f"class_confidence values must be in [0, 1], got {self.class_confidence}")
        if self.threads < 0 or self.workers < 1 or self.max_det < 1:
            raise ValueError("threads must be >= 0, workers >= 1 and max_det >= 1")


def _session(path: Path, options: DetectorOptions, label: str) -> ort.InferenceSession:
    try:
        return onnx_session(path, options.threads, spinning=options.spin)
    except Exception as error:  # ORT raises its own Fail/InvalidGraph types
        raise ModelError(f"model {label}: ONNX Runtime cannot load {path}: {error}") from error


class OnnxDetector:
    """A YOLO-family object detector running in ONNX Runtime on BGR uint8 images."""

    def __init__(self, path: Path, options: DetectorOptions = DetectorOptions(), *,
                 model_id: str | None = None, model_version: str = "unversioned",
                 class_names: tuple[str, ...] | None = None) -> None:
        self.path = Path(path)
        self.model_id = model_id or self.path.stem
        self.model_version = model_version
        self.options = options
        opset = read_opset(self.path, self.model_id)  # first: a clearer message than ORT's for corrupt files
        self._session = _session(self.path, options, self.model_id)
        self.info: OnnxInfo = describe(self._session, opset, self.model_id)
        self.input_size = self._input_size()
        output_shape = self._probe_output_shape()
        self.layout = check_layout(output_shape, self.input_size, self.model_id, options.layout)
        self.crack_typing = CrackTyping.from_metadata(self.info.metadata.get(TYPING_KEY), self.model_id) \
            if self.layout == "semantic" else None
        self.plane_names, self.class_names = self._names(options.class_names or class_names,
                                                         class_count(output_shape, self.layout))
        # For each reported class, the index of the output (map) it comes from.
        self.plane_of = tuple(range(len(self.class_names))) if self.crack_typing is None \
            else self.crack_typing.plane_of(self.plane_names)
        if options.class_confidence is not None and len(options.class_confidence) != len(self.class_names):
            raise ModelError(f"model {self.model_id}: {len(options.class_confidence)} class thresholds for "
                             f"{len(self.class_names)} classes {self.class_names}")
        self._grid = yolox_grid(self.input_size) if self.layout == "yolox" else None
        self._grouping = self._grouping_rules() if self.layout == "semantic" else None
        # Per-class thresholds replace the global one: decode keeps what the lowest of them lets through.
        floor = min(options.class_confidence) if options.class_confidence else options.confidence
        self._decode = DecodeOptions(floor, options.iou, options.max_det)
        self._pool = ThreadPoolExecutor(options.workers) if options.workers > 1 else None
        logger.info("loaded %s v%s (%s, %s, input %s, classes %s)", self.model_id, model_version,
                    self.layout, self.info.input_type, self.input_size, self.class_names)

    def _grouping_rules(self) -> tuple[tuple[GroupingRule, ...], int]:
        """Per-class rules that turn a semantic model's maps into boxes (from its metadata)."""
        found = self.info.grouping()
        if found is None:
            raise ModelError(f"model {self.model_id}: outputs damage maps but has no valid 'voirie_grouping' "
                             "metadata (how mask pixels are grouped into boxes); export it with voirie")
        rules, reference_width = found
        missing = [name for name in self.plane_names if name not in rules]
        if missing:
            raise ModelError(f"model {self.model_id}: 'voirie_grouping' metadata has no rule for classes {missing}")
        try:
            return tuple(GroupingRule(**rules[name]) for name in self.plane_names), reference_width
        except TypeError as error:
            raise ModelError(f"model {self.model_id}: bad 'voirie_grouping' rule: {error}") from error

    def _input_size(self) -> tuple[int, int]:
        size = self.info.input_size or self.options.imgsz or self.info.metadata_size()
        if size is None:
            raise ModelError(f"model {self.model_id}: input size is dynamic and not in the metadata; pass imgsz=(H, W)")
        if size[0] % 32 or size[1] % 32:
            raise ModelError(f"model {self.model_id}: input size {size} must be multiples of 32 (YOLO strides)")
        return size

    def _probe_output_shape(self) -> tuple[int, ...]:
        """Run once on a grey image: warms the session up and gives the real output shape."""
        blob = np.full((1, 3, *self.input_size), 0.5, np.dtype(self.info.input_type))
        try:
            output = self._run(blob)
        except ModelError:
            raise
        except Exception as error:
            raise ModelError(f"model {self.model_id}: inference failed on a 1×3×{self.input_size} input: {error}") from error
        if self.options.warmup:
            self._session.run(None, {self.info.input_name: blob})
        return tuple(int(d) for d in output.shape)

    def _names(self, given: tuple[str, ...] | None, count: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The names of the model's outputs (maps, for a semantic model) and of the classes it
        reports: the same, except that crack typing reports the crack map's groups by type."""
        if self.crack_typing is None:
            names = self._class_names(given, count)
            return names, names
        planes = self._class_names(None, count)
        reported = self.crack_typing.output_names(planes)
        if given and tuple(given) != reported:
            raise ModelError(f"model {self.model_id}: classes {list(given)} given, but its maps {list(planes)} "
                             f"with crack typing report {list(reported)}")
        return planes, reported

    def _class_names(self, given: tuple[str, ...] | None, count: int) -> tuple[str, ...]:
        names = given or self.info.class_names()
        if names is None:
            logger.warning("model %s has no class names; using class0..class%d", self.model_id, count - 1)
            return tuple(f"class{i}" for i in range(count))
        if len(names) != count:
            raise ModelError(f"model {self.model_id}: output has {count} classes but {len(names)} names were given: {names}")
        return tuple(names)

    def _prepare(self, pixels: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            shape = getattr(pixels, "shape", None)
            raise ModelError(f"model {self.model_id}: expected an H×W×3 uint8 BGR image, got {type(pixels).__name__} {shape}")
        return letterbox(pixels, self.input_size, center=self.layout != "yolox")

    def _run(self, blob: np.ndarray) -> np.ndarray:
        output = self._session.run(None, {self.info.input_name: blob})[0]
        if not np.isfinite(output).all():
            raise ModelError(f"model {self.model_id}: output contains NaN or infinite values (broken export or weights)")
        return output

    @property
    def grouping(self) -> tuple[tuple[GroupingRule, ...], int] | None:
        """A semantic model's grouping rules (per class) and their reference width; None for detectors."""
        return self._grouping

    @grouping.setter
    def grouping(self, value: tuple[tuple[GroupingRule, ...], int]) -> None:
        """Try other rules on a loaded model (tuning); the file's metadata is what ships."""
        if self._grouping is None or len(value[0]) != len(self.plane_names):
            raise ModelError(f"model {self.model_id}: grouping rules need a semantic model and one rule per map")
        self._grouping = (tuple(value[0]), int(value[1]))

    def raw_maps(self, pixels: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """A semantic model's C×h×w maps over the letterboxed input (for tuning and pictures)."""
        if self.layout != "semantic":
            raise ModelError(f"model {self.model_id}: raw_maps needs a semantic model, this one is {self.layout}")
        canvas, box = self._prepare(pixels)
        return self._run(to_blob([canvas], self.layout, np.dtype(self.info.input_type)))[0], box

    def _detect_one(self, pixels: np.ndarray) -> Detections:
        canvas, box = self._prepare(pixels)
        raw = self._run(to_blob([canvas], self.layout, np.dtype(self.info.input_type)))[0]
        return self._to_detections(raw, box)

    def _to_detections(self, raw: np.ndarray, box: Letterbox) -> Detections:
        if self._grouping is not None:
            found = detections_from_masks(raw, box, self.input_size, self.plane_names, *self._grouping,
                                          typing=self.crack_typing)
            found = found[found.confidence >= self._decode.confidence]
        else:
            found = detections_from_onnx_yolo(raw, self.layout, box, self.class_names, self._decode, self._grid)
        if self.options.class_confidence is not None and len(found):
            found = found[found.confidence >= np.asarray(self.options.class_confidence)[found.class_id]]
        found.metadata.update(model_id=self.model_id, model_version=self.model_version)
        return found

    def detect(self, pixels: np.ndarray) -> Detections:
        """Detect objects in one BGR uint8 image; boxes in the image's pixels."""
        return self._detect_one(pixels)

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        """Detect in several images: one batched run when the export allows, else in parallel."""
        if not images:
            return []
        if self.info.dynamic_batch and len(images) > 1:
            prepared = [self._prepare(image) for image in images]
            raw = self._run(to_blob([c for c, _ in prepared], self.layout, np.dtype(self.info.input_type)))
            return [self._to_detections(raw[i], box) for i, (_, box) in enumerate(prepared)]
        if self._pool is not None:
            return list(self._pool.map(self._detect_one, images))
        return [self._detect_one(image) for image in images]

    def close(self) -> None:
        """Stop the worker threads (the session is freed with the object)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def load_detector(model: str | Path = registry.DEFAULT_ALIAS, variant: str | None = None, **options) -> OnnxDetector:
    """Load a detector by registry name (``default``, ``damage-default``), or by ONNX path.

    A registered model (or a file with a manifest beside it) is refused when its sha256
    does not match the manifest. ``options`` are :class:`DetectorOptions` fields.
    """
    settings = DetectorOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    path = Path(model)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise ModelError(f"model {model}: no such ONNX file")
        found = registry.manifest_beside(path)
        if found is None:
            logger.info("loading unregistered model %s (no manifest, no checksum check)", path)
            return OnnxDetector(path, settings)
        manifest, folder = found
    else:
        manifest, folder = registry.find_model(str(model))
    checked = registry.verify_file(manifest, folder, variant)
    fields = {**settings.__dict__, "layout": settings.layout or manifest.layout,
              "imgsz": settings.imgsz or tuple(manifest.input_size), **_thresholds(manifest, settings, options)}
    return OnnxDetector(checked, DetectorOptions(**fields),
                        model_id=manifest.name, model_version=manifest.version, class_names=manifest.classes)


def _thresholds(manifest: registry.Manifest, settings: DetectorOptions, options: dict) -> dict:
    """The manifest's recommended thresholds, unless the caller chose a confidence (an
    evaluation sweeping thresholds must see every score, not the per-class cut)."""
    if "confidence" in options or settings.class_confidence is not None:
        return {"confidence": settings.confidence, "class_confidence": settings.class_confidence}
    if not manifest.class_confidence:
        return {"confidence": manifest.confidence, "class_confidence": None}
    per_class = tuple(manifest.class_confidence.get(name, manifest.confidence) for name in manifest.classes)
    return {"confidence": min(per_class), "class_confidence": per_class}
