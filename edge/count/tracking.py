"""Multi-object tracking for counting: ByteTrack from the maintained ``trackers`` library.

Why ``trackers``: ``supervision`` dropped its own ByteTrack (0.31) for ``trackers``, whose
``ByteTrackTracker`` takes each frame's timestamp (counting's sources have variable frame
rates). ``trackers`` is an ordinary dependency of the ``edge`` extra, installed with its
declared dependencies; it declares the GUI ``opencv-python``, which is the OpenCV the
project uses too (pyproject.toml; the edge box needs libGL and GLib, README "Install
profiles").

A track's class is voted from the class evidence of all its detections
(``voirie.edge.count.classes.ClassVote``): a blob seen half-occluded for a frame does not
split a car's count into car + bicycle, a van does not flip between car and truck, and a
cyclist detected as a lone person in most frames stays a bicycle.
"""

from __future__ import annotations

import logging

import numpy as np
import supervision as sv

from voirie.edge.count.classes import CLASS_SCORES, ClassVote
from voirie.edge.count.config import CLASSES, TrackerConfig
from voirie.records import Detections

logger = logging.getLogger(__name__)

try:
    from trackers import ByteTrackTracker
except ImportError as error:  # pragma: no cover - depends on the install
    ByteTrackTracker = None
    _IMPORT_ERROR: ImportError | None = error
else:
    _IMPORT_ERROR = None


class TrackerUnavailableError(ImportError):
    """The ``trackers`` package is missing: install the edge profile, ``pip install 'voirie[edge]'``."""


class ObjectTracker:
    """Assigns stable ids to detections over time and votes each track's class."""

    def __init__(self, config: TrackerConfig, frame_rate: float, start_confidence: float = 0.5) -> None:
        if ByteTrackTracker is None:
            raise TrackerUnavailableError(
                f"the 'trackers' package is needed for counting ({_IMPORT_ERROR}); "
                "install the edge profile: pip install 'voirie[edge]' (or pip install 'trackers>=2.6,<3')"
            )
        if frame_rate <= 0 or not 0 < start_confidence < 1:
            raise ValueError(f"frame_rate must be > 0 and start_confidence in (0, 1), got {frame_rate}, "
                             f"{start_confidence}")
        self.config = config
        self.frame_rate = frame_rate
        self.start_confidence = start_confidence
        self.votes = ClassVote(config.rider_share)
        self.reset()

    def reset(self) -> None:
        """Drop every track (after a gap: ids must not bridge it)."""
        # lost_track_buffer is in 30-f/s frames whatever the stream's rate (trackers' convention).
        # Detections under start_confidence only continue tracks (ByteTrack's second stage).
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, int(round(self.config.lost_track_seconds * 30))),
            frame_rate=self.frame_rate,
            track_activation_threshold=self.start_confidence,
            minimum_consecutive_frames=self.config.min_consecutive,
            minimum_iou_threshold=self.config.min_iou,
            high_conf_det_threshold=self.start_confidence,
        )
        self.votes.reset()

    def update(self, detections: Detections, time_s: float) -> Detections:
        """Tracked detections (confirmed tracks only), ``tracker_id`` set, class voted over the track."""
        sv_detections = sv.Detections(
            xyxy=np.asarray(detections.xyxy, np.float32).reshape(-1, 4),
            confidence=np.asarray(detections.confidence, np.float32),
            class_id=np.asarray(detections.class_id, np.int64),
            data={CLASS_SCORES: class_scores(detections)},
        )
        tracked = self._tracker.update(sv_detections, timestamp=time_s)
        confirmed = tracked[tracked.tracker_id >= 0] if len(tracked) else tracked
        if len(confirmed) == 0:
            return Detections.empty(CLASSES)
        ids = confirmed.tracker_id.astype(np.int64)
        self.votes.add(ids.tolist(), confirmed.data[CLASS_SCORES])
        return Detections(
            xyxy=confirmed.xyxy.astype(np.float32),
            confidence=confirmed.confidence.astype(np.float32),
            class_id=np.array([self.votes.decide(t) for t in ids.tolist()], np.int64),
            class_names=CLASSES,
            tracker_id=ids,
        )


def class_scores(detections: Detections) -> np.ndarray:
    """Per-class evidence of each detection: the model's (``metadata``), else its one label."""
    given = detections.metadata.get(CLASS_SCORES)
    if given is not None and len(given) == len(detections):
        return np.asarray(given, np.float32).reshape(len(detections), len(CLASSES))
    scores = np.zeros((len(detections), len(CLASSES)), np.float32)
    scores[np.arange(len(detections)), np.asarray(detections.class_id, np.int64)] = \
        np.asarray(detections.confidence, np.float32)
    return scores
