"""What every GNSS source shares: the error type and the filter that rejects bad fixes.

Kept apart from ``gnss.py`` so the NMEA and GPX readers can import it without a cycle;
use the names re-exported by ``voirie.capture.gnss`` (its ``__init__``).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from datetime import datetime

from geographiclib.geodesic import Geodesic

from voirie.records import FixMode, GeoFix

logger = logging.getLogger(__name__)

# The reasons FixFilter counts, in the order they are checked.
REJECT_REASONS = ("not_finite", "no_fix", "time_backwards", "duplicate_time", "jump")
# After this many jumps in a row the *reference* is more likely wrong than the new fixes
# (a bad first fix, or a long tunnel): start again from the current fix.
_REANCHOR_AFTER_JUMPS = 5


class GnssError(ValueError):
    """A GNSS file or source could not be used: names the file/source and what was wrong."""


def geodesic_m(a: GeoFix, b: GeoFix) -> float:
    """Distance in metres between two fixes on the WGS 84 ellipsoid."""
    return float(Geodesic.WGS84.Inverse(a.lat, a.lon, b.lat, b.lon, Geodesic.DISTANCE)["s12"])


def seconds_between(earlier: datetime, later: datetime) -> float:
    """``later - earlier`` in seconds (negative when time went backwards)."""
    return (later - earlier).total_seconds()


def _finite(fix: GeoFix) -> bool:
    # GeoFix refuses NaN when validated, but model_construct() and sources that build
    # records by hand bypass validation: check again rather than trust the type.
    values = (fix.lat, fix.lon, fix.alt_m, fix.speed_mps, fix.heading_deg, fix.eph_m, fix.hdop)
    try:
        return all(v is None or math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


class FixFilter:
    """Rejects fixes that would corrupt distances or times, counting each reason.

    Checked in order: ``not_finite`` (a NaN/inf field), ``no_fix`` (mode < 2),
    ``time_backwards`` and ``duplicate_time`` (against the last accepted fix), ``jump``
    (implied speed from the last accepted fix above ``max_speed_mps``). A rejected fix
    never becomes the reference, so one outlier does not reject the good fixes after it;
    after five jumps in a row the filter re-anchors on the current fix (``reanchored``
    counts how often), so a bad *first* fix cannot reject a whole drive.
    """

    def __init__(self, max_speed_mps: float = 70.0) -> None:
        if not (math.isfinite(max_speed_mps) and max_speed_mps > 0):
            raise ValueError(f"max_speed_mps must be a positive number, got {max_speed_mps}")
        self.max_speed_mps = max_speed_mps
        self.rejected: Counter[str] = Counter()
        self.accepted = 0
        self.reanchored = 0
        self._last: GeoFix | None = None
        self._jumps_in_row = 0

    def accept(self, fix: GeoFix) -> bool:
        """True when ``fix`` is usable; otherwise count the reason and return False."""
        reason = self._reason(fix)
        if reason == "jump" and self._jumps_in_row + 1 >= _REANCHOR_AFTER_JUMPS:
            logger.warning("%d position jumps in a row: re-anchoring on the fix at %s", _REANCHOR_AFTER_JUMPS, fix.time_utc)
            self.reanchored += 1
            reason = None
        if reason is not None:
            self.rejected[reason] += 1
            self._jumps_in_row = self._jumps_in_row + 1 if reason == "jump" else self._jumps_in_row
            logger.debug("fix at %s rejected: %s", getattr(fix, "time_utc", "?"), reason)
            return False
        self._last = fix
        self._jumps_in_row = 0
        self.accepted += 1
        return True

    def _reason(self, fix: GeoFix) -> str | None:
        if not _finite(fix):
            return "not_finite"
        if fix.mode < FixMode.FIX_2D:
            return "no_fix"
        if self._last is None:
            return None
        dt = seconds_between(self._last.time_utc, fix.time_utc)
        if dt < 0:
            return "time_backwards"
        if dt == 0:
            return "duplicate_time"
        if geodesic_m(self._last, fix) / dt > self.max_speed_mps:
            return "jump"
        return None
