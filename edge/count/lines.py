"""Counting lines: a track is counted when it crosses a segment, with hysteresis.

Modelled on supervision's ``LineZone`` (``trigger`` returns crossed-in / crossed-out masks,
per-class counts as read-only properties) with two guards against the double counts
reported for stop-and-go traffic (OpenDataCam #204):

* a dead band of ``hysteresis`` on each side of the line: a vehicle stopped on the line
  whose anchor jitters inside the band changes no side;
* ``min_travel``: a track must move at least this far between its last point on one side
  and its first point on the other, so box jitter across the band is not a crossing.

A track first seen inside the band (its earlier id was lost on the line) is counted when
it leaves the band after ``min_travel``, in the direction it leaves.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class _TrackSide:
    side: int  # +1 / -1 once on a side, 0 while only seen inside the band
    last_on_side: np.ndarray  # last anchor on ``side`` (or first anchor, born in the band)
    last_seen: float


@dataclass(frozen=True)
class Crossing:
    """One counted crossing of one track."""

    tracker_id: int
    direction: str
    class_name: str


@dataclass
class CountLine:
    """A segment ``start → end`` counting tracks in two named directions."""

    start: tuple[float, float]
    end: tuple[float, float]
    directions: tuple[str, str] = ("in", "out")
    hysteresis: float = 6.0
    min_travel: float = 15.0
    forget_after_s: float = 30.0
    _tracks: dict[int, _TrackSide] = field(default_factory=dict, init=False, repr=False)
    _counts: dict[str, Counter] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        a, b = np.asarray(self.start, float), np.asarray(self.end, float)
        if a.shape != (2,) or b.shape != (2,) or not np.isfinite([*a, *b]).all():
            raise ValueError(f"start and end must be finite (x, y) points, got {self.start}, {self.end}")
        if np.allclose(a, b):
            raise ValueError(f"start and end must differ, got {self.start} twice")
        if len(self.directions) != 2 or self.directions[0] == self.directions[1]:
            raise ValueError(f"directions must be two different names, got {self.directions}")
        if self.hysteresis < 0 or self.min_travel < 0:
            raise ValueError(f"hysteresis and min_travel must be >= 0, got {self.hysteresis}, {self.min_travel}")
        self._a, self._vector = a, b - a
        self._length = float(np.hypot(*self._vector))
        self._counts = {name: Counter() for name in self.directions}

    def _side_and_extent(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rel = points - self._a
        distance = (self._vector[0] * rel[:, 1] - self._vector[1] * rel[:, 0]) / self._length
        along = (rel @ self._vector) / self._length
        margin = self.hysteresis
        within = (along >= -margin) & (along <= self._length + margin)
        side = np.where(distance > self.hysteresis, 1, np.where(distance < -self.hysteresis, -1, 0))
        return side, within

    def trigger(self, tracker_ids: np.ndarray, anchors: np.ndarray, class_names: list[str],
                time_s: float) -> tuple[np.ndarray, np.ndarray, list[Crossing]]:
        """Update with this frame's tracks; return (crossed directions[0], crossed directions[1], crossings)."""
        anchors = np.asarray(anchors, float).reshape(-1, 2)
        if len(anchors) != len(tracker_ids) or len(class_names) != len(tracker_ids):
            raise ValueError(f"got {len(tracker_ids)} ids, {len(anchors)} anchors, {len(class_names)} classes")
        crossed = np.zeros((2, len(tracker_ids)), bool)
        events: list[Crossing] = []
        sides, within = self._side_and_extent(anchors)
        for i, (tid, point) in enumerate(zip(tracker_ids.tolist(), anchors)):
            if not within[i]:
                continue  # passing beside the segment's end is not a crossing
            direction = self._update_track(int(tid), int(sides[i]), point, time_s)
            if direction is not None:
                crossed[direction, i] = True
                name = self.directions[direction]
                self._counts[name][class_names[i]] += 1
                events.append(Crossing(int(tid), name, class_names[i]))
        self._forget(time_s)
        return crossed[0], crossed[1], events

    def _update_track(self, tid: int, side: int, point: np.ndarray, time_s: float) -> int | None:
        state = self._tracks.get(tid)
        if state is None:
            self._tracks[tid] = _TrackSide(side, point.copy(), time_s)
            return None
        state.last_seen = time_s
        if side == 0 or side == state.side:
            if side != 0:
                state.last_on_side = point.copy()
            return None
        if float(np.hypot(*(point - state.last_on_side))) < self.min_travel:
            return None  # jitter across the band, not a crossing
        state.side, state.last_on_side = side, point.copy()
        # +1 -> -1 is directions[0] (right-hand to left-hand side of start -> end).
        return 0 if side == -1 else 1

    def _forget(self, time_s: float) -> None:
        stale = [tid for tid, s in self._tracks.items() if time_s - s.last_seen > self.forget_after_s]
        for tid in stale:
            del self._tracks[tid]

    def reset_tracks(self) -> None:
        """Forget track sides (after a gap or a tracker reset); counts are kept."""
        self._tracks.clear()

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Counts so far: ``{direction: {class_name: n}}``."""
        return {name: dict(counter) for name, counter in self._counts.items()}

    @property
    def in_count(self) -> int:
        """Crossings in ``directions[0]``."""
        return sum(self._counts[self.directions[0]].values())

    @property
    def out_count(self) -> int:
        """Crossings in ``directions[1]``."""
        return sum(self._counts[self.directions[1]].values())
