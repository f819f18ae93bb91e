"""Distance trigger: one photo every ``spacing_m`` of road, and the frame nearest each mark.

``DistanceTrigger`` turns a stream of (filtered) fixes into ``TriggerMark`` s: the exact
instant and place, interpolated between two fixes, where the odometer crossed the next
multiple of ``spacing_m``. ``FrameMatcher`` then picks, for each mark, the camera frame
whose timestamp is nearest that instant. Policies (stops, jitter, dropouts) are described
in docs/gnss.md and in the class docstrings.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from geographiclib.geodesic import Geodesic

from voirie.capture.gnss.fix import FixFilter, geodesic_m, seconds_between
from voirie.records import FixMode, GeoFix

logger = logging.getLogger(__name__)

T = TypeVar("T")
# How many fixes at rest the anchor is averaged over: enough to shrink jitter ~4x, few
# enough that a slow creep still moves it.
_REST_WINDOW = 16
# How long speeds and positions must disagree before the speeds are taken to be wrong.
_DISTRUST_AFTER_S = 5.0


@dataclass(frozen=True)
class TriggerMark:
    """Where and when the odometer crossed ``index * spacing_m``; ``fix`` is interpolated there."""

    index: int
    distance_m: float
    time_utc: datetime
    fix: GeoFix


def _lerp(a: float | None, b: float | None, fraction: float) -> float | None:
    return None if a is None or b is None else a + (b - a) * fraction


def _heading(a: GeoFix, b: GeoFix, fraction: float, chord_azimuth: float) -> float:
    """Reported headings interpolated on the circle; the chord's azimuth when they disagree.

    Past a 90 degree swing between two fixes (a U-turn at 1 Hz) the shortest arc between
    the reported headings is a guess, while the chord is where the car actually went.
    """
    if a.heading_deg is not None and b.heading_deg is not None:
        turn = (b.heading_deg - a.heading_deg + 180.0) % 360.0 - 180.0
        if abs(turn) <= 90.0:
            return (a.heading_deg + turn * fraction) % 360.0
    return chord_azimuth % 360.0


class DistanceTrigger:
    """Emits a ``TriggerMark`` each time the distance driven crosses a multiple of ``spacing_m``.

    * Distance: with Doppler speed on consecutive fixes, the integral of speed over time
      (an odometer that position jitter cannot lengthen); without, the geodesic (WGS 84)
      from the last counted position (the anchor) to the new fix. Marks are placed on the
      chord from anchor to fix, at the share of the odometer distance. If positions run
      ahead of the speeds for 5 s (a source whose speed field is wrong), the trigger
      measures from positions for good (``speed_trusted`` turns False).
    * Stops and jitter: at rest when the speed is below ``min_speed_mps``, and moving again
      only after two fixes in a row above it (speed noise of a parked receiver); without speed,
      while the fix stays inside a noise radius ``max(min_step_m, 2 * eph_m)`` around the
      anchor, which is averaged while at rest -- so a parked car wandering a few metres
      makes no marks, while a slow creep still adds up once it leaves the radius.
    * Dropouts: if fixes stop for more than ``max_gap_s``, no mark is invented in the gap.
      The odometer bridges it with the straight line (counted in ``gap_distance_m``) and
      numbering resumes at the next multiple, so skipped indices show the hole.
    * Fixes without a fix (mode < 2) or whose time does not increase are ignored and
      counted in ``ignored``. Feed it ``FixFilter``-accepted fixes for jump rejection.
    """

    def __init__(self, spacing_m: float = 4.0, max_gap_s: float = 5.0, *, min_speed_mps: float = 0.5, min_step_m: float = 2.0) -> None:
        for name, value in (("spacing_m", spacing_m), ("max_gap_s", max_gap_s), ("min_step_m", min_step_m)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not (math.isfinite(min_speed_mps) and min_speed_mps >= 0):
            raise ValueError(f"min_speed_mps must be >= 0, got {min_speed_mps}")
        self.spacing_m, self.max_gap_s = spacing_m, max_gap_s
        self.min_speed_mps, self.min_step_m = min_speed_mps, min_step_m
        self.distance_m = 0.0
        self.marks = 0
        self.gaps = 0
        self.gap_distance_m = 0.0
        self.ignored: Counter[str] = Counter()
        self._anchor: GeoFix | None = None  # last counted fix (position averaged while at rest)
        self._segment_start: datetime | None = None  # when the car left the anchor
        self._start_speed: float | None = None  # its speed then
        self._previous: GeoFix | None = None  # last fix taken, for time steps and speeds
        self._rest_fixes = 1
        self._next_index = 1
        self.speed_trusted = True  # False once the source's speeds proved wrong
        self._at_rest = True  # by Doppler; a start needs two moving fixes in a row
        self._pending_m = 0.0  # distance of a first moving fix, until the second confirms it
        self._disagree_since: datetime | None = None

    def update(self, fix: GeoFix) -> list[TriggerMark]:
        """Take one fix; return the marks (possibly several, or none) it completes."""
        if fix.mode < FixMode.FIX_2D:
            self.ignored["no_fix"] += 1
            return []
        previous = self._previous
        if self._anchor is None or previous is None:
            self._restart(fix)
            return []
        dt = seconds_between(previous.time_utc, fix.time_utc)
        if dt <= 0:
            self.ignored["time_not_increasing"] += 1
            return []
        self._previous = fix
        step = geodesic_m(self._anchor, fix)
        if dt > self.max_gap_s:
            self._bridge_gap(fix, step, dt)
            return []
        moved = self._moved(previous, fix, dt, step)
        if moved > 0:
            return self._advance(fix, moved)
        if self._disagree_since is None and self._pending_m == 0.0:  # in doubt: keep the anchor
            self._settle(fix)
        self.ignored["stationary"] += 1
        return []

    def _moved(self, previous: GeoFix, fix: GeoFix, dt: float, step: float) -> float:
        """Metres driven since the anchor, 0 when the car is taken to be at rest.

        With Doppler speeds on both fixes the distance is their integral (position jitter
        neither lengthens the road nor moves a parked car); the position step is used when
        a speed is missing, or when it disagrees so much that the speed must be wrong.
        """
        radius = self._noise_radius(fix)
        if not self.speed_trusted or previous.speed_mps is None or fix.speed_mps is None:
            return step if step > radius else 0.0
        doppler = self._doppler_moved(previous.speed_mps, fix.speed_mps, dt)
        if step <= max(3.0 * doppler, doppler + 2.0 * radius):
            self._disagree_since = None
            return doppler
        # Positions far ahead of the speeds: a multipath excursion lasts a moment, a source
        # whose speed field is wrong (0 while driving) stays wrong. Only the latter switches
        # this trigger to positions for good.
        self._disagree_since = self._disagree_since or fix.time_utc
        if seconds_between(self._disagree_since, fix.time_utc) < _DISTRUST_AFTER_S:
            return doppler
        logger.warning("GNSS speeds disagree with positions for %.0f s: measuring distance from positions", _DISTRUST_AFTER_S)
        self.speed_trusted = False
        return step

    def _doppler_moved(self, v0: float, v1: float, dt: float) -> float:
        """Distance by Doppler for one fix interval, with a two-fix start from rest.

        A parked receiver's speed noise now and then reads above ``min_speed_mps``; one
        such fix is held back (``_pending_m``) and only counted if the next fix moves too.
        """
        interval = (v0 + v1) / 2.0 * dt
        if v1 < self.min_speed_mps:
            if self._at_rest or v0 < self.min_speed_mps:
                self._at_rest, self._pending_m = True, 0.0
                return 0.0
            return interval  # the last interval of a stop still counts
        if self._at_rest and self._pending_m == 0.0:
            self._pending_m = interval
            return 0.0
        moved, self._pending_m, self._at_rest = self._pending_m + interval, 0.0, False
        return moved

    def _noise_radius(self, fix: GeoFix) -> float:
        # eph is a 95 % radius for one fix; twice that keeps a parked car's jitter inside
        # it (the anchor is averaged while parked, so its own noise is small).
        return max(self.min_step_m, 2.0 * (fix.eph_m or 0.0))

    def _settle(self, fix: GeoFix) -> None:
        """At rest: average the anchor over the last fixes so jitter cannot walk it away."""
        assert self._anchor is not None
        self._rest_fixes = min(self._rest_fixes + 1, _REST_WINDOW)
        weight = 1.0 / self._rest_fixes
        d_lon = (fix.lon - self._anchor.lon + 540.0) % 360.0 - 180.0  # across the antimeridian too
        lon = (self._anchor.lon + weight * d_lon + 540.0) % 360.0 - 180.0
        lat = self._anchor.lat + weight * (fix.lat - self._anchor.lat)
        self._anchor = self._anchor.model_copy(update={"lat": lat, "lon": lon})
        # The next motion starts after this instant, from rest (a slow creep inside the
        # radius is then timed a little late; a stop is far more common than a creep).
        self._segment_start, self._start_speed = fix.time_utc, fix.speed_mps

    def _restart(self, fix: GeoFix) -> None:
        self._anchor, self._previous, self._rest_fixes = fix, fix, 1
        self._segment_start, self._start_speed = fix.time_utc, fix.speed_mps

    def _bridge_gap(self, fix: GeoFix, step: float, dt: float) -> None:
        logger.info("GNSS gap of %.1f s (%.0f m): no marks placed in it", dt, step)
        self.gaps += 1
        self.gap_distance_m += step
        self.distance_m += step
        self._next_index = max(self._next_index, math.floor(self.distance_m / self.spacing_m) + 1)
        self._pending_m, self._disagree_since = 0.0, None  # the straight line already covers them
        self._restart(fix)

    def _advance(self, fix: GeoFix, moved: float) -> list[TriggerMark]:
        anchor, start = self._anchor, self._segment_start
        assert anchor is not None and start is not None
        speeds = (self._start_speed, fix.speed_mps) if self.speed_trusted else (None, None)
        segment = _Segment(anchor, fix, start, speeds, moved)
        end = self.distance_m + moved
        marks = []
        # A micrometre of slack: a mark that falls exactly on a fix must not slip to the next.
        while self._next_index * self.spacing_m <= end + 1e-6:
            at = self._next_index * self.spacing_m
            marks.append(TriggerMark(self._next_index, at, *segment.at(at - self.distance_m)))
            self._next_index += 1
        self.distance_m = end
        self.marks += len(marks)
        self._restart(fix)
        return marks


def _time_fraction(fraction: float, v0: float | None, v1: float | None) -> float:
    """Share of the segment's time at which ``fraction`` of its length is covered.

    With both speeds known the car is taken to accelerate uniformly from v0 to v1 (exact for
    constant acceleration; at 1 Hz linear interpolation would be off by tenths of a second).
    """
    if v0 is None or v1 is None or v0 + v1 <= 1e-9:
        return fraction
    root = v0 + math.sqrt(max(0.0, v0 * v0 + fraction * (v1 * v1 - v0 * v0)))
    return min(1.0, max(0.0, fraction * (v0 + v1) / root)) if root > 0 else 0.0


class _Segment:
    """The stretch between the anchor and the new fix, on which marks are interpolated."""

    def __init__(self, a: GeoFix, b: GeoFix, start: datetime, speeds: tuple[float | None, float | None], length: float) -> None:
        self.a, self.b, self.start, self.length = a, b, start, length
        self.v0, self.v1 = speeds
        self.duration = seconds_between(start, b.time_utc)
        self.line = Geodesic.WGS84.InverseLine(a.lat, a.lon, b.lat, b.lon)

    def at(self, along: float) -> tuple[datetime, GeoFix]:
        """Instant and interpolated fix ``along`` metres from the anchor."""
        a, b = self.a, self.b
        fraction = min(1.0, along / self.length) if self.length > 0 else 1.0
        tau = _time_fraction(fraction, self.v0, self.v1)
        when = self.start + timedelta(seconds=self.duration * tau)
        # The odometer (Doppler) and the chord differ a little: place marks by share of each.
        where = self.line.Position(fraction * self.line.s13, Geodesic.STANDARD)
        speed = _lerp(self.v0, self.v1, tau)
        known_eph = [e for e in (a.eph_m, b.eph_m) if e is not None]
        fix = GeoFix(
            lat=where["lat2"],
            lon=where["lon2"],
            time_utc=when,
            mode=min(a.mode, b.mode),
            alt_m=_lerp(a.alt_m, b.alt_m, fraction),
            speed_mps=speed if speed is not None else self.length / self.duration,
            heading_deg=_heading(a, b, fraction, where["azi2"]),
            eph_m=max(known_eph) if known_eph else None,
            hdop=max(a.hdop, b.hdop) if a.hdop is not None and b.hdop is not None else None,
        )
        return when, fix


def trigger_marks(fixes: Iterable[GeoFix], spacing_m: float = 4.0, max_gap_s: float = 5.0, fix_filter: FixFilter | None = None) -> list[TriggerMark]:
    """All marks of a recorded track: each fix through ``fix_filter`` (a new one if None), then the trigger."""
    fix_filter = fix_filter or FixFilter()
    trigger = DistanceTrigger(spacing_m, max_gap_s)
    return [mark for fix in fixes if fix_filter.accept(fix) for mark in trigger.update(fix)]


class FrameMatcher(Generic[T]):
    """Pairs each mark with the frame whose timestamp is nearest the mark's instant.

    Frames (25-30 f/s) arrive in time order through ``offer``; marks arrive through
    ``add_marks``, usually *after* their frames (a mark lies between two fixes, so it is
    known only when the later fix arrives). The matcher therefore keeps the frames of the
    last ``keep_s`` seconds -- keep that short or offer keys rather than pixels. A mark
    resolves as soon as a frame at or after its instant has been seen. A frame is used for
    at most one mark; a mark with no unused frame within ``max_offset_s`` is not matched
    and counted in ``unmatched``.
    """

    def __init__(self, max_offset_s: float = 0.1, *, keep_s: float = 3.0) -> None:
        if not (math.isfinite(max_offset_s) and max_offset_s > 0):
            raise ValueError(f"max_offset_s must be a positive number of seconds, got {max_offset_s}")
        if not (math.isfinite(keep_s) and keep_s >= max_offset_s):
            raise ValueError(f"keep_s must be >= max_offset_s ({max_offset_s}), got {keep_s}")
        self.max_offset_s, self.keep_s = max_offset_s, keep_s
        self.unmatched: Counter[str] = Counter()
        self.matched = 0
        self._times: deque[datetime] = deque()
        self._items: deque[T] = deque()
        self._used: deque[bool] = deque()
        self._pending: list[TriggerMark] = []

    def add_marks(self, marks: Iterable[TriggerMark]) -> None:
        """Queue marks to be matched (any order; they resolve by time)."""
        self._pending.extend(marks)
        self._pending.sort(key=lambda mark: mark.time_utc)

    def offer(self, frame_time_utc: datetime, item: T) -> list[tuple[TriggerMark, T]]:
        """Take the next frame; return the marks this frame resolved, with their frames."""
        if self._times and frame_time_utc < self._times[-1]:
            logger.warning("frame at %s is older than the last one: ignored", frame_time_utc)
            self.unmatched["frame_out_of_order"] += 1
            return []
        self._times.append(frame_time_utc)
        self._items.append(item)
        self._used.append(False)
        resolved = self._resolve(until=frame_time_utc)
        self._forget_before(frame_time_utc - timedelta(seconds=self.keep_s))
        return resolved

    def flush(self) -> list[tuple[TriggerMark, T]]:
        """Resolve every pending mark with the frames seen so far (end of the drive)."""
        return self._resolve(until=None)

    def _resolve(self, until: datetime | None) -> list[tuple[TriggerMark, T]]:
        resolved = []
        while self._pending and (until is None or self._pending[0].time_utc <= until):
            mark = self._pending.pop(0)
            slot = self._nearest_free(mark.time_utc)
            if slot is None:
                self.unmatched["no_frame_near"] += 1
                continue
            self._used[slot] = True
            self.matched += 1
            resolved.append((mark, self._items[slot]))
        return resolved

    def _nearest_free(self, instant: datetime) -> int | None:
        """Index of the unused frame nearest ``instant`` within ``max_offset_s``, if any."""
        right = bisect_left(self._times, instant)
        candidates = []
        for step in (-1, 1):
            i = right if step == 1 else right - 1
            while 0 <= i < len(self._times):
                offset = abs(seconds_between(instant, self._times[i]))
                if offset > self.max_offset_s:
                    break
                if not self._used[i]:
                    candidates.append((offset, i))
                    break
                i += step
        return min(candidates)[1] if candidates else None

    def _forget_before(self, horizon: datetime) -> None:
        # Keep the newest frame even when old: it may still be nearest the next mark.
        while len(self._times) > 1 and self._times[0] < horizon:
            self._times.popleft()
            self._items.popleft()
            self._used.popleft()
