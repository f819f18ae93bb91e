"""What ``voirie gnss check`` reports about a track file: fixes, rejections, length, marks."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from voirie.capture.gnss import FixFilter, geodesic_m, read_track
from voirie.capture.trigger import DistanceTrigger
from voirie.records import GeoFix

logger = logging.getLogger(__name__)


@dataclass
class TrackSummary:
    """One track file, read through the fix filter and a distance trigger."""

    path: Path
    format: str
    fixes_read: int = 0
    accepted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # by the reader (bad lines/points)
    rejected: Counter[str] = field(default_factory=Counter)  # by FixFilter
    length_m: float = 0.0  # distance driven, by the trigger's odometer (jitter-proof)
    path_m: float = 0.0  # sum of geodesic steps between accepted fixes (jitter adds to it)
    duration_s: float = 0.0
    marks: int = 0
    spacing_m: float = 4.0
    gaps: int = 0
    first_fix: GeoFix | None = None
    last_fix: GeoFix | None = None
    # Filled only when asked (``collect=True``), for the picture: (lat, lon) pairs.
    track: list[tuple[float, float]] = field(default_factory=list)
    mark_points: list[tuple[float, float]] = field(default_factory=list)
    rejected_points: list[tuple[float, float]] = field(default_factory=list)
    gap_segments: list[tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=list)

    @property
    def mean_speed_kmh(self) -> float | None:
        return self.length_m / self.duration_s * 3.6 if self.duration_s > 0 else None


def check_track(path: str | Path, spacing_m: float = 4.0, max_gap_s: float = 5.0, collect: bool = False) -> TrackSummary:
    """Read ``path`` (NMEA or GPX) and measure it; raises ``GnssError`` when it has no fix.

    ``collect`` keeps the positions of fixes, marks, rejections and gaps for ``plot_track``.
    """
    reader = read_track(path)
    summary = TrackSummary(Path(path), type(reader).__name__.removesuffix("Reader").upper(), spacing_m=spacing_m)
    fix_filter, trigger = FixFilter(), DistanceTrigger(spacing_m, max_gap_s)
    for fix in reader:
        summary.fixes_read += 1
        if not fix_filter.accept(fix):
            if collect:
                summary.rejected_points.append((fix.lat, fix.lon))
            continue
        gaps_before, marks = trigger.gaps, trigger.update(fix)
        if summary.last_fix is not None:
            summary.path_m += geodesic_m(summary.last_fix, fix)
            if collect and trigger.gaps > gaps_before:
                summary.gap_segments.append(((summary.last_fix.lat, summary.last_fix.lon), (fix.lat, fix.lon)))
        if collect:
            summary.track.append((fix.lat, fix.lon))
            summary.mark_points.extend((m.fix.lat, m.fix.lon) for m in marks)
        summary.first_fix = summary.first_fix or fix
        summary.last_fix = fix
        summary.marks += len(marks)
    summary.accepted = fix_filter.accepted
    summary.skipped = Counter(reader.skipped)
    summary.rejected = Counter(fix_filter.rejected)
    summary.gaps = trigger.gaps
    summary.length_m = trigger.distance_m
    if summary.first_fix is not None and summary.last_fix is not None:
        summary.duration_s = (summary.last_fix.time_utc - summary.first_fix.time_utc).total_seconds()
    return summary
