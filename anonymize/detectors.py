"""Face and plate detectors with the common ``detect(image, timeout_s) -> Detections`` shape.

Each detector scales the frame so its longer side is at most ``max_side`` (speed: the
network cost grows with the pixel count), pads it to a multiple of 32 with black (never
stretching), runs its network and maps the boxes back to frame pixels.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from voirie.anonymize.centerface import CenterFace, FaceBoxes
from voirie.anonymize.errors import AnonymizationError
from voirie.anonymize.plates import PlateNetwork, TextDetector
from voirie.records import Detections

logger = logging.getLogger(__name__)

CLASS_NAMES = ("face", "plate")
FACE, PLATE = 0, 1


class Detector(Protocol):
    """Finds what must be masked; raises on any failure (the caller fails closed)."""

    model_id: str

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections: ...


@dataclass(frozen=True)
class Letterbox:
    """How a frame was scaled and padded for a network input."""

    image: np.ndarray
    scale: float


def letterbox(image: np.ndarray, max_side: int, scale: float | None = None) -> Letterbox:
    """Scale so the longer side is <= ``max_side`` (or by ``scale``), then pad right/bottom to multiples of 32."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width)) if scale is None else min(1.0, scale)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    padded_h, padded_w = max(32, -(-h // 32) * 32), max(32, -(-w // 32) * 32)
    if (padded_h, padded_w) != (h, w):
        image = cv2.copyMakeBorder(image, 0, padded_h - h, 0, padded_w - w, cv2.BORDER_CONSTANT, value=0)
    return Letterbox(np.ascontiguousarray(image), scale)


def to_detections(boxes: FaceBoxes, scale: float, class_id: int) -> Detections:
    """Network boxes (letterboxed pixels) to frame-pixel ``Detections`` of one class."""
    return Detections(
        xyxy=(boxes.xyxy / scale).astype(np.float32),
        confidence=boxes.score.astype(np.float32),
        class_id=np.full(len(boxes.xyxy), class_id, np.int64),
        class_names=CLASS_NAMES,
    )


# Neighbouring tiles of a pass share this many frame pixels, so that anything narrower
# (every plate that needs a full-resolution pass: wider ones are found at low resolution)
# lies whole inside one tile.
TILE_OVERLAP_PX = 160


