"""Pre- and post-processing for YOLO-family ONNX detectors, vectorized in numpy.

Four output layouts are understood:

* ``ultralytics`` (YOLOv8/11 exports): ``1×(4+C)×N``, rows ``cx, cy, w, h`` in input
  pixels followed by C class scores (already sigmoid-ed), no objectness;
* ``yolox`` (Megvii YOLOX exports): ``1×N×(5+C)`` with N = Σ (H/s)(W/s) over strides
  8, 16, 32, raw grid offsets and log sizes, then objectness and C class scores;
* ``yolov5`` (YOLOv5/YOLOX with decode inside): ``1×N×(5+C)`` already in input pixels;
* ``semantic`` (voirie's damage segmentation): ``1×C×h×w`` probability maps, grouped into
  boxes by :mod:`voirie.models.masks` the way annotators box a crack network.

The raw output is converted once, in :func:`detections_from_onnx_yolo`, into the project's
``Detections`` record; nothing downstream sees a tensor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from voirie.models.crack_types import CrackShape, CrackTyping
from voirie.models.masks import boxes_from_probabilities
from voirie.models.sizing import LINEAR_CLASSES
from voirie.records import Detections

logger = logging.getLogger(__name__)

LAYOUTS = ("ultralytics", "yolox", "yolov5", "semantic")
YOLOX_STRIDES = (8, 16, 32)
PAD_VALUE = 114  # the grey both ultralytics and YOLOX pad with during training


@dataclass(frozen=True)
class Letterbox:
    """How one image was fitted into the model input: ``input = image * scale + pad``."""

    scale: float
    pad_x: float
    pad_y: float
    image_width: int
    image_height: int

    def to_image(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes from model-input pixels back to image pixels, clipped to the image."""
        pad = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        boxes = (xyxy - pad) / self.scale
        np.clip(boxes[:, 0::2], 0, self.image_width, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, self.image_height, out=boxes[:, 1::2])
        return boxes


def letterbox(image: np.ndarray, size_hw: tuple[int, int], center: bool = True) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to ``size_hw`` (rectangular sizes allowed).

    ``center`` pads on both sides as ultralytics does; YOLOX pads right/bottom only.
    """
    height, width = image.shape[:2]
    target_h, target_w = size_hw
    scale = min(target_h / height, target_w / width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = image if (new_w, new_h) == (width, height) else cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )
    if center:
        left, top = round((target_w - new_w) / 2 - 0.1), round((target_h - new_h) / 2 - 0.1)
    else:
        left, top = 0, 0
    canvas = cv2.copyMakeBorder(
        resized, top, target_h - new_h - top, left, target_w - new_w - left,
        cv2.BORDER_CONSTANT, value=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
    )
    return canvas, Letterbox(scale, float(left), float(top), width, height)


def to_blob(canvases: list[np.ndarray], layout: str, dtype: np.dtype = np.float32) -> np.ndarray:
    """Stack letterboxed BGR images into an NCHW tensor in the layout's colour/scale convention."""
    if layout == "yolox":  # YOLOX trains on BGR 0..255, no normalisation
        blob = cv2.dnn.blobFromImages(canvases, 1.0, swapRB=False)
    else:  # ultralytics/YOLOv5: RGB 0..1
        blob = cv2.dnn.blobFromImages(canvases, 1.0 / 255.0, swapRB=True)
    return blob if blob.dtype == dtype else blob.astype(dtype)


def yolox_grid(size_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Anchor-point centres (N×2) and strides (N×1) of a YOLOX head for one input size."""
    grids, strides = [], []
    for stride in YOLOX_STRIDES:
        gh, gw = size_hw[0] // stride, size_hw[1] // stride
        xv, yv = np.meshgrid(np.arange(gw), np.arange(gh))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((gh * gw, 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def guess_layout(output_shape: tuple[int, ...], size_hw: tuple[int, int]) -> str | None:
    """Name the layout of a ``(1, a, b)`` detector output or ``(1, C, h, w)`` maps, or None."""
    if len(output_shape) == 4 and all(isinstance(d, int) for d in output_shape[1:]):
        return "semantic" if output_shape[2] * 8 >= size_hw[0] and output_shape[3] * 8 >= size_hw[1] else None
    if len(output_shape) != 3 or not all(isinstance(d, int) for d in output_shape[1:]):
        return None
    a, b = output_shape[1], output_shape[2]
    if a < b and a > 4:
        return "ultralytics"  # channels first: 4 box values + C classes, N anchors
    if b > 5:
        grid_points = sum((size_hw[0] // s) * (size_hw[1] // s) for s in YOLOX_STRIDES)
        return "yolox" if a == grid_points else "yolov5"
    return None


def _candidates(raw: np.ndarray, layout: str, grid: tuple[np.ndarray, np.ndarray] | None) -> tuple[
    np.ndarray, np.ndarray, np.ndarray
]:
    """Per-anchor (cxcywh, best score, class id) for one image's raw output."""
    if layout == "ultralytics":
        boxes, scores = raw[:4].T, raw[4:].T
    else:
        boxes, scores = raw[:, :4], raw[:, 5:] * raw[:, 4:5]
        if layout == "yolox" and grid is not None:
            centres, strides = grid
            boxes = np.concatenate(((boxes[:, :2] + centres) * strides, np.exp(boxes[:, 2:]) * strides), 1)
    class_id = scores.argmax(1)
    return boxes, scores[np.arange(len(scores)), class_id], class_id


def nms(xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Class-aware non-maximum suppression (OpenCV's batched NMS); indices, best first."""
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate((xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]), 1)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), class_id.tolist(), 0.0, iou, top_k=max_det)
    return np.asarray(keep, np.int64).reshape(-1)[:max_det]


