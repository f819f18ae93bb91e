"""Damage size in metres from a calibrated ground plane (crack length, pothole/alligator area).

The mapping comes from ``voirie.calibration.GroundPlane`` (``length_m(polyline_px)`` and
``area_m2(polygon_px)``); any object with those two methods works, so this module needs no
import of the calibration package and a survey without calibration keeps pixel sizes only.
ASTM D6433 measures linear cracks by length and alligator cracking and potholes by area.
A segmentation model gives each detection an outline (``Detections.outlines``): the crack's
centreline is measured along itself, an area by its hull. From a box alone, a linear crack's
length is taken along the box's longer image axis and an area is the box's footprint.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

import numpy as np

from voirie.records import Detections

logger = logging.getLogger(__name__)

# Classes measured by length; every other class is measured by area.
LINEAR_CLASSES = frozenset({"crack", "D00", "D10", "longitudinal crack", "transverse crack", "crack_longitudinal",
                            "crack_transverse"})


class GroundMapping(Protocol):
    """What sizing needs from a calibration (``voirie.calibration.GroundPlane`` provides it)."""

    def length_m(self, polyline_px: np.ndarray) -> float: ...

    def area_m2(self, polygon_px: np.ndarray) -> float: ...


def _main_axis(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    if x2 - x1 >= y2 - y1:
        return np.array([[x1, (y1 + y2) / 2], [x2, (y1 + y2) / 2]])
    return np.array([[(x1 + x2) / 2, y1], [(x1 + x2) / 2, y2]])


def _corners(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def size_detections(detections: Detections, plane: GroundMapping | None) -> Detections:
    """Detections with ``length_m`` (linear cracks) and ``area_m2`` (the rest) filled in.

    Boxes must be in the pixels of the calibrated image size. Without a plane, or where a
    box reaches beyond the usable road (the plane returns NaN), sizes stay NaN.
    """
    length = np.full(len(detections), np.nan)
    area = np.full(len(detections), np.nan)
    if plane is not None:
        for i, (box, name) in enumerate(zip(detections.xyxy, detections.names())):
            outline = detections.outlines[i] if detections.outlines is not None else None
            if name in LINEAR_CLASSES:
                length[i] = plane.length_m(outline if outline is not None and len(outline) >= 2 else _main_axis(box))
            else:
                area[i] = plane.area_m2(outline if outline is not None and len(outline) >= 3 else _corners(box))
    return replace(detections, length_m=length, area_m2=area)
