"""Multi-object tracking for counting: ByteTrack from the maintained ``trackers`` library.

Why ``trackers`` and how it is installed: ``supervision`` dropped its own ByteTrack (0.31)
for ``trackers``; ``trackers`` declares ``opencv-python`` (the GUI build), which would
overwrite ``opencv-python-headless``'s ``cv2`` on the edge box. ByteTrack itself needs
only numpy, scipy and supervision (>= 0.30 no longer requires OpenCV), so setup installs
``trackers`` with ``--no-deps`` and ``supervision`` is an ordinary dependency.

A track's class is the most frequent class it was detected as (a blob seen half-occluded
for a frame should not split a car's count into car + bicycle).
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import supervision as sv

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
    """The ``trackers`` package is missing: install it with ``pip install --no-deps trackers``."""


class ObjectTracker:
    """Assigns stable ids to detections over time and votes each track's class."""

    def __init__(self, config: TrackerConfig, frame_rate: float) -> None:
        if ByteTrackTracker is None:
            raise TrackerUnavailableError(
                f"the 'trackers' package is needed for counting ({_IMPORT_ERROR}); "
                "install it with: pip install --no-deps 'trackers>=2.6,<3'"
            )
        if frame_rate <= 0:
            raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
        self.config = config
        self.frame_rate = frame_rate
        self._votes: dict[int, Counter] = {}
        self.reset()

    def reset(self) -> None:
        """Drop every track (after a gap: ids must not bridge it)."""
        # lost_track_buffer is in 30-f/s frames whatever the stream's rate (trackers' convention).
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, int(round(self.config.lost_track_seconds * 30))),
            frame_rate=self.frame_rate,
            track_activation_threshold=0.5,
            minimum_consecutive_frames=self.config.min_consecutive,
            minimum_iou_threshold=self.config.min_iou,
            high_conf_det_threshold=0.5,
        )
        self._votes.clear()

    def update(self, detections: Detections, time_s: float) -> Detections:
        """Tracked detections (confirmed tracks only), ``tracker_id`` set, class voted."""
        sv_detections = sv.Detections(
            xyxy=np.asarray(detections.xyxy, np.float32).reshape(-1, 4),
            confidence=np.asarray(detections.confidence, np.float32),
            class_id=np.asarray(detections.class_id, np.int64),
        )
        tracked = self._tracker.update(sv_detections, timestamp=time_s)
        confirmed = tracked[tracked.tracker_id >= 0] if len(tracked) else tracked
        if len(confirmed) == 0:
            return Detections.empty(CLASSES)
        ids = confirmed.tracker_id.astype(np.int64)
        voted = np.array([self._vote(int(t), int(c)) for t, c in zip(ids, confirmed.class_id)], np.int64)
        return Detections(
            xyxy=confirmed.xyxy.astype(np.float32),
            confidence=confirmed.confidence.astype(np.float32),
            class_id=voted,
            class_names=CLASSES,
            tracker_id=ids,
        )

    def _vote(self, tracker_id: int, class_id: int) -> int:
        votes = self._votes.setdefault(tracker_id, Counter())
        votes[class_id] += 1
        if len(self._votes) > 5000:  # runs for days: keep only recent tracks' votes
            for old in sorted(self._votes)[:2500]:
                del self._votes[old]
        return votes.most_common(1)[0][0]