@dataclass(frozen=True)
class DecodeOptions:
    """Thresholds for turning raw scores into detections."""

    confidence: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    max_candidates: int = 3000  # cap before NMS so a noisy frame cannot stall the device


def detections_from_onnx_yolo(
    raw: np.ndarray,
    layout: str,
    box: Letterbox,
    class_names: tuple[str, ...],
    options: DecodeOptions = DecodeOptions(),
    grid: tuple[np.ndarray, np.ndarray] | None = None,
) -> Detections:
    """Convert one image's raw YOLO output (batch dim removed) into ``Detections`` in image pixels."""
    cxcywh, scores, class_id = _candidates(raw.astype(np.float32, copy=False), layout, grid)
    keep = np.flatnonzero(scores >= options.confidence)
    if len(keep) > options.max_candidates:
        keep = keep[np.argpartition(-scores[keep], options.max_candidates)[: options.max_candidates]]
    cxcywh, scores, class_id = cxcywh[keep], scores[keep], class_id[keep]
    half = cxcywh[:, 2:] / 2
    xyxy = np.concatenate((cxcywh[:, :2] - half, cxcywh[:, :2] + half), 1)
    picked = nms(xyxy, scores, class_id, options.iou, options.max_det)
    return Detections(
        xyxy=box.to_image(xyxy[picked]).astype(np.float32),
        confidence=scores[picked].astype(np.float32),
        class_id=class_id[picked].astype(np.int64),
        class_names=class_names,
    )


def unletterbox_maps(maps: np.ndarray, box: Letterbox, input_size: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """C×h×w maps over the model input (``input_size`` = (H, W), any output stride) → maps
    over the original image (``scale`` × its size), bilinear."""
    factor_y, factor_x = maps.shape[1] / input_size[0], maps.shape[2] / input_size[1]
    top, left = round(box.pad_y * factor_y), round(box.pad_x * factor_x)
    rows = max(1, round(box.image_height * box.scale * factor_y))
    cols = max(1, round(box.image_width * box.scale * factor_x))
    crop = maps[:, top:top + rows, left:left + cols]
    size = (max(1, round(box.image_width * scale)), max(1, round(box.image_height * scale)))
    return np.stack([cv2.resize(plane, size, interpolation=cv2.INTER_LINEAR) for plane in crop])


def grouping_scale(maps_shape: tuple[int, ...], input_size: tuple[int, int], box: Letterbox) -> float:
    """The image scale at which grouping loses nothing: twice the maps' own resolution
    (finer only costs time: the maps hold no detail beyond their cells)."""
    cells_per_image_px = box.scale * maps_shape[-1] / input_size[1]
    return min(1.0, 2.0 * cells_per_image_px)


def detections_from_masks(maps: np.ndarray, box: Letterbox, input_size: tuple[int, int], class_names: tuple[str, ...],
                          rules: tuple, reference_width: int, typing: CrackTyping | None = None) -> Detections:
    """One image's probability maps (C×h×w, batch dim removed; ``class_names`` names the maps)
    → boxes of the grouped damage, in image pixels. Grouping runs at :func:`grouping_scale`
    of the image. With ``typing``, the crack map's groups are named by their shape."""
    scale = grouping_scale(maps.shape, input_size, box)
    planes = unletterbox_maps(maps.astype(np.float32, copy=False), box, input_size, scale)
    names, classify = class_names, None
    if typing is not None:
        names = typing.output_names(class_names)
        classify = _shape_classifier(typing, class_names, names)
    linear = tuple(name in LINEAR_CLASSES for name in names)
    xyxy, scores, class_id, outlines = boxes_from_probabilities(planes, rules, planes.shape[:0:-1], reference_width,
                                                                linear, classify)
    xyxy = np.minimum(xyxy / scale, [box.image_width, box.image_height] * 2).astype(np.float32)
    return Detections(xyxy=xyxy, confidence=scores, class_id=class_id, class_names=names,
                      outlines=tuple((o / scale).astype(np.float32) for o in outlines))


def _shape_classifier(typing: CrackTyping, planes: tuple[str, ...], names: tuple[str, ...]):
    """A group's output class: its crack type for the typed map, its map's name otherwise."""
    typed_plane = planes.index(typing.plane)
    plain = [names.index(p) if p != typing.plane else -1 for p in planes]

    def classify(plane_id: int, group) -> int:
        if plane_id != typed_plane:
            return plain[plane_id]
        return names.index(typing.type_of(CrackShape.of(group.points, group.xyxy)))

    return classify