@dataclass(frozen=True)
class Pass:
    """One network run: the rows ``top``..``bottom`` (fractions of the height), longer side <= ``max_side``.

    ``tiles`` > 1 cuts the rows into that many overlapping columns run separately (at the
    same scale): the pieces can then run on both cores at once.
    """

    top: float = 0.0
    bottom: float = 1.0
    max_side: int = 1280
    tiles: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.top < self.bottom <= 1 or not 32 <= self.max_side <= 8192 or not 1 <= self.tiles <= 8:
            raise ValueError(f"pass needs 0 <= top < bottom <= 1, 32 <= max_side <= 8192, 1 <= tiles <= 8, got {self}")

    def windows(self, height: int, width: int) -> list[Window]:
        """The frame regions this pass runs on, and the scale of each."""
        top = int(self.top * height)
        bottom = max(top + 1, int(round(self.bottom * height)))
        scale = min(1.0, self.max_side / max(bottom - top, width))
        overlap = min(TILE_OVERLAP_PX, width // 2)
        tile = -(-(width + (self.tiles - 1) * overlap) // self.tiles)
        lefts = [min(i * (tile - overlap), max(0, width - tile)) for i in range(self.tiles)]
        return [Window(top, bottom, x, min(width, x + tile), scale) for x in sorted(set(lefts))]


@dataclass(frozen=True)
class Window:
    """Rows top..bottom and columns left..right of a frame, run at ``scale``."""

    top: int
    bottom: int
    left: int
    right: int
    scale: float


def edge_padded(image: np.ndarray, window: Window, pad_px: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A window's pixels, with its top row repeated ``pad_px`` times above it when the window
    starts at the top of the frame, and the (left, top) padding added.

    A far plate leaves a forward camera's frame at the top edge (the car ahead of a camera
    pitched down shows only the lower half of its plate there); repeated upwards, the strip
    looks like the plate the network learnt, and the box found in the padding is clipped back
    to the frame later. Near plates leave at the sides and the bottom, large enough to be
    found cut. 32 px keeps the network's 32-px grid where it was (24 px moved other plates).
    """
    crop = image[window.top : window.bottom, window.left : window.right]
    if pad_px <= 0 or window.top != 0:
        return crop, (0, 0)
    return cv2.copyMakeBorder(crop, pad_px, 0, 0, 0, cv2.BORDER_REPLICATE), (0, pad_px)


def shifted(passes: tuple[Pass, ...], offset: float) -> tuple[Pass, ...]:
    """Passes moved down by ``offset`` of the height (the horizon is lower than mid-height).

    An edge at the top or bottom of the frame stays there (a pass down to the bottom still
    reaches it); a band pushed partly out of the frame keeps the part inside; one pushed
    out entirely is dropped.
    """
    moved = []
    for one in passes:
        top = 0.0 if one.top == 0 else min(max(one.top + offset, 0.0), 1.0)
        bottom = 1.0 if one.bottom == 1 else min(max(one.bottom + offset, 0.0), 1.0)
        if bottom - top >= 0.02:
            moved.append(Pass(round(top, 4), round(bottom, 4), one.max_side, one.tiles))
    if not moved:
        raise ValueError(f"no pass of {passes} is left inside the frame with the horizon moved by {offset}")
    return tuple(moved)


def covering(passes: tuple[Pass, ...]) -> tuple[Pass, ...]:
    """Each pass stretched over the whole frame, at its own resolution (the horizon is unknown)."""
    stretched = []
    for one in passes:
        whole = Pass(0.0, 1.0, one.max_side, one.tiles)
        if whole not in stretched:
            stretched.append(whole)
    return tuple(stretched)


def parse_passes(text: str) -> tuple[Pass, ...]:
    """``"0:1:640,0.2:0.75:1280:2"`` (top:bottom:max_side[:tiles], comma separated) to passes."""
    try:
        return tuple(Pass(float(t), float(b), int(m), *(int(x) for x in rest))
                     for t, b, m, *rest in (item.split(":") for item in text.split(",")))
    except (TypeError, ValueError) as error:
        raise ValueError(f"passes must look like 'top:bottom:max_side[:tiles],...', got {text!r}: {error}") from error


class _MultiPass:
    """Runs ``network.detect`` on every window of every pass and maps the boxes back to frame pixels.

    The work comes in pieces (``windows``, ``run_window``, ``combine``) so that the
    anonymizer can spread the windows of all detectors over its worker threads.
    """

    class_id = FACE

    def __init__(self, network: CenterFace | TextDetector | PlateNetwork, threshold: float, passes: tuple[Pass, ...],
                 unknown_horizon_passes: tuple[Pass, ...] | None = None) -> None:
        if not 0 < threshold < 1 or not passes:
            raise ValueError(f"threshold must be in (0, 1) and at least one pass given, got {threshold}, {passes}")
        self.network, self.threshold, self.passes = network, threshold, tuple(passes)
        # Where to look when the horizon is not known (anonymize/horizon.py): every row, at some resolution.
        self.unknown_horizon_passes = tuple(unknown_horizon_passes or covering(passes))
        self.model_id = network.model_id

    def with_passes(self, passes: tuple[Pass, ...]) -> _MultiPass:
        """The same detector (same network session) looking at other passes."""
        aimed = copy.copy(self)
        aimed.passes = tuple(passes)
        return aimed

    def windows(self, shape: tuple[int, ...]) -> list[Window]:
        """Every window of every pass for a frame of this shape."""
        return [window for one in self.passes for window in one.windows(shape[0], shape[1])]

    edge_pad_px = 0  # rows of the frame's top edge repeated above a window that starts there (edge_padded)

    def run_window(self, image: np.ndarray, window: Window, timeout_s: float) -> Detections:
        """Boxes found in one window, in frame pixels (not yet combined)."""
        crop, (pad_left, pad_top) = edge_padded(image, window, self.edge_pad_px)
        boxed = letterbox(crop, 0, scale=window.scale)
        found = to_detections(self.network.detect(boxed.image, self.threshold, timeout_s), boxed.scale, self.class_id)
        offset = np.array([window.left - pad_left, window.top - pad_top] * 2, np.float32)
        return Detections(xyxy=found.xyxy + offset, confidence=found.confidence, class_id=found.class_id,
                          class_names=CLASS_NAMES)

    def combine(self, image: np.ndarray, parts: list[Detections]) -> Detections:
        """All windows' boxes together.

        No NMS across windows: a face cut by a band edge gives a partial box there and a
        whole one in the full-frame pass; keeping both masks the union, which is safe.
        """
        xyxy = np.concatenate([p.xyxy for p in parts]).reshape(-1, 4) if parts else np.zeros((0, 4), np.float32)
        score = np.concatenate([p.confidence for p in parts]) if parts else np.zeros(0, np.float32)
        return Detections(xyxy=xyxy, confidence=score, class_id=np.full(len(xyxy), self.class_id, np.int64),
                          class_names=CLASS_NAMES)

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections:
        """Boxes of this detector's class in ``image`` (frame pixels), from every pass, one after the other."""
        parts, started = [], time.perf_counter()
        for window in self.windows(image.shape):
            left = timeout_s - (time.perf_counter() - started)  # the limit is for all windows together
            if left <= 0:
                raise AnonymizationError(f"{self.model_id} ran over its {timeout_s:.2f} s limit")
            parts.append(self.run_window(image, window, left))
        return self.combine(image, parts)


class FaceDetector(_MultiPass):
    """CenterFace over the given passes (default: the whole frame at full size)."""

    class_id = FACE

    def __init__(self, network: CenterFace, threshold: float = 0.2, passes: tuple[Pass, ...] = (Pass(),),
                 unknown_horizon_passes: tuple[Pass, ...] | None = None) -> None:
        super().__init__(network, threshold, passes, unknown_horizon_passes)


class PlateDetector(_MultiPass):
    """Plate candidates over the given passes: our plate network's regions, or PP-OCR text regions."""

    class_id = PLATE

    def __init__(
        self,
        network: TextDetector | PlateNetwork,
        threshold: float = 0.5,
        passes: tuple[Pass, ...] = (Pass(),),
        max_height: float = 1.0,
        min_aspect: float = 0.0,
        min_contrast: float = 0.0,
        unknown_horizon_passes: tuple[Pass, ...] | None = None,
        *,
        edge_pad_px: int = 0,
        max_aspect: float = float("inf"),
    ) -> None:
        super().__init__(network, threshold, passes, unknown_horizon_passes)
        # Edge padding (edge_padded) and the widest grown box that is a plate, not a stripe.
        self.edge_pad_px, self.max_aspect = edge_pad_px, max_aspect
        if not 0 < max_height <= 1 or min_aspect < 0 or not 0 <= min_contrast <= 255:
            raise ValueError(
                f"plate max_height must be in (0, 1], min_aspect >= 0, min_contrast in [0, 255], "
                f"got {max_height}, {min_aspect}, {min_contrast}"
            )
        self.max_height, self.min_aspect, self.min_contrast = max_height, min_aspect, min_contrast
        # How much the network's boxes are grown to cover the whole plate, before the masker's margin.
        self.grow = network.plate_grow
        self.relative_cost = network.relative_cost

    def combine(self, image: np.ndarray, parts: list[Detections]) -> Detections:
        """Boxes of all windows grown to plate proportions and filtered, in frame pixels."""
        found = super().combine(image, parts)
        xyxy = found.xyxy.copy()
        grow = np.stack([xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], axis=1) * self.grow
        xyxy[:, :2] -= grow
        xyxy[:, 2:] += grow
        # Before clipping: a plate half out of the frame is found whole in the edge padding.
        not_a_stripe = (xyxy[:, 2] - xyxy[:, 0]) <= self.max_aspect * np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-3)
        height, width = image.shape[:2]
        xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, width)
        xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, height)
        keep = plausible_plates(xyxy, height, self.max_height, self.min_aspect) & not_a_stripe
        keep &= contrasts(image, xyxy) >= self.min_contrast
        if not keep.all():
            logger.debug("dropped %d implausible plate candidate(s)", int((~keep).sum()))
        return Detections(xyxy=xyxy[keep], confidence=found.confidence[keep], class_id=found.class_id[keep], class_names=CLASS_NAMES)


