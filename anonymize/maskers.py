"""Maskers: ``mask(image, detections) -> image``, in place, irreversible (supervision's annotator shape).

Every box is first grown by a margin (a detector's box is tight; hair, ears and a plate's
frame identify too). Blur is a heavy box blur applied twice over a downscaled patch, so
no detail finer than the patch survives; pixelation keeps ~8 cells per box side at most;
solid fills with one colour. All write into ``image`` itself: there is no other copy.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

import cv2
import numpy as np

from voirie.records import Detections

logger = logging.getLogger(__name__)

MaskerName = Literal["blur", "pixelate", "solid"]


class Masker(Protocol):
    """Anything with ``mask(image, detections) -> image`` that hides every box."""

    def mask(self, image: np.ndarray, detections: Detections) -> np.ndarray: ...


def expanded_boxes(detections: Detections, shape: tuple[int, ...], margin: float) -> np.ndarray:
    """Integer boxes grown by ``margin`` of their size on every side, clipped to the image."""
    xyxy = np.asarray(detections.xyxy, np.float64).reshape(-1, 4)
    grow = np.stack([xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], axis=1) * margin
    grown = np.concatenate([xyxy[:, :2] - grow, xyxy[:, 2:] + grow], axis=1)
    grown = np.stack([np.floor(grown[:, 0]), np.floor(grown[:, 1]), np.ceil(grown[:, 2]), np.ceil(grown[:, 3])], 1)
    grown[:, 0::2] = grown[:, 0::2].clip(0, shape[1])
    grown[:, 1::2] = grown[:, 1::2].clip(0, shape[0])
    return grown.astype(np.int64)


class _BoxMasker:
    def __init__(self, margin: float = 0.2) -> None:
        if not 0 <= margin <= 2:
            raise ValueError(f"margin must be within [0, 2] (share of the box size), got {margin}")
        self.margin = margin

    def mask(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Hide every (expanded) box of ``detections`` in ``image``, in place; returns ``image``."""
        for x1, y1, x2, y2 in expanded_boxes(detections, image.shape, self.margin):
            if x2 > x1 and y2 > y1:
                self._fill(image[y1:y2, x1:x2])
        return image

    def _fill(self, patch: np.ndarray) -> None:
        raise NotImplementedError


class BlurMasker(_BoxMasker):
    """Heavy blur: the patch is shrunk to a few pixels, blurred, and blown back up."""

    def _fill(self, patch: np.ndarray) -> None:
        h, w = patch.shape[:2]
        # Shrinking to at most 6 px per side throws the detail away for good; the blur
        # then hides the block edges so the mask does not look like a mosaic.
        small = cv2.resize(patch, (max(1, min(6, w)), max(1, min(6, h))), interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(h, w) // 4) | 1)
        patch[:] = cv2.blur(big, (k, k))


class PixelateMasker(_BoxMasker):
    """Pixelation with at most ``cells`` blocks per side."""

    def __init__(self, margin: float = 0.2, cells: int = 8) -> None:
        super().__init__(margin)
        if not 1 <= cells <= 32:
            raise ValueError(f"cells must be within [1, 32], got {cells}")
        self.cells = cells

    def _fill(self, patch: np.ndarray) -> None:
        h, w = patch.shape[:2]
        small = cv2.resize(patch, (max(1, min(self.cells, w)), max(1, min(self.cells, h))), interpolation=cv2.INTER_AREA)
        patch[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


class SolidMasker(_BoxMasker):
    """Solid box of one colour (BGR)."""

    def __init__(self, margin: float = 0.2, color: tuple[int, int, int] = (0, 0, 0)) -> None:
        super().__init__(margin)
        self.color = color

    def _fill(self, patch: np.ndarray) -> None:
        patch[:] = self.color


def make_masker(name: MaskerName, margin: float) -> Masker:
    """The masker called ``name`` ("blur", "pixelate" or "solid")."""
    makers = {"blur": BlurMasker, "pixelate": PixelateMasker, "solid": SolidMasker}
    if name not in makers:
        raise ValueError(f"masker must be one of {sorted(makers)}, got {name!r}")
    return makers[name](margin=margin)
