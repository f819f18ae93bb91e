"""GNSS sources: a track file told apart by content (``read_track``) and a live gpsd (``GpsdSource``).

Sources never raise on one bad sentence or point: they count it (``skipped``) and go on;
a source that yields no usable fix at all raises ``GnssError`` naming the file or the
gpsd address.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gpsd

from voirie.capture.gnss.fix import GnssError
from voirie.capture.gnss.gpx import GpxReader, read_gpx
from voirie.capture.gnss.nmea import NmeaReader, read_nmea
from voirie.records import FixMode, GeoFix

logger = logging.getLogger(__name__)



def read_track(path: str | Path) -> NmeaReader | GpxReader:
    """Fixes of an NMEA or GPX file, told apart by content (extensions lie)."""
    path = Path(path)
    if not path.is_file():
        raise GnssError(f"track file {path} does not exist or is not a file")
    with path.open("rb") as stream:
        head = stream.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return read_gpx(path)
    return read_nmea(path)


# gpsd-py3 only asks for a WATCH without JSON and then polls the last TPV, which misses
# epochs at 10 Hz; after its handshake we ask for the JSON stream and read every TPV.
_WATCH_JSON = '?WATCH={"enable":true,"json":true}\n'


def tpv_to_fix(tpv: dict[str, Any]) -> GeoFix:
    """One gpsd TPV report (JSON object) to a ``GeoFix``; raises ValueError/KeyError if unusable."""
    when = datetime.fromisoformat(str(tpv["time"]).replace("Z", "+00:00")).astimezone(timezone.utc)
    mode = FixMode(int(tpv.get("mode", 0)))
    eph = tpv.get("eph")
    if eph is None and tpv.get("epx") is not None and tpv.get("epy") is not None:
        eph = math.hypot(float(tpv["epx"]), float(tpv["epy"]))
    # gpsd >= 3.20 splits altitude into altMSL/altHAE; older ones send alt.
    alt = next((tpv[key] for key in ("altMSL", "alt", "altHAE") if tpv.get(key) is not None), None)
    track = tpv.get("track")
    return GeoFix(
        lat=float(tpv["lat"]),
        lon=float(tpv["lon"]),
        time_utc=when,
        mode=mode,
        alt_m=float(alt) if alt is not None and mode >= FixMode.FIX_3D else None,
        speed_mps=None if tpv.get("speed") is None else float(tpv["speed"]),
        heading_deg=None if track is None else float(track) % 360.0,
        eph_m=None if eph is None else float(eph),
    )


class GpsdSource:
    """Live fixes from a real gpsd, connected through the gpsd-py3 package.

    ``gpsd.connect(host, port)`` does the handshake; then the source asks gpsd for its
    JSON stream and yields every TPV with a fix, once per epoch (by GPS time). gpsd-py3
    keeps one connection per process in module globals: use one ``GpsdSource`` at a time.
    ``skipped`` counts reports that gave no fix: ``no_fix`` (TPV mode < 2),
    ``invalid_fix`` (a field out of range), ``unparseable`` (not JSON).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 2947) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"gpsd port must be 1..65535, got {port}")
        self.host, self.port = host, port
        self.skipped: Counter[str] = Counter()

    @property
    def address(self) -> str:
        return f"gpsd at {self.host}:{self.port}"

    def _connect(self, read_timeout_s: float | None) -> None:
        try:
            gpsd.connect(host=self.host, port=self.port)
            # A dead gpsd must not hang the survey: every read is bounded.
            gpsd.gpsd_socket.settimeout(read_timeout_s)
            gpsd.gpsd_stream.write(_WATCH_JSON)
            gpsd.gpsd_stream.flush()
        except (OSError, ValueError) as error:
            raise GnssError(f"cannot connect to {self.address}: {error}") from error
        except Exception as error:  # gpsd-py3 raises bare Exception for a non-gpsd server
            raise GnssError(f"{self.address} did not answer as gpsd 3: {error}") from error

    def _reports(self) -> Iterator[dict[str, Any]]:
        """gpsd's JSON reports, one per line; ends (TimeoutError) when gpsd goes quiet."""
        while True:
            try:
                line = gpsd.gpsd_stream.readline()
            except TimeoutError:
                raise
            except OSError as error:
                raise GnssError(f"{self.address} stopped answering: {error}") from error
            if not line:
                raise GnssError(f"{self.address} closed the connection")
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                self.skipped["unparseable"] += 1
                continue
            if isinstance(report, dict):
                yield report

    def fixes(self, timeout_s: float | None = None, *, first_fix_timeout_s: float | None = None) -> Iterator[GeoFix]:
        """Yield each new fix (mode >= 2) as gpsd reports it.

        Ends when no new fix came for ``timeout_s`` seconds (None: never); the wait for
        the first fix may be longer (``first_fix_timeout_s``, default ``timeout_s``): a
        receiver needs a while to lock. Raises ``GnssError`` when gpsd cannot be reached,
        closes the connection or fails.
        """
        wait = first_fix_timeout_s if first_fix_timeout_s is not None else timeout_s
        self._connect(wait)
        last_time, last_new = None, time.monotonic()
        try:
            for report in self._reports():
                if wait is not None and time.monotonic() - last_new > wait:
                    return
                fix = self._fix_from(report, last_time)
                if fix is None:
                    continue
                if last_time is None:  # from now on, silence is timed by timeout_s
                    wait = timeout_s
                    gpsd.gpsd_socket.settimeout(timeout_s)
                last_time, last_new = report["time"], time.monotonic()
                yield fix
        except TimeoutError:
            return  # nothing at all from gpsd for the whole timeout
        finally:
            _close_gpsd()

    def _fix_from(self, report: dict[str, Any], last_time: str | None) -> GeoFix | None:
        """The report's fix when it is a TPV of a new epoch with a fix, else None (counted)."""
        if report.get("class") != "TPV":
            return None
        if int(report.get("mode", 0)) < FixMode.FIX_2D:
            self.skipped["no_fix"] += 1
            return None
        if report.get("time") in (None, last_time):  # gpsd may report an epoch twice
            return None
        try:
            return tpv_to_fix(report)
        except (ValueError, KeyError, TypeError) as error:
            logger.debug("%s: TPV dropped: %s", self.address, error)
            self.skipped["invalid_fix"] += 1
            return None


def _close_gpsd() -> None:
    try:
        if gpsd.gpsd_socket is not None:
            gpsd.gpsd_socket.close()
    except OSError:
        pass
    gpsd.gpsd_socket = gpsd.gpsd_stream = None
