"""The one JPEG writer: anonymized frames only, pixels kept, EXIF readable by Pillow."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image

from voirie.anonymize.jpeg import encode_jpeg, write_jpeg
from voirie.records import AnonymizedFrame, Frame


def _anonymized(seed: int = 0) -> AnonymizedFrame:
    rng = np.random.default_rng(seed)
    pixels = cv2.GaussianBlur(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8), (7, 7), 0)
    pixels[:, :40] = (0, 0, 255)  # a red band: BGR must stay BGR through the encoder
    frame = Frame(pixels=pixels, monotonic_s=0.0, time_utc=datetime.now(timezone.utc), camera_id="cam", sequence=7)
    return AnonymizedFrame(frame, faces_masked=0, plates_masked=0, anonymizer="test@1")


def _exif(software: str) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Software] = software
    exif[ExifTags.Base.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (47.0, 15.0, 34.2)}
    return exif.tobytes()


def test_encoded_pixels_come_back_close_and_in_bgr_order() -> None:
    frame = _anonymized()
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(frame, quality=95), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.pixels.shape
    assert np.abs(decoded.astype(int) - frame.pixels).mean() < 4
    assert decoded[:, :30, 2].mean() > 200 and decoded[:, :30, 0].mean() < 50  # still red in BGR


def test_quality_changes_the_size() -> None:
    frame = _anonymized()
    assert len(encode_jpeg(frame, quality=30)) < len(encode_jpeg(frame, quality=95))


@pytest.mark.parametrize("strip_header", [False, True])
def test_exif_is_readable_by_pillow(strip_header: bool) -> None:
    exif = _exif("voirie (test@1)")
    data = encode_jpeg(_anonymized(), exif=exif[6:] if strip_header else exif)
    with Image.open(io.BytesIO(data)) as image:
        read = image.getexif()
        assert image.size == (160, 96)
        assert read[ExifTags.Base.Software] == "voirie (test@1)"
        gps = read.get_ifd(ExifTags.IFD.GPSInfo)
        assert gps[ExifTags.GPS.GPSLatitudeRef] == "N" and float(gps[ExifTags.GPS.GPSLatitude][1]) == 15.0


@pytest.mark.parametrize(("frame", "quality", "exif", "error", "match"), [
    ("raw", 88, None, TypeError, "AnonymizedFrame.*got Frame"),
    ("array", 88, None, TypeError, "AnonymizedFrame.*got ndarray"),
    ("ok", 0, None, ValueError, r"quality must be within \[1, 100\], got 0"),
    ("ok", 101, None, ValueError, "got 101"),
    ("ok", 88, b"Exif\x00\x00" + b"\x00" * 70_000, ValueError, "does not fit one JPEG segment"),
])
def test_bad_input_is_refused_naming_it(frame: str, quality: int, exif: bytes | None, error: type, match: str) -> None:
    anonymized = _anonymized()
    given = {"raw": anonymized.frame, "array": anonymized.pixels, "ok": anonymized}[frame]
    with pytest.raises(error, match=match):
        encode_jpeg(given, quality, exif)  # type: ignore[arg-type]


def test_write_jpeg_leaves_only_the_finished_file(tmp_path: Path) -> None:
    path = write_jpeg(_anonymized(), tmp_path / "photo.jpg", quality=80, exif=_exif("x"))
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]
    assert path.read_bytes()[:2] == b"\xff\xd8" and cv2.imread(str(path)).shape == (96, 160, 3)
    with pytest.raises(TypeError):
        write_jpeg(_anonymized().frame, tmp_path / "raw.jpg")  # type: ignore[arg-type]
    assert not (tmp_path / "raw.jpg").exists()
