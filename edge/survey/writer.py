"""Geotagged output of kept survey frames: EXIF-tagged JPEGs and ``records.jsonl``.

Only an ``AnonymizedFrame`` can be written -- raw ``Frame`` pixels are refused with a
``TypeError`` -- so nothing un-blurred reaches the disk through this module. Each JPEG
carries its position in standard EXIF GPS tags (latitude, longitude, altitude, GPS date
and time, image direction, speed) so any photo tool or GIS places it on a map; the
``FrameRecord`` (the sync format) goes as one JSON line into ``records.jsonl``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

from PIL import ExifTags, Image

from voirie.anonymize.jpeg import encode_jpeg, verify_anonymized, write_jpeg
from voirie.records import AnonymizedFrame, FrameRecord, GeoFix

logger = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
IMAGES_DIR = "images"


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    """Degrees as EXIF (degrees, minutes, seconds) rationals, 1/10000 s resolution."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction(round((value - degrees - minutes / 60) * 3600 * 10000), 10000)
    return Fraction(degrees), Fraction(minutes), seconds


def gps_ifd(fix: GeoFix) -> dict[int, object]:
    """The EXIF GPS IFD of ``fix`` (tag number -> value), as Pillow writes it."""
    tags = ExifTags.GPS
    when = fix.time_utc.astimezone(timezone.utc)
    ifd: dict[int, object] = {
        tags.GPSVersionID: b"\x02\x03\x00\x00",
        tags.GPSLatitudeRef: "N" if fix.lat >= 0 else "S",
        tags.GPSLatitude: _dms(fix.lat),
        tags.GPSLongitudeRef: "E" if fix.lon >= 0 else "W",
        tags.GPSLongitude: _dms(fix.lon),
        tags.GPSTimeStamp: (Fraction(when.hour), Fraction(when.minute),
                            Fraction(round((when.second + when.microsecond / 1e6) * 1000), 1000)),
        tags.GPSDateStamp: when.strftime("%Y:%m:%d"),
        tags.GPSMapDatum: "WGS-84",
    }
    if fix.alt_m is not None:
        ifd[tags.GPSAltitudeRef] = b"\x00" if fix.alt_m >= 0 else b"\x01"
        ifd[tags.GPSAltitude] = Fraction(round(abs(fix.alt_m) * 100), 100)
    if fix.heading_deg is not None:  # a forward camera looks where the car goes
        for ref, value in ((tags.GPSImgDirectionRef, tags.GPSImgDirection), (tags.GPSTrackRef, tags.GPSTrack)):
            ifd[ref] = "T"
            ifd[value] = Fraction(round(fix.heading_deg * 100), 100)
    if fix.speed_mps is not None:
        ifd[tags.GPSSpeedRef] = "K"
        ifd[tags.GPSSpeed] = Fraction(round(fix.speed_mps * 3.6 * 100), 100)
    if fix.hdop is not None:
        ifd[tags.GPSDOP] = Fraction(round(fix.hdop * 100), 100)
    return ifd


def read_gps(path: str | Path) -> dict[str, object]:
    """Read back the GPS tags of a JPEG as plain values: lat, lon, alt_m, heading_deg, speed_mps, time_utc."""
    with Image.open(path) as image:
        gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    tags = ExifTags.GPS
    if tags.GPSLatitude not in gps:
        raise ValueError(f"{path} has no EXIF GPS position")

    def degrees(dms, ref: str) -> float:
        value = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
        return -value if ref in ("S", "W") else value

    h, m, s = (float(v) for v in gps[tags.GPSTimeStamp])
    day = datetime.strptime(gps[tags.GPSDateStamp], "%Y:%m:%d").replace(tzinfo=timezone.utc)
    speed = gps.get(tags.GPSSpeed)
    return {
        "lat": degrees(gps[tags.GPSLatitude], gps[tags.GPSLatitudeRef]),
        "lon": degrees(gps[tags.GPSLongitude], gps[tags.GPSLongitudeRef]),
        "alt_m": _altitude(gps),
        "heading_deg": float(gps[tags.GPSImgDirection]) if tags.GPSImgDirection in gps else None,
        "speed_mps": float(speed) / 3.6 if speed is not None else None,
        "time_utc": day.timestamp() + h * 3600 + m * 60 + s,
    }


def _altitude(gps: dict) -> float | None:
    if ExifTags.GPS.GPSAltitude not in gps:
        return None
    below = gps.get(ExifTags.GPS.GPSAltitudeRef) in (b"\x01", 1)  # 1 = below sea level
    value = float(gps[ExifTags.GPS.GPSAltitude])
    return -value if below else value


def image_file(record: FrameRecord) -> str:
    """The photo's name relative to the survey folder (also its name as evidence on the server)."""
    return f"{IMAGES_DIR}/{record.camera_id}_{record.sequence:06d}.jpg"


def geotag_exif(anonymized: AnonymizedFrame, record: FrameRecord) -> bytes:
    """The photo's EXIF block: time, the anonymizer that blurred it, the record's position."""
    exif = Image.Exif()
    exif[ExifTags.Base.DateTime] = record.time_utc.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.Software] = f"voirie ({anonymized.anonymizer})"
    exif[ExifTags.Base.GPSInfo] = gps_ifd(record.fix)
    return exif.tobytes()


def geotagged_jpeg(anonymized: AnonymizedFrame, record: FrameRecord, quality: int) -> bytes:
    """The blurred frame as JPEG bytes with the record's position in EXIF GPS tags."""
    verify_anonymized(anonymized)  # raw pixels never leave the pipeline
    return encode_jpeg(anonymized, quality, geotag_exif(anonymized, record))


class SurveyWriter:
    """Writes anonymized frames to ``<out>/images/*.jpg`` and their records to ``records.jsonl``."""

    def __init__(self, out_dir: str | Path, jpeg_quality: int = 88) -> None:
        if not 30 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be within [30, 100], got {jpeg_quality}")
        self.out_dir = Path(out_dir)
        self.images_dir = self.out_dir / IMAGES_DIR
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.records_path = self.out_dir / RECORDS_FILE
        self.jpeg_quality = jpeg_quality
        self.written = 0
        self._records = self.records_path.open("a", encoding="utf-8")

    def write(self, anonymized: AnonymizedFrame, record: FrameRecord) -> FrameRecord:
        """Write the JPEG (with EXIF GPS of ``record.fix``) and the record; return the record as written."""
        verify_anonymized(anonymized)  # raw pixels never leave the pipeline
        written = record.model_copy(update={"image_file": image_file(record)})
        exif = geotag_exif(anonymized, written)
        write_jpeg(anonymized, self.out_dir / written.image_file, self.jpeg_quality, exif)
        self._records.write(written.to_json() + "\n")
        self._records.flush()
        self.written += 1
        return written

    def close(self) -> None:
        self._records.close()

    def __enter__(self) -> SurveyWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(survey_dir: str | Path) -> list[FrameRecord]:
    """The frame records of a survey folder, in the order they were written."""
    path = Path(survey_dir) / RECORDS_FILE
    return [FrameRecord.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
