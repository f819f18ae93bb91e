"""NMEA 0183 logs: read RMC + GGA (with GSA and GST when present) into fixes, and write them.

A receiver sends several sentences per epoch (one position solution); they share the
UTC time of day, so the reader groups sentences by that time and makes one ``GeoFix`` per
epoch. Bad lines (checksum errors, unparseable text) are counted in ``NmeaReader.skipped``
and the good lines around them are kept: a log from a real car always has a few.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pynmea2

from voirie.capture.gnss.fix import GnssError
from voirie.records import FixMode, GeoFix

logger = logging.getLogger(__name__)

KNOT_MPS = 1852.0 / 3600.0
_USED_SENTENCES = {"RMC", "GGA", "GSA", "GST"}


@dataclass
class _Epoch:
    """The sentences of one epoch, by type (GSA has no time: it joins the open epoch)."""

    time_of_day: Any
    sentences: dict[str, Any] = field(default_factory=dict)


class NmeaReader(Iterator[GeoFix]):
    """Iterates the fixes of one NMEA file; ``skipped`` counts what was left out and why.

    Reasons: ``checksum`` (a sentence whose checksum does not match), ``unparseable``
    (not an NMEA sentence, or a field that cannot be read), ``no_date`` (an epoch before
    the first RMC: GGA carries no date), ``no_position``, ``invalid_fix`` (out of range or
    not finite). Epochs without a fix (RMC status V, GGA quality 0) are yielded with mode
    ``NO_FIX`` when they carry a position, so ``FixFilter`` counts them as ``no_fix``.
    A file with no fix at all raises ``GnssError`` at the end of the iteration.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise GnssError(f"NMEA file {self.path} does not exist or is not a file")
        self.skipped: Counter[str] = Counter()
        self.lines = 0
        self.fixes = 0  # epochs yielded with at least a 2D fix
        self._last_date: date | None = None
        self._last_time: Any = None
        self._iterator = self._generate()

    def __iter__(self) -> NmeaReader:
        return self

    def __next__(self) -> GeoFix:
        return next(self._iterator)

    def _generate(self) -> Iterator[GeoFix]:
        epoch: _Epoch | None = None
        with self.path.open("r", encoding="ascii", errors="replace") as stream:
            for line in stream:
                message = self._parse(line)
                if message is None:
                    continue
                kind = message.sentence_type
                if kind == "GSA":
                    if epoch is not None:
                        epoch.sentences.setdefault(kind, message)
                    continue
                time_of_day = message.timestamp
                if epoch is None or time_of_day != epoch.time_of_day:
                    yield from self._finish(epoch)
                    epoch = _Epoch(time_of_day)
                epoch.sentences.setdefault(kind, message)
        yield from self._finish(epoch)
        if self.fixes == 0:
            raise GnssError(self._no_fix_message())

    def _parse(self, line: str) -> Any:
        """One line to a pynmea2 sentence we use, or None (counted when it is bad)."""
        line = line.strip()
        if not line:
            return None
        self.lines += 1
        try:
            message = pynmea2.parse(line, check=False)
            if message.sentence_type not in _USED_SENTENCES:
                return None
            # pynmea2 hands back the raw text when a field does not parse: check the type.
            if message.sentence_type != "GSA" and not isinstance(message.timestamp, time):
                raise ValueError(f"bad time of day {message.timestamp!r}")
            return message
        except pynmea2.ChecksumError:
            self.skipped["checksum"] += 1
        except (pynmea2.ParseError, ValueError, TypeError, AttributeError) as error:
            logger.debug("%s: unparseable line %r: %s", self.path, line[:80], error)
            self.skipped["unparseable"] += 1
        return None

    def _finish(self, epoch: _Epoch | None) -> Iterator[GeoFix]:
        if epoch is None or not ({"RMC", "GGA"} & epoch.sentences.keys()):
            return
        try:
            fix = self._to_fix(epoch)
        except (ValueError, TypeError, AttributeError) as error:
            logger.debug("%s: epoch %s dropped: %s", self.path, epoch.time_of_day, error)
            self.skipped["invalid_fix"] += 1
            return
        if fix is None:
            return
        if fix.mode >= FixMode.FIX_2D:
            self.fixes += 1
        yield fix

    def _to_fix(self, epoch: _Epoch) -> GeoFix | None:
        rmc, gga = epoch.sentences.get("RMC"), epoch.sentences.get("GGA")
        gsa, gst = epoch.sentences.get("GSA"), epoch.sentences.get("GST")
        day = self._date_for(rmc, epoch.time_of_day)
        if day is None:
            self.skipped["no_date"] += 1
            return None
        position = gga if gga is not None and gga.lat else rmc
        if position is None or not position.lat or not position.lon:
            self.skipped["no_position"] += 1
            return None
        speed = rmc.spd_over_grnd * KNOT_MPS if rmc is not None and rmc.spd_over_grnd is not None else None
        course = rmc.true_course % 360.0 if rmc is not None and rmc.true_course is not None else None
        return GeoFix(
            lat=position.latitude,
            lon=position.longitude,
            time_utc=datetime.combine(day, epoch.time_of_day).replace(tzinfo=timezone.utc),
            mode=_mode(rmc, gga, gsa),
            alt_m=gga.altitude if gga is not None else None,
            speed_mps=speed,
            heading_deg=course,
            eph_m=_eph_from_gst(gst),
            hdop=_float_or_none(gga.horizontal_dil if gga is not None else getattr(gsa, "hdop", None)),
        )

    def _date_for(self, rmc: Any, time_of_day: Any) -> date | None:
        """The epoch's date: RMC's, else the last one seen, rolled over at midnight."""
        if rmc is not None and isinstance(rmc.datestamp, date):
            self._last_date = rmc.datestamp
        elif self._last_date is not None and self._last_time is not None and time_of_day < self._last_time:
            self._last_date += timedelta(days=1)  # GGA-only epoch after midnight
        self._last_time = time_of_day
        return self._last_date

    def _no_fix_message(self) -> str:
        if self.lines == 0:
            return f"NMEA file {self.path} is empty: no sentences"
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none skipped"
        return f"NMEA file {self.path} has no GNSS fix in {self.lines} lines (mode >= 2 never seen; {skipped})"


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _mode(rmc: Any, gga: Any, gsa: Any) -> FixMode:
    if (rmc is not None and rmc.status != "A") or (gga is not None and not int(gga.gps_qual or 0)):
        return FixMode.NO_FIX
    if gsa is not None and str(gsa.mode_fix_type).strip() in {"1", "2", "3"}:
        return FixMode(int(gsa.mode_fix_type))
    return FixMode.FIX_3D if gga is not None and gga.altitude is not None else FixMode.FIX_2D


