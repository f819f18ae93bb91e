"""Evidence photos are decoded and re-encoded on the server, never stored as uploaded.

Re-encoding drops whatever rode along with the pixels (a second image after the JPEG's end
marker, comments, maker notes, thumbnails) and proves the file decodes; only the EXIF GPS
tags, which say where the photo was taken, are carried over. Pixels are bounded before
decoding so a small file cannot expand into gigabytes (a decompression bomb).
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import ExifTags, Image

logger = logging.getLogger(__name__)

_GPS_TAGS = frozenset(int(tag) for tag in ExifTags.GPS)


class EvidenceError(ValueError):
    """An evidence upload was refused; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _gps_exif(image: Image.Image) -> Image.Exif:
    """A fresh EXIF block holding only the known GPS tags of ``image`` (none if it had none)."""
    exif = Image.Exif()
    gps = {tag: value for tag, value in image.getexif().get_ifd(ExifTags.IFD.GPSInfo).items() if tag in _GPS_TAGS}
    if gps:
        exif[ExifTags.Base.GPSInfo] = gps
    return exif


def reencode_evidence(data: bytes, max_pixels: int, quality: int = 88) -> bytes:
    """The JPEG ``data`` decoded and encoded again with its GPS tags; raises ``EvidenceError``
    (422 when it does not decode as a JPEG, 413 when it has more than ``max_pixels`` pixels)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["JPEG"])
            width, height = image.size
            if width * height > max_pixels:
                raise EvidenceError(413, f"evidence is {width}x{height} pixels; at most {max_pixels} pixels")
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
            exif = _gps_exif(image)
            pixels = image if image.mode in ("RGB", "L") else image.convert("RGB")
            pixels.info.clear()  # Pillow would carry comments and ICC profiles over to the new file
    except EvidenceError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:  # Pillow's own, larger bound
        raise EvidenceError(413, f"evidence has too many pixels: {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise EvidenceError(422, f"evidence does not decode as a JPEG: {error}") from error
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()
