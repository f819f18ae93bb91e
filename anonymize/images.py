"""Reading images for the anonymizer: a file that does not decode fully is refused, by name."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)


class ImageError(ValueError):
    """An image file or buffer could not be decoded into HxWx3 BGR pixels."""


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode JPEG/PNG bytes to BGR uint8; a truncated or corrupt file raises ImageError.

    OpenCV refuses a truncated JPEG outright (rather than returning a grey-padded half
    image), so a partial frame never reaches the detectors with hidden content.
    Grayscale files are expanded to three channels (the detectors need BGR).
    """
    if not data:
        raise ImageError(f"{name} is empty")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ImageError(f"{name} cannot be decoded ({len(data)} bytes): truncated or not an image")
    return pixels


def read_image(path: Path) -> np.ndarray:
    """Read and decode one image file (see ``decode_image``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ImageError(f"{path} cannot be read: {error}") from error
    return decode_image(data, str(path))
