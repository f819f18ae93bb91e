"""The counter: frames → detections → tracks → line crossings → ``CountBin`` records.

``Counter.process(frame)`` handles one frame and returns the bins that closed;
``run_counter`` drives it over a source for days: a source that fails or ends (live) is
reopened with exponential backoff and the time in between is a gap ("no_data" bins).
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from voirie.edge.count.bins import BinAggregator, BinKey
from voirie.edge.count.config import CLASSES, ConfigError, CountConfig
from voirie.edge.count.detectors import CountDetector, GroundMapper, build_detector
from voirie.edge.count.health import StreamHealth
from voirie.edge.count.lines import CountLine
from voirie.edge.count.tracking import ObjectTracker
from voirie.records import CountBin, Detections, Frame

logger = logging.getLogger(__name__)


class SnapshotSink(Protocol):
    """Takes an occasional frame for an anonymized debug picture (``snapshots.SnapshotWriter``)."""

    def offer(self, frame: Frame) -> object:
        """Maybe keep this frame (anonymized first)."""
        ...


@dataclass(frozen=True)
class ScaleGround:
    """Uniform scale, for a side-on camera until a calibration is configured."""

    pixels_per_metre: float

    def to_ground(self, points_px: np.ndarray) -> np.ndarray:
        """Divide by the scale."""
        return np.asarray(points_px, float) / self.pixels_per_metre


def build_ground(config: CountConfig) -> GroundMapper | None:
    """The camera calibration's ground plane, else a uniform scale, else None (pixels only)."""
    if config.calibration is not None:
        from voirie.calibration import CalibrationError, CameraCalibration

        try:
            return CameraCalibration.load(config.calibration).ground_plane()
        except CalibrationError as error:
            raise ConfigError(f"calibration {config.calibration}: {error}") from None
    return ScaleGround(config.pixels_per_metre) if config.pixels_per_metre else None


@dataclass(frozen=True)
class PendingCrossing:
    """A crossing whose class waits for the rest of its track (decided by the whole track's vote)."""

    line_id: str
    direction: str
    tracker_id: int
    time_utc: datetime
    monotonic_s: float
    speed_kmh: float | None
    anchor: tuple[float, float] = (0.0, 0.0)  # pixels, where the track crossed
    height_px: float = 0.0  # its box's height there


# A pedestrian crossing made with a two-wheeler's (same line and direction, within this time
# and half the person's height) is its rider, tracked apart for a while: one road user.
RIDER_PAIR_S = 1.0


@dataclass
class CounterStats:
    """What happened during a run (logged, and printed by the CLI)."""

    frames: int = 0
    detected_frames: int = 0
    frozen_frames: int = 0
    gaps: int = 0
    crossings: int = 0
    weak_tracks: int = 0  # crossings dropped: the track was mostly low-confidence detections
    riders: int = 0  # pedestrian crossings dropped: the rider of a counted two-wheeler


def _anchors(detections: Detections, anchor: str) -> np.ndarray:
    xyxy = np.asarray(detections.xyxy, float)
    x = (xyxy[:, 0] + xyxy[:, 2]) / 2
    y = xyxy[:, 3] if anchor == "bottom_center" else (xyxy[:, 1] + xyxy[:, 3]) / 2
    return np.stack([x, y], 1)


