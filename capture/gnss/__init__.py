"""GNSS input for the survey car: files (NMEA 0183, GPX), a live gpsd, and the fix filter.

Everything yields ``voirie.records.GeoFix``. Run every fix through a ``FixFilter`` before
the ``DistanceTrigger`` (``voirie.capture.trigger``). The names below are the package's
API: ``fix`` (filter, errors, distances), ``nmea``, ``gpx``, ``sources`` (track files by
content, gpsd); ``check``, ``plot`` and ``sim`` are tools for ``voirie gnss`` and tests.
"""

from voirie.capture.gnss.fix import REJECT_REASONS, FixFilter, GnssError, geodesic_m
from voirie.capture.gnss.gpx import GpxReader, read_gpx, write_gpx
from voirie.capture.gnss.nmea import NmeaReader, nmea_sentences, read_nmea, write_nmea
from voirie.capture.gnss.sources import GpsdSource, read_track, tpv_to_fix

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
    "tpv_to_fix",
    "read_nmea",
    "write_gpx",
    "write_nmea",
]
