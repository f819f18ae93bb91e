"""The one JPEG writer: survey photos, the agent's evidence and counting snapshots.

It accepts an ``AnonymizedFrame`` and nothing else (a raw ``Frame`` or an array is a
``TypeError``), so un-blurred pixels cannot reach a file or the server through it.
libjpeg through OpenCV encodes the BGR pixels as they are (Pillow would need an RGB copy
first, and is slower); EXIF, when given, goes into an APP1 segment right after the
JFIF header, where photo tools and Pillow look for it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2

from voirie.records import AnonymizedFrame

_EXIF_HEADER = b"Exif\x00\x00"
_MAX_SEGMENT = 65533  # a JPEG segment's 2-byte length counts itself


def verify_anonymized(frame: object) -> AnonymizedFrame:
    """``frame`` if it is an ``AnonymizedFrame``; otherwise ``TypeError`` naming what it is."""
    if not isinstance(frame, AnonymizedFrame):
        raise TypeError(f"only an AnonymizedFrame may be written, got {type(frame).__name__}")
    return frame


def encode_jpeg(frame: AnonymizedFrame, quality: int = 88, exif: bytes | None = None) -> bytes:
    """JPEG bytes of an anonymized frame, with ``exif`` (Pillow's ``Exif.tobytes()``) if given."""
    verify_anonymized(frame)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be within [1, 100], got {quality}")
    ok, data = cv2.imencode(".jpg", frame.pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for frame {frame.frame.camera_id}/{frame.frame.sequence}")
    return _with_exif(data.tobytes(), exif) if exif else data.tobytes()


def _with_exif(jpeg: bytes, exif: bytes) -> bytes:
    payload = exif if exif.startswith(_EXIF_HEADER) else _EXIF_HEADER + exif
    if len(payload) + 2 > _MAX_SEGMENT:
        raise ValueError(f"EXIF block of {len(payload)} bytes does not fit one JPEG segment ({_MAX_SEGMENT - 2} max)")
    at = 2  # after SOI; after the JFIF APP0 segment when there is one
    if jpeg[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:at] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[at:]


def write_jpeg(frame: AnonymizedFrame, path: str | Path, quality: int = 88, exif: bytes | None = None) -> Path:
    """Write an anonymized frame as a JPEG file; atomic: a reader never sees half a file."""
    path = Path(path)
    data = encode_jpeg(frame, quality, exif)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path
