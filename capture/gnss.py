"""GNSS input for the survey car: files (NMEA 0183, GPX), a live gpsd, and the fix filter.

Everything yields ``voirie.records.GeoFix``. Sources never raise on one bad sentence or
point: they count it (``skipped``) and go on; a source that yields no usable fix at all
raises ``GnssError`` naming the file or the gpsd address. Run every fix through a
``FixFilter`` before the ``DistanceTrigger`` (``voirie.capture.trigger``).
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gpsd

from voirie.capture.gnss_fix import REJECT_REASONS, FixFilter, GnssError, geodesic_m
from voirie.capture.gnss_gpx import GpxReader, read_gpx, write_gpx
from voirie.capture.gnss_nmea import NmeaReader, nmea_sentences, read_nmea, write_nmea
from voirie.records import FixMode, GeoFix

logger = logging.getLogger(__name__)

__all__ = [
    "REJECT_REASONS",
    "FixFilter",
    "GnssError",
    "GpsdSource",
    "GpxReader",
    "NmeaReader",
    "geodesic_m",
    "nmea_sentences",
    "read_gpx",
    "read_track",
    "read_nmea",
    "write_gpx",
    "write_nmea",
]


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


def _tpv_to_fix(response: Any) -> GeoFix:
    """A gpsd-py3 ``GpsResponse`` (the last TPV) to a ``GeoFix``; raises ValueError if unusable."""
    when = datetime.fromisoformat(str(response.time).replace("Z", "+00:00")).astimezone(timezone.utc)
    epx, epy = float(response.error.get("x") or 0.0), float(response.error.get("y") or 0.0)
    track = float(response.track)
    return GeoFix(
        lat=float(response.lat),
        lon=float(response.lon),
        time_utc=when,
        mode=FixMode(int(response.mode)),
        alt_m=float(response.alt) if response.mode >= FixMode.FIX_3D else None,
        speed_mps=float(response.hspeed),
        heading_deg=track % 360.0 if math.isfinite(track) else None,
        # gpsd-py3 exposes the per-axis 95 % errors (epx, epy); 0 means "not reported".
        eph_m=math.hypot(epx, epy) if epx > 0 and epy > 0 else None,
    )


class GpsdSource:
    """Live fixes from a real gpsd through the gpsd-py3 package (``gpsd.connect(host, port)``).

    gpsd-py3 polls (``?POLL``) for the latest TPV, so ``fixes`` polls every
    ``poll_interval_s`` and yields each new epoch once (by its GPS time). gpsd-py3 keeps one
    connection per process in module globals: use one ``GpsdSource`` at a time.
    ``skipped`` counts polls that gave no usable fix (``no_fix``, ``invalid_fix``,
    ``not_active`` while gpsd has no device, ``unexpected_message``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 2947, poll_interval_s: float = 0.02) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"gpsd port must be 1..65535, got {port}")
        if not 0 < poll_interval_s <= 1:
            raise ValueError(f"poll_interval_s must be in (0, 1] seconds, got {poll_interval_s}")
        self.host, self.port, self.poll_interval_s = host, port, poll_interval_s
        self.skipped: Counter[str] = Counter()

    @property
    def address(self) -> str:
        return f"gpsd at {self.host}:{self.port}"

    def _connect(self, timeout_s: float | None) -> None:
        try:
            gpsd.connect(host=self.host, port=self.port)
        except (OSError, ValueError) as error:
            raise GnssError(f"cannot connect to {self.address}: {error}") from error
        except Exception as error:  # gpsd-py3 raises bare Exception for a non-gpsd server
            raise GnssError(f"{self.address} did not answer as gpsd 3: {error}") from error
        # A dead gpsd must not hang the survey: bound every read.
        gpsd.gpsd_socket.settimeout(max(2.0, timeout_s or 5.0))

    def _poll(self) -> Any | None:
        """One ``?POLL``: the response, or None when gpsd has nothing usable yet."""
        try:
            return gpsd.get_current()
        except UserWarning:  # gpsd has no active device yet
            self.skipped["not_active"] += 1
        except (socket.timeout, OSError) as error:
            raise GnssError(f"{self.address} stopped answering: {error}") from error
        except json.JSONDecodeError as error:
            raise GnssError(f"{self.address} closed the connection or sent garbage: {error}") from error
        except (KeyError, IndexError):
            self.skipped["no_fix"] += 1  # a POLL before the first TPV has empty lists
        except Exception as error:  # gpsd-py3's "Unexpected message" (DEVICE/WATCH interleaved)
            logger.debug("%s: %s", self.address, error)
            self.skipped["unexpected_message"] += 1
        return None

    def fixes(self, timeout_s: float | None = None, *, first_fix_timeout_s: float | None = None) -> Iterator[GeoFix]:
        """Yield each new fix (mode >= 2) as gpsd reports it.

        Ends when no new fix came for ``timeout_s`` seconds (None: never); the wait for
        the first fix may be longer (``first_fix_timeout_s``, default ``timeout_s``): a
        receiver needs a while to lock. Raises ``GnssError`` when gpsd cannot be reached
        or stops answering.
        """
        self._connect(timeout_s)
        last_time: str | None = None
        last_new = time.monotonic()
        wait = first_fix_timeout_s if first_fix_timeout_s is not None else timeout_s
        try:
            while wait is None or time.monotonic() - last_new < wait:
                response = self._poll()
                if response is not None and response.mode >= FixMode.FIX_2D and response.time != last_time:
                    last_time = response.time
                    try:
                        fix = _tpv_to_fix(response)
                    except (ValueError, TypeError) as error:
                        logger.debug("%s: TPV dropped: %s", self.address, error)
                        self.skipped["invalid_fix"] += 1
                    else:
                        last_new, wait = time.monotonic(), timeout_s
                        yield fix
                        continue
                elif response is not None and response.mode < FixMode.FIX_2D:
                    self.skipped["no_fix"] += 1  # polls, not epochs: gpsd repeats the last TPV
                time.sleep(self.poll_interval_s)
        finally:
            _close_gpsd()


def _close_gpsd() -> None:
    try:
        if gpsd.gpsd_socket is not None:
            gpsd.gpsd_socket.close()
    except OSError:
        pass
    gpsd.gpsd_socket = gpsd.gpsd_stream = None
