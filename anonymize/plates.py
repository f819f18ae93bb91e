"""Plate finder: the PP-OCRv4 text detector that ``rapidocr-onnxruntime`` ships (Apache-2.0).

A number plate is a short line of large characters, and no plate model with a clear
licence can be fetched here, so we mask text regions: every plate is text (measured in
``voirie anonymize eval``), at the cost of also masking some signs. The DB text detector
outputs a per-pixel text probability; its regions are shrunk text cores, so each box is
grown back ("unclip") before the masker adds its own margin.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import onnxruntime as ort

from voirie.anonymize.centerface import FaceBoxes
from voirie.anonymize.errors import AnonymizationError
from voirie.anonymize.onnx_model import PLATENET, PPOCR_DET, ModelSpec, make_session, read_verified, run_with_deadline

logger = logging.getLogger(__name__)

_UNCLIP_RATIO = 1.6  # the value PP-OCR uses to grow its shrunk text cores back


class _MapNetwork:
    """An ONNX network whose one output is a per-pixel probability map (text or plate).

    The file is checked against its pinned sha256 before ONNX Runtime loads it; inputs must
    have sides that are multiples of 32 (the detectors letterbox to that).
    """

    what = "map network"

    def __init__(self, threads: int, spec: ModelSpec, model_path: str | None, spinning: bool) -> None:
        self.path = model_path or spec.locate()
        self._session: ort.InferenceSession = make_session(read_verified(self.path, spec.sha256), threads, spinning)
        self._input = self._session.get_inputs()[0].name
        self.model_id = spec.model_id

    def _blob(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _probabilities(self, image: np.ndarray, timeout_s: float) -> np.ndarray:
        """The HxW map (at the network's own resolution) for one BGR image."""
        height, width = image.shape[:2]
        if height % 32 or width % 32:
            raise AnonymizationError(f"{self.what} input must have sides multiple of 32, got {width}x{height}")
        (prob,) = run_with_deadline(self._session, {self._input: self._blob(image)}, timeout_s, self.what)
        if not np.isfinite(prob).all():
            raise AnonymizationError(f"{self.what} returned non-finite values")
        return prob[0, 0]


class TextDetector(_MapNetwork):
    """Runs the DB text detector on BGR images whose sides are multiples of 32."""

    what = "PP-OCR text detector"
    # A text box covers the characters only; the plate around them (frame, country band,
    # border) is about 1.2x as wide and 1.8x as tall: PlateDetector grows boxes by this.
    plate_grow = (0.1, 0.4)
    relative_cost = 2.4  # CPU time per input pixel vs CenterFace's, both INT8, one thread (measured)
    default_threshold = 0.5

    def __init__(
        self, threads: int = 1, spec: ModelSpec = PPOCR_DET, model_path: str | None = None, spinning: bool = False
    ) -> None:
        super().__init__(threads, spec, model_path, spinning)

    def _blob(self, image: np.ndarray) -> np.ndarray:
        return to_blob(image)

    def detect(self, image: np.ndarray, threshold: float, timeout_s: float, pixel_threshold: float = 0.3) -> FaceBoxes:
        """Text boxes in ``image`` pixels with their mean probability (>= ``threshold``)."""
        return regions(self._probabilities(image, timeout_s), threshold, pixel_threshold)


def to_blob(image: np.ndarray) -> np.ndarray:
    """BGR uint8 image to the 1x3xHxW float input of the PP-OCR detector."""
    # PP-OCR normalises BGR pixels to [-1, 1] (mean 0.5, std 0.5 on 0-1 values).
    return image.transpose(2, 0, 1)[None].astype(np.float32) * (2.0 / 255.0) - 1.0


def regions(prob: np.ndarray, threshold: float, pixel_threshold: float, unclip_ratio: float = _UNCLIP_RATIO,
            stride: int = 1) -> FaceBoxes:
    """Connected regions of a probability map, grown back by the unclip ratio, in input pixels (map x ``stride``)."""
    binary = (prob > pixel_threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes, scores = [], []
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if min(w, h) < 2:
            continue
        score = float(prob[y : y + h, x : x + w][labels[y : y + h, x : x + w] == label].mean())
        if score < threshold:
            continue
        # DB unclip: offset = area * ratio / perimeter, applied on every side.
        grow = area * unclip_ratio / max(2.0 * (w + h), 1.0)
        boxes.append([x - grow, y - grow, x + w + grow, y + h + grow])
        scores.append(score)
    if not boxes:
        return FaceBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    xyxy = np.asarray(boxes, np.float32)
    xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, prob.shape[1])
    xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, prob.shape[0])
    return FaceBoxes(xyxy * stride, np.asarray(scores, np.float32))


