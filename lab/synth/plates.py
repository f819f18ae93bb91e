"""Training scenes for the plate detector: varied rendered plates on real road photos.

No labelled plate set large enough to train on can be fetched here, so the plate
detector learns from plates drawn by code and pasted into road photos (read by path at
run time, never committed), with the pixel mask of each plate as the target. What the
renderer varies is what real plates vary in: layout (EU, Mercosur, old Brazilian grey,
red commercial, yellow, black, two-line motorcycle), fonts (DejaVu from matplotlib, the
Hershey fonts of OpenCV), the vehicle body around the plate, the angle it is seen at,
shade, focus, motion, sensor noise and JPEG loss. The road photos bring the negatives:
cracks, lane paint, signs and the survey's own overlay text; drawn lane lines, dashes,
alligator nets and chrome bars add the look-alikes a plate detector fires on.

This is deliberately a different renderer from ``synthetic.render_plate`` (one EU layout,
one font), which builds the hard evaluation scenes: a detector that had learnt that one
plate would score well there for the wrong reason.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

PLATE_RENDER_WIDTH = 240  # pixels across a plate when drawn, before it is warped and shrunk
_TTF = ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf",
        "DejaVuSansMono.ttf")
_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)


@dataclass(frozen=True)
class PlateStyle:
    """One plate layout: width/height ratio, colours (BGR), text pattern, a band if any."""

    name: str
    aspect: float
    ground: tuple[int, int, int]
    ink: tuple[int, int, int]
    pattern: str  # L = letter, D = digit, anything else literal; "|" splits two lines
    band: str = ""  # "left" (EU), "top" (Mercosur, old Brazilian city line)
    band_colour: tuple[int, int, int] = (160, 60, 0)


STYLES = (
    PlateStyle("eu", 4.7, (235, 235, 235), (20, 20, 20), "LL-DDD-LL", "left"),
    PlateStyle("eu-yellow", 4.7, (40, 200, 235), (20, 20, 20), "LL DD LLL", "left"),
    PlateStyle("mercosur", 3.1, (235, 235, 235), (25, 25, 25), "LLLDLDD", "top"),
    PlateStyle("brazil-grey", 3.1, (185, 185, 180), (30, 30, 30), "LLL-DDDD", "top", (185, 185, 180)),
    PlateStyle("brazil-red", 3.1, (40, 40, 190), (235, 235, 235), "LLL-DDDD", "top", (40, 40, 190)),
    PlateStyle("us", 2.0, (230, 230, 225), (120, 40, 20), "DLLLDDD", "top", (230, 230, 225)),
    PlateStyle("black", 4.0, (25, 25, 25), (220, 220, 220), "LL DDDD"),
    PlateStyle("moto", 1.2, (235, 235, 235), (20, 20, 20), "LLL|DDDD"),
)


def plate_text(pattern: str, rng: np.random.Generator) -> str:
    """Random characters following a pattern (L letter, D digit)."""
    pick = {"L": string.ascii_uppercase, "D": string.digits}
    return "".join(pick[c][rng.integers(len(pick[c]))] if c in pick else c for c in pattern)


@lru_cache(maxsize=32)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _text_ink(text: str, rng: np.random.Generator) -> np.ndarray:
    """A grey mask (0-255) of the characters, cropped to their ink."""
    if rng.random() < 0.5:
        font = _font(_TTF[rng.integers(len(_TTF))], 48)
        canvas = Image.new("L", (48 * (len(text) + 2), 80), 0)
        ImageDraw.Draw(canvas).text((24, 8), text, fill=255, font=font)
        ink = np.asarray(canvas)
    else:
        ink = np.zeros((80, 40 * (len(text) + 2)), np.uint8)
        cv2.putText(ink, text, (15, 60), int(_HERSHEY[rng.integers(len(_HERSHEY))]), 1.5, 255,
                    int(rng.integers(3, 6)), cv2.LINE_AA)
    ys, xs = np.nonzero(ink > 40)
    return ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _draw_text(plate: np.ndarray, text: str, box: tuple[int, int, int, int], ink: tuple[int, ...],
               rng: np.random.Generator) -> None:
    """Characters fitted into ``box`` (x1, y1, x2, y2) of ``plate``, blended in ``ink``."""
    x1, y1, x2, y2 = box
    mask = cv2.resize(_text_ink(text, rng), (max(1, x2 - x1), max(1, y2 - y1)), interpolation=cv2.INTER_AREA)
    alpha = mask.astype(np.float32)[..., None] / 255
    region = plate[y1:y2, x1:x2].astype(np.float32)
    plate[y1:y2, x1:x2] = (region * (1 - alpha) + np.asarray(ink, np.float32) * alpha).astype(np.uint8)


def render_training_plate(style: PlateStyle, rng: np.random.Generator) -> np.ndarray:
    """One plate of ``style`` at PLATE_RENDER_WIDTH px, with a random text, font and wear."""
    width = PLATE_RENDER_WIDTH
    height = round(width / style.aspect * rng.uniform(0.9, 1.1))
    jitter = rng.integers(-20, 21, 3)
    plate = np.empty((height, width, 3), np.uint8)
    plate[:] = np.clip(np.asarray(style.ground) + jitter, 0, 255)
    left, top = 0, 0
    if style.band == "left":
        left = width // 11
        plate[:, :left] = style.band_colour
        _draw_text(plate, plate_text("LL", rng)[: rng.integers(1, 3)], (left // 5, height * 6 // 10, left * 4 // 5,
                   height * 9 // 10), (230, 230, 230), rng)
    elif style.band == "top":
        top = height // 5
        plate[:top] = style.band_colour
        band_ink = (235, 235, 235) if style.band_colour != style.ground else style.ink
        _draw_text(plate, plate_text("LLLLLL", rng), (width * 3 // 10, top // 6, width * 7 // 10, top * 5 // 6),
                   band_ink, rng)
    margin_x, margin_y = width // 25 + left, height // 9
    lines = plate_text(style.pattern, rng).split("|")
    line_height = (height - top - 2 * margin_y) // len(lines)
    for row, line in enumerate(lines):
        y1 = top + margin_y + row * line_height
        _draw_text(plate, line, (margin_x, y1, width - width // 25, y1 + line_height - margin_y // 2), style.ink, rng)
    if rng.random() < 0.7:  # a border, often dark
        cv2.rectangle(plate, (0, 0), (width - 1, height - 1), tuple(int(v) for v in rng.integers(0, 80, 3)),
                      int(rng.integers(2, 7)))
    if rng.random() < 0.35:  # dirty, faded or in shade: real grey plates on the DNIT photos are barely darker
        mean = plate.reshape(-1, 3).mean(axis=0)   # than the van around them
        plate = np.clip(mean + (plate - mean) * rng.uniform(0.25, 0.7), 0, 255).astype(np.uint8)
    return plate


def _vehicle_around(plate: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The plate on a piece of vehicle body (bumper, lights) or alone; returns the image and the plate's mask."""
    h, w = plate.shape[:2]
    if rng.random() < 0.25:
        return plate, np.full((h, w), 255, np.uint8)
    body_w, body_h = int(w * rng.uniform(1.6, 3.5)), int(h * rng.uniform(2.0, 5.0))
    if rng.random() < 0.25:  # a body of the plate's own colour (grey plate on a white or grey van)
        colour = np.clip(plate.reshape(-1, 3).mean(axis=0) + rng.integers(-30, 31, 3), 0, 255)
    else:
        colour = rng.integers(0, 256, 3) if rng.random() < 0.6 else np.full(3, rng.integers(0, 256))
    body = np.empty((body_h, body_w, 3), np.uint8)
    body[:] = colour
    shade = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.2), body_h)[:, None, None]
    body = np.clip(body * shade, 0, 255).astype(np.uint8)
    bumper = int(body_h * rng.uniform(0.6, 0.85))
    body[bumper:] = np.clip(body[bumper:].astype(int) // 3 + rng.integers(0, 40), 0, 255)
    if rng.random() < 0.5:  # a chrome bar: bright and long, but no plate
        bar = max(1, int(body_h * rng.uniform(0.03, 0.08)))
        top = int(rng.uniform(0.5, 0.9) * (body_h - bar))
        body[top : top + bar] = rng.integers(170, 256)
    if rng.random() < 0.6:  # tail lights
        light_w, light_h = body_w // 6, body_h // 6
        for x in (body_w // 20, body_w - body_w // 20 - light_w):
            cv2.rectangle(body, (x, body_h // 8), (x + light_w, body_h // 8 + light_h), (30, 30, 200), -1)
    x, y = (body_w - w) // 2 + int(rng.integers(-(body_w - w) // 4, (body_w - w) // 4 + 1)), int(
        rng.uniform(0.35, 0.75) * (body_h - h))
    body[y : y + h, x : x + w] = plate
    mask = np.zeros((body_h, body_w), np.uint8)
    mask[y : y + h, x : x + w] = 255
    return body, mask


def _view(image: np.ndarray, mask: np.ndarray, width_px: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """Seen at an angle (yaw squeezes one side, a little roll and pitch) and shrunk so the plate is ``width_px`` wide."""
    plate_cols = np.nonzero(mask.max(axis=0) > 127)[0]
    shrink = min(1.0, 2 * width_px / (plate_cols[-1] - plate_cols[0] + 1))
    if shrink < 1.0:  # shrink most of the way first (cheap, antialiased); the warp does the rest
        image = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    yaw = rng.uniform(0, 0.45) * rng.choice([-1, 1])
    near, far = 1 + abs(yaw) / 2, 1 - abs(yaw) / 2
    left, right = (far, near) if yaw > 0 else (near, far)
    squeeze = 1 - abs(yaw) * 0.5
    dst = np.float32([[0, h * (1 - left) / 2], [w * squeeze, h * (1 - right) / 2],
                      [w * squeeze, h * (1 + right) / 2], [0, h * (1 + left) / 2]])
    dst[:, 1] += np.float32([1, -1, -1, 1]) * rng.uniform(-0.05, 0.05) * h  # pitch
    angle = np.deg2rad(rng.uniform(-7, 7))  # roll
    centre = dst.mean(axis=0)
    rotation = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (dst - centre) @ rotation.T + centre
    plate_cols = np.nonzero(mask.max(axis=0) > 127)[0]
    scale = width_px / max(1.0, (plate_cols[-1] - plate_cols[0] + 1) * squeeze)
    dst = (dst - dst.min(axis=0)) * scale
    size = (max(2, int(np.ceil(dst[:, 0].max())) + 1), max(2, int(np.ceil(dst[:, 1].max())) + 1))
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(image, matrix, size, flags=cv2.INTER_AREA)
    warped_mask = cv2.warpPerspective(mask, matrix, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, size, flags=cv2.INTER_LINEAR)
    return warped, np.stack([warped_mask, alpha], axis=-1)


def _photometric(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shade, colour cast, defocus or motion blur of one pasted object."""
    out = patch.astype(np.float32) * rng.uniform(0.35, 1.15) + rng.uniform(-25, 25, 3)
    if rng.random() < 0.3:  # low sun: gamma
        out = 255 * (np.clip(out, 0, 255) / 255) ** rng.uniform(0.6, 1.6)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.3))
    elif rng.random() < 0.3:
        length = int(rng.integers(2, 6))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0 / length
        out = cv2.filter2D(out, -1, kernel)
    return out


def paste_plate(scene: np.ndarray, target: np.ndarray, width_px: float, rng: np.random.Generator) -> None:
    """Render a plate (often on a vehicle), paste it at a random place, add its mask to ``target``."""
    style = STYLES[rng.integers(len(STYLES))]
    image, mask = _vehicle_around(render_training_plate(style, rng), rng)
    image, masks = _view(image, mask, width_px, rng)
    image = _photometric(image, rng)
    h, w = image.shape[:2]
    x = int(rng.integers(-w // 4, max(1, scene.shape[1] - 3 * w // 4)))
    y = int(rng.integers(-h // 4, max(1, scene.shape[0] - 3 * h // 4)))
    sx1, sy1, sx2, sy2 = max(0, x), max(0, y), min(scene.shape[1], x + w), min(scene.shape[0], y + h)
    if sx2 <= sx1 or sy2 <= sy1:
        return
    crop = (slice(sy1 - y, sy2 - y), slice(sx1 - x, sx2 - x))
    alpha = masks[..., 1][crop].astype(np.float32)[..., None] / 255
    region = scene[sy1:sy2, sx1:sx2].astype(np.float32)
    scene[sy1:sy2, sx1:sx2] = (image[crop] * alpha + region * (1 - alpha)).astype(np.uint8)
    # What this object covers hides any plate pasted there before.
    covered = target[sy1:sy2, sx1:sx2] * (1 - alpha[..., 0])
    target[sy1:sy2, sx1:sx2] = np.maximum(covered, masks[..., 0][crop]).astype(np.uint8)


def _road_paint(scene: np.ndarray, rng: np.random.Generator) -> None:
    """Lane lines (solid or dashed, white or yellow) and dark crack lines: the road texture a plate detector
    must leave alone, since a blur there hides damage from the damage model."""
    height, width = scene.shape[:2]
    for _ in range(rng.integers(1, 4)):
        colour = (235, 235, 235) if rng.random() < 0.6 else (40, 190, 225)
        start, end = rng.uniform(0, 1, 2) * (width, height), rng.uniform(0, 1, 2) * (width, height)
        pieces = rng.integers(3, 8) if rng.random() < 0.5 else 1
        thickness, fade = int(rng.integers(2, 15)), rng.uniform(0.7, 1.0)
        for k in range(pieces):  # dashed: every other piece drawn
            if pieces > 1 and k % 2:
                continue
            a = start + (end - start) * k / pieces
            b = start + (end - start) * (k + 1) / pieces
            cv2.line(scene, tuple(int(v) for v in a), tuple(int(v) for v in b),
                     tuple(int(c * fade) for c in colour), thickness, cv2.LINE_AA)
    if rng.random() < 0.5:  # alligator cracking: a jittered net of dark lines
        cell = int(rng.integers(6, 26))
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x1, y1 = x0 + int(rng.integers(width // 4, width // 2)), y0 + int(rng.integers(height // 4, height // 2))
        dark = tuple(int(v) for v in rng.integers(15, 70, 1).repeat(3))
        for x in range(x0, x1, cell):
            points = np.array([[x + rng.integers(-cell // 3, cell // 3 + 1), y] for y in range(y0, y1, cell)], np.int32)
            cv2.polylines(scene, [points], False, dark, int(rng.integers(1, 4)), cv2.LINE_AA)
        for y in range(y0, y1, cell):
            points = np.array([[x, y + rng.integers(-cell // 3, cell // 3 + 1)] for x in range(x0, x1, cell)], np.int32)
            cv2.polylines(scene, [points], False, dark, int(rng.integers(1, 4)), cv2.LINE_AA)


def training_sample(photo: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (256, 256),
                    min_width: float = 12, max_width: float = 220) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` (w, h) crop of a road photo at a random zoom with 0-3 plates; returns (BGR image, 0-255 plate mask)."""
    width, height = size
    zoom = rng.uniform(max(width / photo.shape[1], height / photo.shape[0]), 1.6)
    scaled = cv2.resize(photo, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, scaled.shape[0] - height + 1))
    x = int(rng.integers(0, scaled.shape[1] - width + 1))
    scene = np.ascontiguousarray(scaled[y : y + height, x : x + width])
    if rng.random() < 0.5:
        scene = scene[:, ::-1].copy()
    if rng.random() < 0.4:
        _road_paint(scene, rng)
    target = np.zeros((height, width), np.uint8)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        paste_plate(scene, target, float(np.exp(rng.uniform(np.log(min_width), np.log(max_width)))), rng)
    if rng.random() < 0.5:
        scene = np.clip(scene + rng.normal(0, rng.uniform(1, 6), scene.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        ok, data = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
        scene = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return scene, target
