"""Training augmentation for the shifts a city's own camera brings (numpy/OpenCV, no torch).

A model trained on one survey vehicle meets other cameras: another mounting height and
pitch (the road sits higher or lower in the frame, nearer or farther), another exposure
and white balance, shadows of trees and buildings, wet asphalt, motion blur and stronger
JPEG compression. Each sample gets a random mix of these, and its target planes get the
same geometric warp as its pixels, so a label stays on its crack.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # the runtime's letterbox grey (voirie.models.decode.PAD_VALUE)


@dataclass(frozen=True)
class CameraShift:
    """How far each shift may go; probabilities are per sample."""

    scale: tuple[float, float] = (0.8, 1.25)  # camera height: the road nearer or farther
    pitch: float = 0.12  # perspective: the far edge wider or narrower by up to this fraction
    shift: float = 0.08  # framing: the road moved by up to this fraction of the frame
    exposure: tuple[float, float] = (0.6, 1.4)
    colour_temperature: float = 0.12  # red and blue gains moved apart by up to this
    p_geometry: float = 0.7
    p_shadow: float = 0.3
    p_wet: float = 0.15
    p_blur: float = 0.25
    p_jpeg: float = 0.4
    p_noise: float = 0.2


def camera_homography(size_hw: tuple[int, int], shift: CameraShift, rng: np.random.Generator) -> np.ndarray:
    """A random 3×3 warp: zoom about the centre, a pitch-like trapezoid and a small framing shift."""
    height, width = size_hw
    zoom = rng.uniform(*shift.scale)
    squeeze = rng.uniform(-shift.pitch, shift.pitch) * width / 2
    dx, dy = rng.uniform(-shift.shift, shift.shift, 2) * (width, height)
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    centre = np.float32([width / 2, height / 2])
    target = (source - centre) * zoom + centre + np.float32([dx, dy])
    target[:2, 0] += np.float32([squeeze, -squeeze])  # the far (top) edge narrows or widens
    return cv2.getPerspectiveTransform(source, target)


def warp_sample(image: np.ndarray, planes: np.ndarray, homography: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The image and its C×(H/stride)×(W/stride) target planes under one warp (targets nearest, never blended)."""
    height, width = image.shape[:2]
    warped = cv2.warpPerspective(image, homography, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
    to_cells = np.diag([1 / stride, 1 / stride, 1.0])
    cell_homography = to_cells @ homography @ np.linalg.inv(to_cells)
    size = (planes.shape[2], planes.shape[1])
    moved = np.stack([cv2.warpPerspective(p, cell_homography, size, flags=cv2.INTER_NEAREST,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) for p in planes])
    return warped, moved


def _shadow(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft-edged dark band or blob, as a tree or a building casts on the road."""
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.float32)
    points = rng.uniform((0, 0), (width, height), (rng.integers(3, 7), 2)).astype(np.int32)
    cv2.fillPoly(mask, [cv2.convexHull(points)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(3, 15))
    darkness = rng.uniform(0.35, 0.75)
    return image * (1 - (1 - darkness) * mask[..., None])


def _wet(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Wet asphalt: darker, more contrast, a cold cast and a bright sheen towards the horizon."""
    height = image.shape[0]
    dark = (image - 0.5) * rng.uniform(1.1, 1.4) + 0.5 - rng.uniform(0.08, 0.2)
    sheen = np.linspace(rng.uniform(0.05, 0.2), 0, height, dtype=np.float32)[:, None, None]
    return dark * np.float32([1.04, 1.0, 0.96]) + sheen  # BGR: a little more blue


def photometric(image: np.ndarray, shift: CameraShift, rng: np.random.Generator) -> np.ndarray:
    """Exposure, white balance, shadow, wetness, blur, noise and JPEG loss on one BGR uint8 image."""
    x = image.astype(np.float32) / 255.0
    x = (x - 0.5) * rng.uniform(0.75, 1.3) + 0.5  # contrast
    x = x * rng.uniform(*shift.exposure)
    warm = rng.uniform(-shift.colour_temperature, shift.colour_temperature)
    x = x * np.float32([1 - warm, 1.0, 1 + warm])  # BGR: warm light lifts red, lowers blue
    if rng.random() < shift.p_shadow:
        x = _shadow(x, rng)
    if rng.random() < shift.p_wet:
        x = _wet(x, rng)
    if rng.random() < shift.p_noise:
        x = x + rng.normal(0, rng.uniform(0.01, 0.04), x.shape).astype(np.float32)
    out = np.clip(x * 255, 0, 255).astype(np.uint8)
    if rng.random() < shift.p_blur:
        out = _blur(out, rng)
    if rng.random() < shift.p_jpeg:
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 85))])
        out = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else out
    return out


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Defocus or motion blur along the driving direction (vertical in the frame)."""
    size = int(rng.choice((3, 5, 7)))
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (size, size), 0)
    kernel = np.zeros((size, size), np.float32)
    kernel[:, size // 2] = 1.0 / size
    return cv2.filter2D(image, -1, kernel)


def augment_sample(image: np.ndarray, planes: np.ndarray, stride: int, shift: CameraShift,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training sample under a random camera: geometry (pixels and targets), then light and optics."""
    if rng.random() < shift.p_geometry:
        image, planes = warp_sample(image, planes, camera_homography(image.shape[:2], shift, rng), stride)
    return photometric(image, shift, rng), planes