def plausible_plates(xyxy: np.ndarray, frame_height: int, max_height: float, min_aspect: float) -> np.ndarray:
    """Boolean mask of grown text boxes that can be a plate: not too tall, wide enough.

    A plate is ~520x110 mm; grown to plate proportions its box is ~3:1 when seen square on
    and narrower only when seen very obliquely. Road textures (alligator cracks, patches)
    fire the text detector as tall blobs near the camera: a box taller than ``max_height``
    of the frame, or narrower than ``min_aspect`` (width / height), is not a plate.
    """
    widths, heights = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    short = heights <= max_height * frame_height
    wide = widths >= min_aspect * heights
    return short & wide


def contrasts(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """Grey-level spread (95th - 5th percentile) inside each box.

    Plates are dark characters on a bright reflective ground, made to be read: measured
    spreads are >= 120 on the hard scenes and >= 200 on the sample drive, while crack and
    patch textures on asphalt (dark lines on grey) give ~65.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    spread = np.zeros(len(xyxy), np.float32)
    for row, (x1, y1, x2, y2) in enumerate(xyxy.astype(int)):
        patch = gray[y1:y2, x1:x2]
        # An empty patch cannot be judged: keep the box (fail closed).
        spread[row] = np.subtract(*np.percentile(patch, [95, 5])) if patch.size else 255.0
    return spread
