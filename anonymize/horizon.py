"""Where the horizon is, frame after frame: calibrated, estimated from the images, or unknown.

The anonymizer spends full resolution on bands placed relative to the horizon (far faces
around it, far plates just below it). A camera pitched down puts the horizon at the top
of the frame; bands placed for a level camera then look below every far vehicle and
protect nothing (issue 20: 0 of 68 real plates). So without a calibration nothing is
assumed: the vanishing point of the straight lines in each frame
(``voirie.calibration.horizon``, median error 0.53 deg on 775 real survey photos) is
collected over a window of frames, and the bands follow the window's median only once
enough frames agree. Until then, and whenever they stop agreeing, every pass covers the
whole frame.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

from voirie.calibration.horizon import detect_line_segments, vanishing_point

logger = logging.getLogger(__name__)

HorizonSource = Literal["calibrated", "estimated", "whole_frame"]
HORIZON_SOURCES: tuple[HorizonSource, ...] = ("calibrated", "estimated", "whole_frame")

# The anonymizer's bands accept a horizon within this range (fraction of the height).
HORIZON_LIMITS = (-0.5, 1.5)


@dataclass(frozen=True)
class HorizonView:
    """The horizon one frame was anonymized with: ``row`` is None for the whole frame."""

    source: HorizonSource
    row: float | None = None

    def __post_init__(self) -> None:
        if self.source not in HORIZON_SOURCES:
            raise ValueError(f"horizon source must be one of {HORIZON_SOURCES}, got {self.source!r}")
        if (self.row is None) != (self.source == "whole_frame"):
            raise ValueError(f"a {self.source} horizon needs {'no' if self.source == 'whole_frame' else 'a'} row")

    def as_dict(self) -> dict[str, str | float | None]:
        """For the survey summary, the status file and the heartbeat."""
        return {"source": self.source, "row": None if self.row is None else round(self.row, 3)}


class Horizon(Protocol):
    """Gives the horizon to place the passes by, one frame at a time."""

    def observe(self, pixels: np.ndarray) -> HorizonView: ...

    def reset(self) -> None: ...


class FixedHorizon:
    """A horizon row known in advance (the camera's calibration, or ``--horizon`` in eval)."""

    def __init__(self, row: float) -> None:
        low, high = HORIZON_LIMITS
        if not low <= row <= high:
            raise ValueError(f"horizon must be within [{low}, {high}] (fraction of the height), got {row}")
        self.view = HorizonView("calibrated", row)

    def observe(self, pixels: np.ndarray) -> HorizonView:
        """The same row for every frame."""
        return self.view

    def reset(self) -> None:
        """Nothing to forget."""


class WholeFrameHorizon:
    """No horizon at all: every pass covers the whole frame (``--horizon whole``)."""

    view = HorizonView("whole_frame")

    def observe(self, pixels: np.ndarray) -> HorizonView:
        """Always the whole frame."""
        return self.view

    def reset(self) -> None:
        """Nothing to forget."""


@dataclass(frozen=True)
class EstimatorConfig:
    """How many frames must agree, and how closely, before the bands follow the estimate."""

    window: int = 30  # frames with a vanishing point kept (~2 min of photos at 4 m, 50 km/h is 400)
    min_frames: int = 8  # the first ~8 photos (~30 m) are anonymized whole-frame
    # Spread (median absolute deviation of the rows, fraction of the height) above which the
    # frames disagree: on the DNIT photos one frame in ten is > 1.5 deg (~0.04 H) off.
    max_spread: float = 0.03
    analysis_width: int = 640  # lines are found on a copy this wide: the row, not detail, matters
    # Once the estimate holds, one frame in ``every`` is analysed (the mount does not move
    # between photos; a knocked camera shows within ``window * every`` frames).
    every: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min_frames <= self.window:
            raise ValueError(f"need 1 <= min_frames <= window, got {self.min_frames}, {self.window}")
        if not 0 < self.max_spread < 1 or self.analysis_width < 64 or self.every < 1:
            raise ValueError(f"need 0 < max_spread < 1, analysis_width >= 64, every >= 1, got {self}")


class HorizonEstimator:
    """The horizon row from the vanishing point of each frame's lines, as a rolling median.

    Thread-safe: the anonymizer may be called from several threads.
    """

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self.config = config or EstimatorConfig()
        self._rows: deque[float] = deque(maxlen=self.config.window)
        self._lock = threading.Lock()
        self._seen = 0
        self.view = HorizonView("whole_frame")

    def observe(self, pixels: np.ndarray) -> HorizonView:
        """Add this frame's vanishing point (when it has one) and return the view to use for it."""
        with self._lock:
            self._seen += 1
            analyse = self.view.source != "estimated" or self._seen % self.config.every == 0
        row = frame_horizon_row(pixels, self.config.analysis_width) if analyse else None
        with self._lock:
            if row is not None:
                self._rows.append(row)
            self.view = self._judge()
            return self.view

    def reset(self) -> None:
        """Forget every frame (a new camera, or a test that must not inherit earlier frames)."""
        with self._lock:
            self._rows.clear()
            self._seen = 0
            self.view = HorizonView("whole_frame")

    def _judge(self) -> HorizonView:
        if len(self._rows) < self.config.min_frames:
            return HorizonView("whole_frame")
        rows = np.asarray(self._rows)
        median = float(np.median(rows))
        spread = float(np.median(np.abs(rows - median)))
        if spread > self.config.max_spread:
            return HorizonView("whole_frame")
        return HorizonView("estimated", median)


def frame_horizon_row(pixels: np.ndarray, analysis_width: int = 640) -> float | None:
    """Row (fraction of the height) of the vanishing point of the frame's straight lines, or None.

    Lens distortion and roll are ignored: the row is used to place bands tens of rows tall.
    A point outside ``HORIZON_LIMITS`` is not a road's horizon (lines of a close-up) and is dropped.
    """
    height, width = pixels.shape[:2]
    scale = min(1.0, analysis_width / width)
    small = cv2.resize(pixels, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    segments = detect_line_segments(small)
    found = vanishing_point(segments) if len(segments) >= 3 else None
    if found is None:
        return None
    point, inliers = found
    row = float(point[1]) / small.shape[0]
    low, high = HORIZON_LIMITS
    if int(inliers.sum()) < 4 or not low <= row <= high or not np.isfinite(row):
        return None
    return row
