"""GPX tracks (phones, loggers, exported drives) read into fixes and written from them.

GPX 1.0 is written because it keeps ``<speed>`` and ``<course>`` as plain elements (1.1
moved them into extensions); gpxpy reads both versions.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import timezone
from pathlib import Path
from typing import Any

import gpxpy
import gpxpy.gpx

from voirie.capture.gnss.fix import GnssError
from voirie.records import FixMode, GeoFix

logger = logging.getLogger(__name__)

_FIX_TYPES = {"none": FixMode.NO_FIX, "2d": FixMode.FIX_2D, "3d": FixMode.FIX_3D, "dgps": FixMode.FIX_3D}


def _load(path: Path) -> gpxpy.gpx.GPX:
    if not path.is_file():
        raise GnssError(f"GPX file {path} does not exist or is not a file")
    try:
        with path.open("r", encoding="utf-8", errors="replace") as stream:
            return gpxpy.parse(stream)
    except (gpxpy.gpx.GPXException, ValueError) as error:
        raise GnssError(f"GPX file {path} could not be parsed: {error}") from error


def _points(gpx: gpxpy.gpx.GPX) -> list[Any]:
    """Track points, or route points when the file has no track (some tools export routes)."""
    points = [p for track in gpx.tracks for segment in track.segments for p in segment.points]
    return points or [p for route in gpx.routes for p in route.points]


def _to_fix(point: Any) -> GeoFix:
    when = point.time if point.time.tzinfo else point.time.replace(tzinfo=timezone.utc)  # GPX times are UTC
    mode = _FIX_TYPES.get(str(point.type_of_gpx_fix or "").lower())
    if mode is None:
        mode = FixMode.FIX_3D if point.elevation is not None else FixMode.FIX_2D
    course = getattr(point, "course", None)
    return GeoFix(
        lat=point.latitude,
        lon=point.longitude,
        time_utc=when.astimezone(timezone.utc),
        mode=mode,
        alt_m=point.elevation,
        speed_mps=point.speed,
        heading_deg=None if course is None else float(course) % 360.0,
        hdop=point.horizontal_dilution,
    )


class GpxReader(Iterator[GeoFix]):
    """Iterates the fixes of one GPX file; ``skipped`` counts points left out and why.

    Reasons: ``no_time`` (a point without ``<time>``), ``invalid_fix`` (out of range or not
    finite). A file with no timed point raises ``GnssError`` naming it, at once.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        points = _points(_load(self.path))
        if not points:
            raise GnssError(f"GPX file {self.path} has no track or route points")
        if all(p.time is None for p in points):
            raise GnssError(f"GPX file {self.path} has {len(points)} points but none has a <time>: cannot place them in time")
        self.skipped: Counter[str] = Counter()
        self.fixes = 0
        self._iterator = self._generate(points)

    def __iter__(self) -> GpxReader:
        return self

    def __next__(self) -> GeoFix:
        return next(self._iterator)

    def _generate(self, points: list[Any]) -> Iterator[GeoFix]:
        for point in points:
            if point.time is None:
                self.skipped["no_time"] += 1
                continue
            try:
                fix = _to_fix(point)
            except (ValueError, TypeError) as error:
                logger.debug("%s: point dropped: %s", self.path, error)
                self.skipped["invalid_fix"] += 1
                continue
            self.fixes += 1
            yield fix


def read_gpx(path: str | Path) -> GpxReader:
    """Fixes of a GPX file's tracks (or routes); a GPX without times raises ``GnssError``."""
    return GpxReader(path)


def write_gpx(fixes: Iterable[GeoFix], path: str | Path, name: str = "voirie drive") -> None:
    """Write ``fixes`` as one GPX 1.0 track with time, elevation, speed, course, fix and hdop."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack(name=name)
    segment = gpxpy.gpx.GPXTrackSegment()
    gpx.tracks.append(track)
    track.segments.append(segment)
    for fix in fixes:
        point = gpxpy.gpx.GPXTrackPoint(
            fix.lat, fix.lon, elevation=fix.alt_m, time=fix.time_utc, speed=fix.speed_mps, horizontal_dilution=fix.hdop
        )
        point.course = fix.heading_deg
        point.type_of_gpx_fix = {FixMode.FIX_2D: "2d", FixMode.FIX_3D: "3d"}.get(fix.mode, "none")
        segment.points.append(point)
    Path(path).write_text(gpx.to_xml(version="1.0"), encoding="utf-8")