class PlateNetwork(_MapNetwork):
    """Our plate detector (lab/train/plates.py): a plate probability map at 1/``stride`` of the input.

    Its regions are whole plates (it learnt plate masks, not text cores), so they are not
    unclipped; PlateDetector grows them a little, as the map's edges are soft.
    """

    what = "plate detector"
    plate_grow = (0.1, 0.25)  # chosen with the threshold (docs/anonymize.md, "Our plate detector")
    relative_cost = 0.55  # CPU time per input pixel vs CenterFace's (measured on a 1280x384 band, one thread)
    # Recall of the 36 real plates of train-split photos is flat (32 +- 1) from 0.05 to 0.5,
    # so the road surface decides: below 0.5 the rendered alligator crack of the sample drive
    # (frame 112) is taken for a row of black plates and 1.3-6.8 % of its road is blurred,
    # hiding the damage from the damage model (tests/anonymize/test_anonymize_roadmask.py).
    default_threshold = 0.5

    def __init__(
        self, threads: int = 1, spec: ModelSpec = PLATENET, model_path: str | None = None, spinning: bool = False
    ) -> None:
        super().__init__(threads, spec, model_path, spinning)
        metadata = self._session.get_modelmeta().custom_metadata_map
        try:
            self.stride = int(metadata["voirie_plate_stride"])
        except (KeyError, ValueError) as error:
            raise AnonymizationError(f"plate model {self.path} has no valid voirie_plate_stride metadata") from error

    def _blob(self, image: np.ndarray) -> np.ndarray:
        return image.transpose(2, 0, 1)[None].astype(np.float32)  # BGR 0-255: the network scales it itself

    def detect(self, image: np.ndarray, threshold: float, timeout_s: float, pixel_threshold: float = 0.5) -> FaceBoxes:
        """Plate boxes in ``image`` pixels with their mean probability (>= ``threshold``)."""
        prob = self._probabilities(image, timeout_s)
        found = regions(prob, threshold, min(pixel_threshold, threshold), unclip_ratio=0.0, stride=self.stride)
        if self.second_look is None:
            return found
        return self.second_look.look_again(self, image, prob, found, threshold, timeout_s)

    second_look: SecondLook | None = None  # set by the anonymizer (AnonymizerOptions.plate_second_look)


class SecondLook:
    """A closer look at weak, small plate responses: the region around each, enlarged ``zoom`` times.

    A plate 6-10 px tall is near the smallest the network learnt: its map often peaks under
    the threshold. Enlarged, it is a plate of the sizes the network knows, and the same
    threshold decides (so the road, whose weak responses stay weak, is not masked more).
    """

    # low 0.25, <= 8 crops of responses <= 16 px tall: the same 2 of 37 real plates as 0.15 / 24 / 24 px, half the CPU.
    def __init__(self, zoom: float = 2.0, low: float = 0.25, max_height_px: int = 16, max_crops: int = 8) -> None:
        if not 1 < zoom <= 4 or not 0 < low < 1 or max_height_px < 2 or max_crops < 1:
            raise ValueError(f"second look needs 1 < zoom <= 4, 0 < low < 1, max_height_px >= 2, max_crops >= 1, "
                             f"got {zoom}, {low}, {max_height_px}, {max_crops}")
        self.zoom, self.low, self.max_height_px, self.max_crops = zoom, low, max_height_px, max_crops

    def look_again(self, network: PlateNetwork, image: np.ndarray, prob: np.ndarray, found: FaceBoxes,
                   threshold: float, timeout_s: float) -> FaceBoxes:
        """``found`` plus the plates that the enlarged crops around weak responses show."""
        weak = regions(prob, self.low, self.low, unclip_ratio=0.0, stride=network.stride)
        small = (weak.xyxy[:, 3] - weak.xyxy[:, 1]) <= self.max_height_px
        order = np.argsort(-weak.score[small])[: self.max_crops]
        boxes, scores = [found.xyxy], [found.score]
        for x1, y1, x2, y2 in weak.xyxy[small][order]:
            if _covered(found.xyxy, (x1, y1, x2, y2)):
                continue
            more = self._crop_plates(network, image, (x1, y1, x2, y2), threshold, timeout_s)
            boxes.append(more.xyxy)
            scores.append(more.score)
        return FaceBoxes(np.concatenate(boxes).astype(np.float32).reshape(-1, 4), np.concatenate(scores).astype(np.float32))

    def _crop_plates(self, network: PlateNetwork, image: np.ndarray, box: tuple[float, ...], threshold: float,
                     timeout_s: float) -> FaceBoxes:
        x1, y1, x2, y2 = box
        # Context of about four plate widths: the network judges a plate by its surroundings too.
        half = max(x2 - x1, 3 * (y2 - y1), 16) * 2
        left, top = int(max(0, (x1 + x2) / 2 - half)), int(max(0, (y1 + y2) / 2 - half / 2))
        right, bottom = int(min(image.shape[1], (x1 + x2) / 2 + half)), int(min(image.shape[0], (y1 + y2) / 2 + half / 2))
        crop = cv2.resize(image[top:bottom, left:right], None, fx=self.zoom, fy=self.zoom, interpolation=cv2.INTER_LINEAR)
        padded = cv2.copyMakeBorder(crop, 0, -crop.shape[0] % 32, 0, -crop.shape[1] % 32, cv2.BORDER_CONSTANT, value=0)
        prob = network._probabilities(padded, timeout_s)
        more = regions(prob, threshold, threshold, unclip_ratio=0.0, stride=network.stride)
        offset = np.array([left, top, left, top], np.float32)
        return FaceBoxes(more.xyxy / self.zoom + offset, more.score)


def _covered(xyxy: np.ndarray, box: tuple[float, ...]) -> bool:
    """Whether a box already found holds the middle of ``box``."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(((xyxy[:, 0] <= cx) & (xyxy[:, 2] >= cx) & (xyxy[:, 1] <= cy) & (xyxy[:, 3] >= cy)).any())