def _eph_from_gst(gst: Any) -> float | None:
    """GST gives 1-sigma errors per axis; 2DRMS (about 95 %) matches GeoFix.eph_m."""
    if gst is None:
        return None
    sigma_lat, sigma_lon = _float_or_none(gst.std_dev_latitude), _float_or_none(gst.std_dev_longitude)
    if sigma_lat is None or sigma_lon is None:
        return None
    return 2.0 * math.hypot(sigma_lat, sigma_lon)


def read_nmea(path: str | Path) -> NmeaReader:
    """Fixes of an NMEA 0183 log, one per epoch; see ``NmeaReader`` for what is skipped."""
    return NmeaReader(path)


def _angle(value: float, degree_digits: int) -> str:
    """Degrees to NMEA ``(d)ddmm.mmmmmm`` without ever printing 60 minutes."""
    micro_minutes = round(abs(value) * 60_000_000)
    degrees, rest = divmod(micro_minutes, 60_000_000)
    return f"{degrees:0{degree_digits}d}{rest // 1_000_000:02d}.{rest % 1_000_000:06d}"


def nmea_sentences(fix: GeoFix) -> list[str]:
    """RMC + GGA (+ GST when ``eph_m`` is known) for one fix, with valid checksums."""
    # Round to the centisecond NMEA carries first, so RMC and GGA agree to the digit.
    when = datetime.fromtimestamp(round(fix.time_utc.timestamp() * 100) / 100, timezone.utc)
    hhmmss = when.strftime("%H%M%S.") + f"{when.microsecond // 10_000:02d}"
    lat = (_angle(fix.lat, 2), "N" if fix.lat >= 0 else "S")
    lon = (_angle(fix.lon, 3), "E" if fix.lon >= 0 else "W")
    has_fix = fix.mode >= FixMode.FIX_2D
    speed = "" if fix.speed_mps is None else f"{fix.speed_mps / KNOT_MPS:.3f}"
    course = "" if fix.heading_deg is None else f"{fix.heading_deg:.2f}"
    rmc = pynmea2.RMC("GP", "RMC", (hhmmss, "A" if has_fix else "V", *lat, *lon, speed, course, when.strftime("%d%m%y"), "", ""))
    alt = "" if fix.alt_m is None else f"{fix.alt_m:.2f}"
    hdop = "" if fix.hdop is None else f"{fix.hdop:.2f}"
    # GeoFix has no satellite count, but gpsd reads an empty one as "no fix": write the
    # fewest satellites the mode needs (3 for 2D, 4 for 3D).
    satellites = {FixMode.FIX_2D: "03", FixMode.FIX_3D: "04"}.get(fix.mode, "00")
    quality = "1" if has_fix else "0"
    gga = pynmea2.GGA("GP", "GGA", (hhmmss, *lat, *lon, quality, satellites, hdop, alt, "M" if alt else "", "", "", "", ""))
    sentences = [str(rmc), str(gga)]
    if fix.eph_m is not None:
        sigma = f"{fix.eph_m / (2.0 * math.sqrt(2.0)):.3f}"
        sentences.append(str(pynmea2.GST("GP", "GST", (hhmmss, "", "", "", "", sigma, sigma, ""))))
    return sentences


def write_nmea(fixes: Iterable[GeoFix], path: str | Path) -> None:
    """Write ``fixes`` as an NMEA 0183 log (CRLF line ends, as a receiver sends them)."""
    path = Path(path)
    with path.open("w", encoding="ascii", newline="") as stream:
        for fix in fixes:
            for sentence in nmea_sentences(fix):
                stream.write(sentence + "\r\n")