class Counter:
    """Counts one camera's traffic into bins according to a ``CountConfig``."""

    def __init__(self, config: CountConfig, detector: CountDetector | None = None, frame_rate: float = 25.0,
                 ground: GroundMapper | None = None, snapshots: SnapshotSink | None = None) -> None:
        self.config = config
        self.snapshots = snapshots
        self.ground = ground or build_ground(config)
        self.detector = detector if detector is not None else build_detector(config, self.ground)
        start_confidence = getattr(config.detector, "confidence", 0.5)  # blobs (0.9) always start tracks
        self.tracker = ObjectTracker(config.tracker, frame_rate, start_confidence)
        self.health = StreamHealth(config.health)
        self.lines = {line.id: CountLine(line.start, line.end, line.directions, line.hysteresis, line.min_travel)
                      for line in config.lines}
        keys = [BinKey(line.id, direction, name) for line in config.lines for direction in line.directions
                for name in (line.classes or CLASSES)]
        self.bins = BinAggregator(config.device_id, config.camera_id, keys, config.bin_seconds,
                                  config.health.min_coverage, config.health.max_frame_gap_s)
        self.stats = CounterStats()
        self._history: dict[int, deque[tuple[float, np.ndarray]]] = {}
        self._index = 0
        self._pending: list[PendingCrossing] = []
        self._last_seen: dict[int, float] = {}
        self._recent: deque[tuple[PendingCrossing, str]] = deque(maxlen=64)  # recorded, with their class
        self._totals = {line.id: {d: Tally() for d in line.directions} for line in config.lines}

    def process(self, frame: Frame) -> list[CountBin]:
        """Count one frame; returns the bins that closed before it."""
        health = self.health.check(frame.pixels, frame.monotonic_s)
        if health.frozen:
            self.stats.frozen_frames += 1
            self.bins.gap()  # a frozen picture watches nothing
            return []
        if health.mode_changed:
            self._reset_scene()
        if self.bins.would_close(frame.time_utc):
            self._settle(frame.monotonic_s, everything=True)  # a crossing belongs to its own bin
        closed = self.bins.observe(frame.time_utc)
        self.stats.frames += 1
        self._index += 1
        if (self._index - 1) % self.config.detect_every:
            return closed  # the tracker predicts across skipped frames from timestamps
        self.stats.detected_frames += 1
        detections = self.detector.detect(StreamHealth.apply_gain(frame.pixels, health.gain))
        tracked = self.tracker.update(detections, frame.monotonic_s)
        self._count(tracked, frame)
        self._settle(frame.monotonic_s)
        if self.snapshots is not None:
            self.snapshots.offer(frame)
        return closed

    def _count(self, tracked: Detections, frame: Frame) -> None:
        if len(tracked) == 0:
            return
        pixels = _anchors(tracked, self.config.anchor)
        metres = self.ground.to_ground(pixels) if self.ground else None
        ids = np.asarray(tracked.tracker_id)
        names = tracked.names()
        for tid in ids.tolist():
            self._last_seen[int(tid)] = frame.monotonic_s
        if metres is not None:
            self._remember(ids, metres, frame.monotonic_s)
        for spec in self.config.lines:
            points = metres if spec.coords == "ground" else pixels
            _, _, events = self.lines[spec.id].trigger(ids, points, names, frame.monotonic_s)
            row = {int(t): i for i, t in enumerate(ids.tolist())}
            self._pending.extend(
                PendingCrossing(spec.id, event.direction, event.tracker_id, frame.time_utc, frame.monotonic_s,
                                self._speed_kmh(event.tracker_id), tuple(pixels[row[event.tracker_id]]),
                                float(tracked.xyxy[row[event.tracker_id], 3] - tracked.xyxy[row[event.tracker_id], 1]))
                for event in events)

    def _settle(self, now_s: float, everything: bool = False) -> None:
        """Count the crossings whose track has ended (or waited ``settle_seconds``), with the
        class voted over the whole track: a van seen as a truck for a few frames stays a car."""
        lost_after = self.config.tracker.lost_track_seconds
        waiting = []
        for crossing in self._pending:
            ended = now_s - self._last_seen.get(crossing.tracker_id, -np.inf) > lost_after
            if everything or ended or now_s - crossing.monotonic_s >= self.config.tracker.settle_seconds:
                self._record(crossing)
            else:
                waiting.append(crossing)
        self._pending = waiting
        if len(self._last_seen) > 2000:  # runs for days: forget tracks gone for a minute
            self._last_seen = {t: s for t, s in self._last_seen.items() if now_s - s <= 60}

    def _record(self, crossing: PendingCrossing) -> None:
        votes = self.tracker.votes
        if votes.mean_confidence(crossing.tracker_id) < self.config.tracker.min_mean_confidence:
            self.stats.weak_tracks += 1
            return
        name = CLASSES[votes.decide(crossing.tracker_id)]
        if name == "pedestrian" and self._rides_with_a_two_wheeler(crossing):
            self.stats.riders += 1
            return
        self._recent.append((crossing, name))
        spec = next(line for line in self.config.lines if line.id == crossing.line_id)
        if spec.classes is not None and name not in spec.classes:
            return
        self.stats.crossings += 1
        self._totals[crossing.line_id][crossing.direction][name] += 1
        self.bins.add(BinKey(crossing.line_id, crossing.direction, name), crossing.time_utc, crossing.speed_kmh)

    def _rides_with_a_two_wheeler(self, person: PendingCrossing) -> bool:
        """Whether a two-wheeler (counted, or still waiting) crossed with this pedestrian."""
        votes = self.tracker.votes
        waiting = [(c, CLASSES[votes.decide(c.tracker_id)]) for c in self._pending if c.tracker_id in votes]
        return any(
            name in ("bicycle", "motorcycle") and other.tracker_id != person.tracker_id
            and (other.line_id, other.direction) == (person.line_id, person.direction)
            and abs(other.monotonic_s - person.monotonic_s) <= RIDER_PAIR_S
            and float(np.hypot(*np.subtract(other.anchor, person.anchor))) <= 0.5 * person.height_px
            for other, name in [*waiting, *self._recent])

    def _remember(self, ids: np.ndarray, metres: np.ndarray, t: float) -> None:
        for tid, point in zip(ids.tolist(), metres):
            self._history.setdefault(int(tid), deque(maxlen=64)).append((t, point))
        if len(self._history) > 2000:  # forget tracks gone for a while (runs for days)
            for tid in [k for k, v in self._history.items() if t - v[-1][0] > 60]:
                del self._history[tid]

    def _speed_kmh(self, tracker_id: int) -> float | None:
        history = self._history.get(tracker_id)
        if not history or len(history) < 2:
            return None
        t1, p1 = history[-1]
        t0, p0 = next(((t, p) for t, p in history if t1 - t <= 1.0), history[0])
        if t1 - t0 < 0.2:
            return None
        return float(np.hypot(*(p1 - p0)) / (t1 - t0) * 3.6)

    def _reset_scene(self) -> None:
        self._settle(0.0, everything=True)  # decided before the tracks' evidence is dropped
        self.detector.reset()
        self.tracker.reset()
        for line in self.lines.values():
            line.reset_tracks()
        self._history.clear()
        self._last_seen.clear()
        self._recent.clear()  # a fresh tracker numbers its tracks from the start again

    def gap(self) -> None:
        """The stream broke: nothing is watched until the next frame, tracks do not bridge it."""
        self.stats.gaps += 1
        self.bins.gap()
        self._reset_scene()

    def finish(self, end_utc: datetime | None = None) -> list[CountBin]:
        """Count the crossings still waiting for their class, then emit the remaining (partial) bins."""
        self._settle(0.0, everything=True)
        return self.bins.flush(end_utc)

    def totals(self) -> dict[str, dict[str, dict[str, int]]]:
        """Counts so far (crossings whose class is decided): ``{line: {direction: {class: n}}}``."""
        return {line_id: {d: dict(t) for d, t in per_line.items()} for line_id, per_line in self._totals.items()}


def run_counter(counter: Counter, open_frames: Callable[[], Iterable[Frame]], sink: Callable[[list[CountBin]], None],
                live: bool, should_stop: Callable[[], bool] = lambda: False,
                sleep: Callable[[float], None] = time.sleep, max_reconnects: int | None = None) -> CounterStats:
    """Count frames until the source ends (file) or ``should_stop`` (live, reconnecting with backoff)."""
    health = counter.config.health
    delay, reconnects = health.reconnect_initial_s, 0
    while True:
        try:
            for frame in open_frames():
                sink(counter.process(frame))
                delay = health.reconnect_initial_s
                if should_stop():
                    break
        except (OSError, ConnectionError, ValueError) as error:
            logger.warning("camera %s: source failed: %s", counter.config.camera_id, error)
        if not live or should_stop() or (max_reconnects is not None and reconnects >= max_reconnects):
            break
        counter.gap()
        logger.info("camera %s: reconnecting in %.0f s", counter.config.camera_id, delay)
        sleep(delay)
        delay, reconnects = min(delay * 2, health.reconnect_max_s), reconnects + 1
    sink(counter.finish())
    return counter.stats

