"""Frame quality gate: garbage in, garbage out -- reject a frame before anyone looks at it.

A frame is rejected, with one reason, when it is too blurred (variance of the Laplacian),
too dark or too bright (mean grey level and clipped shares), or taken where the previous
*kept* frame was taken (the car did not move). Scores are computed on a downscaled grey
copy (640 px wide) so the gate costs ~2 ms and its thresholds do not depend on resolution.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np

from voirie.records import GeoFix, QualityScores

logger = logging.getLogger(__name__)

REASONS = ("blurred", "too_dark", "too_bright", "same_position")
_WORK_WIDTH = 640


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the gate (defaults suit a dashcam in daylight)."""

    min_sharpness: float = 40.0  # variance of the Laplacian at 640 px wide
    min_brightness: float = 35.0
    max_brightness: float = 225.0
    max_dark_fraction: float = 0.6
    max_bright_fraction: float = 0.5
    min_move_m: float = 1.0  # closer than this to the previous kept frame: same position

    def __post_init__(self) -> None:
        if self.min_sharpness < 0 or self.min_move_m < 0:
            raise ValueError("min_sharpness and min_move_m must be >= 0")
        if not 0 <= self.min_brightness < self.max_brightness <= 255:
            raise ValueError(f"need 0 <= min_brightness < max_brightness <= 255, got "
                             f"{self.min_brightness}, {self.max_brightness}")
        if not (0 < self.max_dark_fraction <= 1 and 0 < self.max_bright_fraction <= 1):
            raise ValueError("max_dark_fraction and max_bright_fraction must be within (0, 1]")


@dataclass(frozen=True)
class QualityVerdict:
    """The gate's answer for one frame: its scores and the reason it was rejected (or None)."""

    scores: QualityScores
    reason: str | None

    @property
    def kept(self) -> bool:
        return self.reason is None


def score(pixels: np.ndarray) -> QualityScores:
    """Sharpness and exposure scores of a BGR image."""
    grey = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    if grey.shape[1] > _WORK_WIDTH:
        height = max(1, round(grey.shape[0] * _WORK_WIDTH / grey.shape[1]))
        grey = cv2.resize(grey, (_WORK_WIDTH, height), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    histogram = np.bincount(grey.ravel(), minlength=256)
    total = float(grey.size)
    return QualityScores(
        sharpness=sharpness,
        brightness=float(np.dot(histogram, np.arange(256)) / total),
        dark_fraction=float(histogram[:11].sum() / total),
        bright_fraction=float(histogram[245:].sum() / total),
    )


class QualityGate:
    """Judges frames one by one; remembers the last kept position; counts reasons."""

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()
        self.rejected: Counter[str] = Counter()
        self.kept = 0
        self._last_kept: GeoFix | None = None

    def check(self, pixels: np.ndarray, fix: GeoFix | None = None) -> QualityVerdict:
        """Score ``pixels`` taken at ``fix``; a rejected frame is counted under its reason."""
        scores = score(pixels)
        reason = self._reason(scores, fix)
        if reason is None:
            self.kept += 1
            if fix is not None:
                self._last_kept = fix
        else:
            self.rejected[reason] += 1
            logger.debug("frame rejected: %s (%s)", reason, scores)
        return QualityVerdict(scores, reason)

    def _reason(self, scores: QualityScores, fix: GeoFix | None) -> str | None:
        c = self.config
        if scores.brightness < c.min_brightness or scores.dark_fraction > c.max_dark_fraction:
            return "too_dark"
        if scores.brightness > c.max_brightness or scores.bright_fraction > c.max_bright_fraction:
            return "too_bright"
        if scores.sharpness < c.min_sharpness:
            return "blurred"
        if fix is not None and self._last_kept is not None and _distance_m(self._last_kept, fix) < c.min_move_m:
            return "same_position"
        return None


def _distance_m(a: GeoFix, b: GeoFix) -> float:
    from voirie.capture.gnss.fix import geodesic_m

    return geodesic_m(a, b)
