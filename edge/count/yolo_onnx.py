"""A small YOLO-format ONNX reader (ultralytics and YOLOX layouts) for counting.

Stand-in with the same contract as ``voirie.models.load_detector`` (``.detect(pixels) ->
Detections``), used only when the models stage is not installed. Labels come from the
model's metadata (ultralytics writes ``names``) or default to the 80 COCO names.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from voirie.records import Detections

logger = logging.getLogger(__name__)

def _coco_names() -> tuple[str, ...]:
    # Multi-word COCO labels were written with "_" above so that split() keeps them whole.
    raw = (
        "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign "
        "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag "
        "tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
        "tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot "
        "hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
        "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
    )
    return tuple(name.replace("_", " ") for name in raw.split())


class YoloOnnxDetector:
    """ONNX Runtime session + letterbox + decode + NMS for one YOLO-format model."""

    def __init__(self, path: str | Path, score: float = 0.25, nms_iou: float = 0.45) -> None:
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.height, self.width = (int(v) if isinstance(v, int) else 640 for v in model_input.shape[2:4])
        names = self.session.get_modelmeta().custom_metadata_map.get("names")
        self.class_names = tuple(ast.literal_eval(names).values()) if names else _coco_names()
        self.score, self.nms_iou = score, nms_iou
        # ultralytics wants RGB in 0..1, YOLOX wants BGR in 0..255 (read from the layout below).
        self.layout = ""
        self.detect(np.zeros((self.height, self.width, 3), np.uint8))  # warm up, learn the layout

    def _letterbox(self, pixels: np.ndarray) -> tuple[np.ndarray, float]:
        ratio = min(self.width / pixels.shape[1], self.height / pixels.shape[0])
        resized = cv2.resize(pixels, (int(pixels.shape[1] * ratio), int(pixels.shape[0] * ratio)))
        canvas = np.full((self.height, self.width, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized  # top-left padding: boxes need no shift
        return canvas, ratio

    def _decode(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_classes = len(self.class_names)
        if output.shape[0] == 4 + n_classes and output.shape[1] != 4 + n_classes:
            rows = output.T  # ultralytics: (4 + nc, N), centre xywh in input pixels
            xywh, scores = rows[:, :4], rows[:, 4:]
        else:
            rows = output  # YOLOX: (N, 5 + nc), raw grid offsets unless already decoded
            xywh, scores = rows[:, :4].copy(), rows[:, 5:] * rows[:, 4:5]
            grids, strides = self._grids()
            if len(grids) == len(rows):
                xywh[:, :2] = (xywh[:, :2] + grids) * strides
                xywh[:, 2:] = np.exp(xywh[:, 2:]) * strides
        class_id = scores.argmax(1)
        return xywh, scores[np.arange(len(scores)), class_id], class_id

    def _grids(self) -> tuple[np.ndarray, np.ndarray]:
        grids, strides = [], []
        for stride in (8, 16, 32):
            gy, gx = np.mgrid[: self.height // stride, : self.width // stride]
            grids.append(np.stack([gx.ravel(), gy.ravel()], 1))
            strides.append(np.full((gx.size, 1), stride))
        return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)

    def detect(self, pixels: np.ndarray) -> Detections:
        """Detections in ``pixels`` (BGR uint8), boxes in its pixel coordinates."""
        canvas, ratio = self._letterbox(pixels)
        output = self._run(canvas)
        xywh, score, class_id = self._decode(output)
        keep = score >= self.score
        xywh, score, class_id = xywh[keep], score[keep], class_id[keep]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, 2:]], 1) / ratio
        chosen = cv2.dnn.NMSBoxesBatched(boxes.tolist(), score.tolist(), class_id.tolist(), self.score, self.nms_iou)
        chosen = np.asarray(chosen, np.int64).reshape(-1)
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)[chosen]
        return Detections(xyxy=xyxy.astype(np.float32), confidence=score[chosen].astype(np.float32),
                          class_id=class_id[chosen].astype(np.int64), class_names=self.class_names)

    def _run(self, canvas: np.ndarray) -> np.ndarray:
        if not self.layout:
            blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
            output = np.squeeze(self.session.run(None, {self.input_name: blob})[0], 0)
            n_classes = len(self.class_names)
            self.layout = "ultralytics" if output.shape[0] == 4 + n_classes else "yolox"
        if self.layout == "ultralytics":
            blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        else:
            blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        return np.squeeze(self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})[0], 0)


def load_yolo_onnx(path: str | Path) -> YoloOnnxDetector:
    """Open a YOLO-format ONNX detector; ``ValueError`` when the file is missing."""
    if not Path(path).is_file():
        raise ValueError(f"ONNX model not found: {path}")
    return YoloOnnxDetector(path)
