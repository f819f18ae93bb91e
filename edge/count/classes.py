"""What a counted object is: class evidence per box, riders, size on the ground, a vote per track.

A COCO detector scores one box under several labels at once (a van: car 0.5, truck 0.4; a
small cyclist: person 0.4, motorcycle 0.2, bicycle 0.1) and the scores move from frame to
frame. Deciding per frame would flip a van between car and truck and count a cyclist as a
pedestrian (or as a pedestrian *and* a bicycle), so:

* ``merge_labels``: boxes of one object under different labels become one object with an
  evidence score per counted class;
* ``merge_riders``: a person on a bicycle or motorcycle becomes part of it, and the person's
  score counts for the two-wheeler: one rider on one vehicle is one road user;
* ``ground_size_evidence``: with a ground scale, a car-labelled box the size of a lorry is
  evidence for ``truck_bus``, a truck-labelled box the size of a car (pickup, small van) for
  ``car``;
* ``ClassVote``: a track's class is decided from the evidence summed over its whole life; a
  track seen with a two-wheeler often enough is a two-wheeler even in frames where only its
  rider was detected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from supervision import box_iou_batch

from voirie.edge.count.config import CLASSES

logger = logging.getLogger(__name__)

PEDESTRIAN, BICYCLE, MOTORCYCLE, CAR, TRUCK_BUS = (CLASSES.index(name) for name in
                                                   ("pedestrian", "bicycle", "motorcycle", "car", "truck_bus"))
TWO_WHEELERS = [BICYCLE, MOTORCYCLE]
VEHICLES = [CAR, TRUCK_BUS, MOTORCYCLE]
PART_INSIDE = 0.85  # share of a vehicle box inside a bigger one that makes it a part of it
CLASS_SCORES = "class_scores"  # Detections.metadata key: (N, len(CLASSES)) evidence per box
SAME_OBJECT_IOU = 0.6  # boxes of different labels overlapping this much are one object
# Apparent size on the ground (the larger of a box's width and height in metres at its
# bottom edge). Cars are 3.5-5 m long and under 2 m high; lorries and buses 7-18 m long
# and 3-4 m high. The gap between the two limits is left to the model's labels.
CAR_MAX_SIZE_M = 5.0
HEAVY_MIN_SIZE_M = 8.0


@dataclass(frozen=True)
class Objects:
    """Objects in one frame: boxes and an evidence score (0-1) per counted class."""

    xyxy: np.ndarray  # (N, 4) pixels
    scores: np.ndarray  # (N, len(CLASSES))

    def __post_init__(self) -> None:
        if self.xyxy.shape != (len(self.scores), 4) or self.scores.shape[1:] != (len(CLASSES),):
            raise ValueError(f"Objects need (N, 4) boxes and (N, {len(CLASSES)}) scores, "
                             f"got {self.xyxy.shape} and {self.scores.shape}")

    def confidence(self) -> np.ndarray:
        """How sure we are there is a road user at all: 1 - P(every label is wrong)."""
        return 1.0 - np.prod(1.0 - self.scores, axis=1)

    def best_class(self) -> np.ndarray:
        """The counted class with the most evidence in this frame."""
        return self.scores.argmax(axis=1)


def _either(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray | float:
    """Combine two independent pieces of evidence for the same class."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def merge_labels(xyxy: np.ndarray, class_ids: np.ndarray, confidence: np.ndarray) -> Objects:
    """One object per thing: boxes overlapping at ``SAME_OBJECT_IOU`` merge whatever their label.

    The most confident box is kept; each class keeps its best score among the merged boxes.
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    if len(xyxy) == 0:
        return Objects(xyxy, np.zeros((0, len(CLASSES)), np.float32))
    overlap = box_iou_batch(xyxy, xyxy)
    taken = np.zeros(len(xyxy), bool)
    boxes, scores = [], []
    for i in np.argsort(-confidence, kind="stable"):
        if taken[i]:
            continue
        members = np.flatnonzero(~taken & (overlap[i] >= SAME_OBJECT_IOU))
        taken[members] = True
        row = np.zeros(len(CLASSES), np.float32)
        np.maximum.at(row, class_ids[members], confidence[members])
        boxes.append(xyxy[i])
        scores.append(row)
    merged = Objects(np.asarray(boxes, np.float32), np.asarray(scores, np.float32))
    return _absorb_own_rider(_drop_vehicle_parts(merged))


def _drop_vehicle_parts(objects: Objects) -> Objects:
    """A vehicle box almost inside a bigger vehicle box is a part of it (a lorry's cab, a
    roof rack): tracked alone it would be a second count."""
    vehicle = np.isin(objects.best_class(), VEHICLES)
    xyxy = objects.xyxy
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    drop = []
    for i in np.flatnonzero(vehicle):
        for j in np.flatnonzero(vehicle & (area > 1.5 * area[i])):
            if _overlap_area(xyxy[i], xyxy[j]) >= PART_INSIDE * area[i]:
                drop.append(i)
                break
    if not drop:
        return objects
    keep = np.setdiff1d(np.arange(len(xyxy)), drop)
    return Objects(xyxy[keep], objects.scores[keep])


def _absorb_own_rider(objects: Objects) -> Objects:
    """A box that is both "person" and a two-wheeler is a rider on it: the person's score
    counts for the two-wheeler (a rider and bike seen small often get one box)."""
    scores = objects.scores.copy()
    wheels = scores[:, TWO_WHEELERS]
    riding = wheels.max(axis=1) > 0
    if riding.any():
        which = np.asarray(TWO_WHEELERS)[wheels.argmax(axis=1)]
        rows = np.flatnonzero(riding)
        scores[rows, which[rows]] = _either(scores[rows, which[rows]], scores[rows, PEDESTRIAN])
        scores[rows, PEDESTRIAN] = 0.0
    return Objects(objects.xyxy, scores)


def rides(person: np.ndarray, vehicle: np.ndarray) -> bool:
    """Whether a person box sits on a two-wheeler box: centred over it, feet within its
    height (on the pedals, or on the ground beside it), head above its middle."""
    width, height = vehicle[2] - vehicle[0], vehicle[3] - vehicle[1]
    centre_x = (person[0] + person[2]) / 2
    over = vehicle[0] - 0.15 * width <= centre_x <= vehicle[2] + 0.15 * width
    feet = vehicle[1] <= person[3] <= vehicle[3] + 0.25 * height
    head = person[1] <= vehicle[1] + 0.5 * height
    return bool(over and feet and head)


def merge_riders(objects: Objects) -> Objects:
    """Persons riding (or pushing) a two-wheeler become part of it: one box, one road user.

    The merged box is the union of both; the person's score is added to the two-wheeler's.
    """
    best = objects.best_class()
    wheels = np.flatnonzero(np.isin(best, TWO_WHEELERS))
    people = np.flatnonzero(best == PEDESTRIAN)
    if not len(wheels) or not len(people):
        return objects
    xyxy, scores = objects.xyxy.copy(), objects.scores.copy()
    absorbed = []
    for p in people:
        on = [w for w in wheels if rides(objects.xyxy[p], objects.xyxy[w])]
        if not on:
            continue
        w = max(on, key=lambda k: _overlap_area(objects.xyxy[p], objects.xyxy[k]))
        kind = best[w]
        scores[w, kind] = _either(scores[w, kind], scores[p, PEDESTRIAN])
        xyxy[w, :2] = np.minimum(xyxy[w, :2], objects.xyxy[p, :2])
        xyxy[w, 2:] = np.maximum(xyxy[w, 2:], objects.xyxy[p, 2:])
        absorbed.append(p)
    keep = np.setdiff1d(np.arange(len(xyxy)), absorbed)
    return Objects(xyxy[keep], scores[keep])


def _overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(max(w, 0) * max(h, 0))


def apparent_size_m(xyxy: np.ndarray, ground: object) -> np.ndarray:
    """The larger of each box's width and height in metres, at the scale of its bottom edge.

    ``ground.to_ground`` maps pixels to metres on the road; NaN where the bottom edge is
    off the road or too short to measure.
    """
    xyxy = np.asarray(xyxy, float).reshape(-1, 4)
    left = ground.to_ground(xyxy[:, [0, 3]])
    right = ground.to_ground(xyxy[:, [2, 3]])
    metres = np.hypot(*(np.asarray(right) - np.asarray(left)).T)
    with np.errstate(invalid="ignore", divide="ignore"):
        metres_per_pixel = np.where(metres > 0.05, metres / np.maximum(xyxy[:, 2] - xyxy[:, 0], 1e-6), np.nan)
    return np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]) * metres_per_pixel


def ground_size_evidence(objects: Objects, ground: object | None) -> Objects:
    """Move car/truck_bus evidence by size on the ground (nothing changes without a scale)."""
    if ground is None or not len(objects.xyxy):
        return objects
    size = apparent_size_m(objects.xyxy, ground)
    scores = objects.scores.copy()
    _move_evidence(scores, np.flatnonzero(np.nan_to_num(size, nan=0.0) >= HEAVY_MIN_SIZE_M), CAR, TRUCK_BUS)
    _move_evidence(scores, np.flatnonzero(np.nan_to_num(size, nan=np.inf) < CAR_MAX_SIZE_M), TRUCK_BUS, CAR)
    return Objects(objects.xyxy, scores)


def _move_evidence(scores: np.ndarray, rows: np.ndarray, source: int, target: int) -> None:
    scores[rows, target] = _either(scores[rows, target], scores[rows, source])
    scores[rows, source] = 0.0


class CarScale:
    """The size of a car at each height of the picture, learnt from the cars themselves.

    On a flat road a box's size grows linearly with the image row of its bottom edge (its
    distance), so a line fitted to confidently labelled cars gives, for any box, how many
    "typical cars" big it is. That separates a lorry from a car on a camera with no
    calibration, where COCO labels alone often call a box truck a car.
    """

    def __init__(self, min_samples: int = 20, max_samples: int = 600) -> None:
        self.min_samples, self.max_samples = min_samples, max_samples
        self._rows: list[tuple[float, float]] = []
        self._fit: tuple[float, float] | None = None
        self._since_fit = 0

    def learn(self, objects: Objects) -> None:
        """Add the boxes that are clearly cars (not vans: little truck evidence)."""
        car = (objects.scores[:, CAR] >= 0.5) & (objects.scores[:, TRUCK_BUS] < 0.2)
        for box in objects.xyxy[car]:
            self._rows.append((float(box[3]), float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))))
            self._since_fit += 1
        del self._rows[:-self.max_samples]
        if len(self._rows) >= self.min_samples and (self._fit is None or self._since_fit >= 20):
            self._fit, self._since_fit = self._robust_line(np.asarray(self._rows)), 0

    @staticmethod
    def _robust_line(rows: np.ndarray) -> tuple[float, float]:
        """size = a + b * bottom_row, refitted without the worst quarter (vans, bad boxes)."""
        keep = np.ones(len(rows), bool)
        for _ in range(2):
            b, a = np.polyfit(rows[keep, 0], rows[keep, 1], 1) if np.ptp(rows[keep, 0]) > 1 else (0.0, 0.0)
            if b == 0.0:
                a = float(np.median(rows[keep, 1]))
            residual = np.abs(rows[:, 1] - (a + b * rows[:, 0]))
            keep = residual <= np.quantile(residual, 0.75)
        return float(a), float(b)

    def relative(self, xyxy: np.ndarray) -> np.ndarray:
        """Each box's size in typical cars at its row; NaN until enough cars were seen."""
        xyxy = np.asarray(xyxy, float).reshape(-1, 4)
        if self._fit is None:
            return np.full(len(xyxy), np.nan)
        a, b = self._fit
        expected = a + b * xyxy[:, 3]
        size = np.sqrt((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(expected > 4, size / expected, np.nan)


# A lorry or bus is at least this many typical cars big in the picture (box truck 1.3,
# articulated lorry 2+); vans and pickups stay under it.
HEAVY_MIN_RELATIVE = 1.25


def relative_size_evidence(objects: Objects, scale: CarScale) -> Objects:
    """Without a calibration: car evidence of a lorry-sized box counts for truck_bus."""
    scale.learn(objects)
    big = np.nan_to_num(scale.relative(objects.xyxy), nan=0.0) >= HEAVY_MIN_RELATIVE
    if not big.any():
        return objects
    scores = objects.scores.copy()
    _move_evidence(scores, np.flatnonzero(big), CAR, TRUCK_BUS)
    return Objects(objects.xyxy, scores)


class ClassVote:
    """Evidence summed per track; a track's class is decided from all of it.

    ``rider_share``: a person-or-two-wheeler track is a two-wheeler when its two-wheeler
    evidence is at least this share of its pedestrian evidence (a cyclist is often detected
    as a lone person for many frames, the bicycle only in some).
    """

    def __init__(self, rider_share: float = 0.3, max_tracks: int = 5000) -> None:
        if not 0 < rider_share <= 10 or max_tracks < 1:
            raise ValueError(f"rider_share must be in (0, 10] and max_tracks >= 1, got {rider_share}, {max_tracks}")
        self.rider_share = rider_share
        self.max_tracks = max_tracks
        self._totals: dict[int, np.ndarray] = {}
        self._confidence: dict[int, tuple[int, float]] = {}  # frames, summed confidence

    def add(self, track_ids: Iterable[int], scores: np.ndarray) -> None:
        """Add one frame's evidence of these tracks."""
        scores = np.asarray(scores, np.float32)
        confidence = Objects(np.zeros((len(scores), 4), np.float32), scores).confidence()
        for tid, row, sure in zip(track_ids, scores, confidence.tolist()):
            total = self._totals.get(int(tid))
            self._totals[int(tid)] = row.copy() if total is None else total + row
            frames, summed = self._confidence.get(int(tid), (0, 0.0))
            self._confidence[int(tid)] = (frames + 1, summed + sure)
        if len(self._totals) > self.max_tracks:  # runs for days: keep only recent tracks
            for old in sorted(self._totals)[: self.max_tracks // 2]:
                self.forget(old)

    def __contains__(self, track_id: int) -> bool:
        return int(track_id) in self._totals

    def mean_confidence(self, track_id: int) -> float:
        """How sure the detector was, on average over the track, that it is a road user."""
        frames, summed = self._confidence.get(int(track_id), (0, 0.0))
        return summed / frames if frames else 0.0

    def decide(self, track_id: int) -> int:
        """The class id of a track (``CLASSES`` index) from all its evidence so far."""
        total = self._totals.get(int(track_id))
        if total is None:
            raise KeyError(f"no evidence for track {track_id}")
        best = int(total.argmax())
        two_wheeler = float(total[TWO_WHEELERS].sum())
        if best in (PEDESTRIAN, *TWO_WHEELERS) and two_wheeler > 0 and \
                two_wheeler >= self.rider_share * float(total[PEDESTRIAN]):
            return BICYCLE if total[BICYCLE] >= total[MOTORCYCLE] else MOTORCYCLE
        return best

    def forget(self, track_id: int) -> None:
        """Drop a finished track's evidence."""
        self._totals.pop(int(track_id), None)
        self._confidence.pop(int(track_id), None)

    def reset(self) -> None:
        """Forget every track."""
        self._totals.clear()
        self._confidence.clear()
