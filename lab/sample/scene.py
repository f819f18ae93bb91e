"""Rendered road scenes: road texture, perspective warp, pedestrian and parked car.

The synthetic damage scenes (``models/synth``) are drawn with it, and the sample drive
pastes its pedestrian and car (``Sprites``) onto real photos with its camera model. All
randomness is seeded, so the same code draws the same pixels. Coordinates on the road:
``s`` metres along the track (forward), ``x`` metres across it (+ right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

_SEED = 20250514
# Camera: 1.5 m up, pitched 3 degrees down, ~65 degree horizontal field of view, 720p.
CAM_HEIGHT_M, CAM_PITCH_DEG, FOCAL_PX = 1.5, 3.0, 1000.0
WIDTH, HEIGHT = 1280, 720
TEXTURE_RES_M = 0.02  # metres per texture pixel
HALF_WIDTH_M = 6.0  # texture covers -6 m (left) .. +6 m (right) of the road axis
ROAD_HALF_M = 3.5
VIEW_NEAR_M, VIEW_FAR_M = 2.0, 60.0
# The default road's damage: kind, along-track start/end (m), lateral from/to (m, + right).
DAMAGE = (
    ("longitudinal_crack", 18.0, 27.0, 1.3, 1.3),
    ("transverse_crack", 38.0, 38.0, -3.0, 3.0),
    ("alligator_crack", 50.0, 54.0, 0.6, 2.4),
    ("pothole", 72.0, 72.6, 1.2, 1.8),
    ("patch", 84.0, 87.5, 0.4, 2.8),
    ("pothole", 118.0, 118.5, -1.8, -1.2),
    ("alligator_crack", 132.0, 136.0, 0.8, 2.6),
    ("transverse_crack", 150.0, 150.0, -3.2, 3.2),
    ("longitudinal_crack", 158.0, 166.0, -1.5, -1.5),
)
STOP_LINE_M = 100.5
CRACK_CLASS, POTHOLE_CLASS = 0, 1  # class ids of the shipped damage model (crack, pothole)
# Damage kind -> detector class; a patch is a repair, not damage, so it is drawn but not labelled.
DAMAGE_CLASSES = {"longitudinal_crack": CRACK_CLASS, "transverse_crack": CRACK_CLASS,
                  "alligator_crack": CRACK_CLASS, "pothole": POTHOLE_CLASS}


@dataclass(frozen=True)
class Camera:
    """A forward camera over the road; the defaults are the sample drive's."""

    height_m: float = CAM_HEIGHT_M
    pitch_deg: float = CAM_PITCH_DEG
    focal_px: float = FOCAL_PX
    width: int = WIDTH
    height: int = HEIGHT
    near_m: float = VIEW_NEAR_M
    far_m: float = VIEW_FAR_M

    def horizon_row(self) -> int:
        """Image row of the horizon (negative when the camera looks down past it)."""
        return int(self.height / 2.0 - self.focal_px * math.tan(math.radians(self.pitch_deg)))

    def homography(self, s_cam: float, r0: int) -> np.ndarray:
        """Texture pixel (column, row - ``r0``) -> image pixel, the camera at ``s_cam`` m."""
        res = TEXTURE_RES_M
        to_ground = np.array([[res, 0, -HALF_WIDTH_M], [0, res, r0 * res - s_cam], [0, 0, 1]])
        pitch = math.radians(self.pitch_deg)
        sin, cos, h = math.sin(pitch), math.cos(pitch), self.height_m
        to_camera = np.array([[1, 0, 0], [0, -sin, h * cos], [0, cos, h * sin]])
        intrinsics = np.array([[self.focal_px, 0, self.width / 2.0], [0, self.focal_px, self.height / 2.0], [0, 0, 1]])
        return intrinsics @ to_camera @ to_ground


SAMPLE_CAMERA = Camera()


@dataclass(frozen=True)
class Asphalt:
    """Look of the road surface (grey levels); the defaults are the sample drive's."""

    base: float = 92.0
    grain: float = 22.0  # per-pixel grain, blurred
    patches: float = 7.0  # large, soft light/dark blotches
    sidewalk: int = 55  # how much lighter the concrete sidewalks are


def _px(s: float, x: float) -> tuple[int, int]:
    """Texture pixel (column, row) of road point (s, x)."""
    return int(round((x + HALF_WIDTH_M) / TEXTURE_RES_M)), int(round(s / TEXTURE_RES_M))


def road_texture(length_m: float) -> np.ndarray:
    """Top-down BGR texture of the whole road: asphalt, sidewalks, markings, damage."""
    return labelled_road_texture(length_m)[0]


def labelled_road_texture(length_m: float, damage: tuple = DAMAGE, seed: int = _SEED,
                          asphalt: Asphalt = Asphalt()) -> tuple[np.ndarray, np.ndarray]:
    """The road texture and its damage instance mask (uint8: ``k + 1`` where ``damage[k]`` is drawn).

    The mask is painted with the very shapes drawn on the texture, so labels derived from it
    are exact. With the defaults the texture is the sample drive's, pixel for pixel.
    """
    if len(damage) > 254:
        raise ValueError(f"at most 254 damage items fit the uint8 instance mask, got {len(damage)}")
    rng = np.random.default_rng(seed)
    rows, cols = int(length_m / TEXTURE_RES_M), int(2 * HALF_WIDTH_M / TEXTURE_RES_M)
    # Blurred grain: a real asphalt look without per-pixel noise that bloats the video.
    grain = cv2.GaussianBlur(rng.normal(0.0, asphalt.grain, (rows, cols)).astype(np.float32), (5, 5), 1.0)
    patches = cv2.resize(rng.normal(0.0, asphalt.patches, (rows // 40 + 1, cols // 40 + 1)).astype(np.float32), (cols, rows))
    grey = np.clip(asphalt.base + grain + patches, 0, 255).astype(np.uint8)
    texture = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    curb = int((HALF_WIDTH_M - ROAD_HALF_M) / TEXTURE_RES_M)
    for side in (slice(0, curb), slice(cols - curb, cols)):  # concrete sidewalks, lighter
        texture[:, side] = np.clip(texture[:, side].astype(np.int16) + asphalt.sidewalk, 0, 255).astype(np.uint8)
    _markings(texture, length_m)
    instances = np.zeros((rows, cols), np.uint8)
    _damage(texture, instances, rng, damage)
    return texture, instances


def _markings(texture: np.ndarray, length_m: float) -> None:
    white = (225, 228, 228)
    width = max(1, int(0.12 / TEXTURE_RES_M))
    for edge in (-3.2, 3.2):  # solid edge lines
        cv2.line(texture, _px(0, edge), _px(length_m, edge), white, width)
    for start in np.arange(2.0, length_m, 13.0):  # centre line: 3 m dashes, 10 m gaps (French T1)
        cv2.line(texture, _px(start, 0), _px(start + 3.0, 0), white, width)
    cv2.rectangle(texture, _px(STOP_LINE_M, 0.1), _px(STOP_LINE_M + 0.5, 3.2), white, -1)


def _damage(texture: np.ndarray, instances: np.ndarray, rng: np.random.Generator, damage: tuple) -> None:
    """Paint each damage item on the texture, and its number (k + 1) on the instance mask."""
    thick = max(2, int(0.04 / TEXTURE_RES_M))
    for index, (kind, s0, s1, x0, x1) in enumerate(damage):
        for shape in _damage_shapes(kind, s0, s1, x0, x1, rng, thick):  # geometry drawn once, painted twice
            _paint(texture, shape, None)
            _paint(instances, shape, index + 1)


def _damage_shapes(kind: str, s0: float, s1: float, x0: float, x1: float, rng: np.random.Generator,
                   thick: int) -> list[tuple]:
    """Drawing primitives of one damage item: (op, geometry..., BGR colour, thickness)."""
    crack = (38, 38, 40)
    if kind in ("longitudinal_crack", "transverse_crack"):
        steps = 30
        s = np.linspace(s0, s1, steps) + (rng.normal(0, 0.08, steps) if kind == "transverse_crack" else 0)
        x = np.linspace(x0, x1, steps) + (rng.normal(0, 0.06, steps) if kind == "longitudinal_crack" else 0)
        return [("poly", np.array([_px(a, b) for a, b in zip(s, x)], np.int32), False, crack, thick + 1)]
    if kind == "alligator_crack":
        return _alligator(rng, s0, s1, x0, x1, crack)
    if kind == "pothole":
        centre = _px((s0 + s1) / 2, (x0 + x1) / 2)
        axes = (int((x1 - x0) / 2 / TEXTURE_RES_M), int((s1 - s0) / 2 / TEXTURE_RES_M))
        return [("ellipse", centre, (axes[0] + 4, axes[1] + 4), (70, 72, 75), -1), ("ellipse", centre, axes, (22, 22, 25), -1)]
    if kind == "patch":
        return [("rect", _px(s0, x0), _px(s1, x1), (58, 60, 62), -1), ("rect", _px(s0, x0), _px(s1, x1), (30, 30, 32), thick)]
    return []


def _paint(canvas: np.ndarray, shape: tuple, value: int | None) -> None:
    """Draw one primitive in its colour, or in ``value`` (instance mask)."""
    op, *geometry, colour, thickness = shape
    colour = colour if value is None else value
    if op == "poly":
        cv2.polylines(canvas, [geometry[0]], geometry[1], colour, thickness)
    elif op == "ellipse":
        cv2.ellipse(canvas, geometry[0], geometry[1], 0, 0, 360, colour, thickness)
    elif op == "rect":
        cv2.rectangle(canvas, geometry[0], geometry[1], colour, thickness)


def _alligator(rng: np.random.Generator, s0: float, s1: float, x0: float, x1: float, colour) -> list[tuple]:
    """A net of small polygons (the 'crocodile skin' of fatigue cracking)."""
    cell, shapes = 0.25, []
    for s in np.arange(s0, s1, cell):
        for x in np.arange(x0, x1, cell):
            corners = [(s + ds * cell + rng.normal(0, 0.04), x + dx * cell + rng.normal(0, 0.04))
                       for ds, dx in ((0, 0), (0, 1), (1, 1), (1, 0))]
            shapes.append(("poly", np.array([_px(a, b) for a, b in corners], np.int32), True, colour, 2))
    return shapes


def background(camera: Camera = SAMPLE_CAMERA) -> np.ndarray:
    """Sky, a row of house fronts on the horizon, and verge below it (static: far away)."""
    image = np.zeros((camera.height, camera.width, 3), np.uint8)
    horizon = max(0, camera.horizon_row())
    for row in range(horizon):
        image[row] = (235 - row // 4, 200 - row // 6, 160 - row // 8)  # BGR sky, lighter low
    rng = np.random.default_rng(_SEED + 1)
    x = 0
    while x < camera.width:  # tuffeau stone fronts with slate roofs and windows
        w, h = int(rng.integers(90, 170)), int(rng.integers(40, 90))
        top = horizon - h
        cv2.rectangle(image, (x, top), (x + w, horizon), (170, 200, 215), -1)
        cv2.rectangle(image, (x, top - 12), (x + w, top), (90, 85, 80), -1)
        for wx in range(x + 10, x + w - 15, 28):
            cv2.rectangle(image, (wx, top + 10), (wx + 12, top + 26), (80, 70, 60), -1)
        x += w + 4
    image[horizon:] = (80, 110, 95)
    return image


def _visible_rows(rows: int, s_cam: float, camera: Camera) -> tuple[int, int]:
    """Texture rows the camera sees (between its near and far distance)."""
    r0 = max(0, int((s_cam + camera.near_m) / TEXTURE_RES_M))
    return r0, min(rows, int((s_cam + camera.far_m) / TEXTURE_RES_M))


def render_frame(texture: np.ndarray, backdrop: np.ndarray, s_cam: float, camera: Camera = SAMPLE_CAMERA) -> np.ndarray:
    """The camera's view with the camera ``s_cam`` metres along the road."""
    r0, r1 = _visible_rows(len(texture), s_cam, camera)
    image = backdrop.copy()
    cv2.warpPerspective(texture[r0:r1], camera.homography(s_cam, r0), (camera.width, camera.height), dst=image,
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return image


def render_labels(labels: np.ndarray, s_cam: float, camera: Camera = SAMPLE_CAMERA) -> np.ndarray:
    """A label texture (uint8 values per texture pixel) seen by the camera, nearest-neighbour,
    so a mask lands on the same image pixels as :func:`render_frame` paints."""
    r0, r1 = _visible_rows(len(labels), s_cam, camera)
    image = np.zeros((camera.height, camera.width), np.uint8)
    cv2.warpPerspective(labels[r0:r1], camera.homography(s_cam, r0), (camera.width, camera.height), dst=image,
                        flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_TRANSPARENT)
    return image


def instance_pixels(instances: np.ndarray) -> dict[int, np.ndarray]:
    """Texture pixels (column, row) of each damage item ``k`` in a mask from :func:`labelled_road_texture`."""
    rows, cols = np.nonzero(instances)
    values = instances[rows, cols]
    return {int(v) - 1: np.stack((cols[values == v], rows[values == v]), 1).astype(np.float64) for v in np.unique(values)}


def damage_boxes(pixels: dict[int, np.ndarray], texture_rows: int, s_cam: float, camera: Camera = SAMPLE_CAMERA,
                 min_px: float = 3.0) -> list[tuple[int, np.ndarray]]:
    """Image boxes (x0, y0, x1, y1) of the damage instances visible from ``s_cam``.

    Every texture pixel of an instance (its four corners) goes through the same homography
    as :func:`render_frame`; the box is the extent of what lands in the image. Instances
    narrower or shorter than ``min_px`` in the image are left out (nothing to see).
    """
    r0, r1 = _visible_rows(texture_rows, s_cam, camera)
    homography, boxes = camera.homography(s_cam, 0), []
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    for index, points in sorted(pixels.items()):
        points = points[(points[:, 1] >= r0) & (points[:, 1] < r1)]
        if not len(points):
            continue
        ring = (points[:, None, :] + corners[None]).reshape(-1, 2)
        uvw = np.c_[ring, np.ones(len(ring))] @ homography.T
        uv = uvw[:, :2] / uvw[:, 2:]
        inside = uv[(uv[:, 0] >= 0) & (uv[:, 0] <= camera.width) & (uv[:, 1] >= 0) & (uv[:, 1] <= camera.height)]
        if len(inside) and (np.ptp(inside[:, 0]) >= min_px and np.ptp(inside[:, 1]) >= min_px):
            boxes.append((index, np.r_[inside.min(0), inside.max(0)]))
    return boxes


def project(z: float, x: float, up: float, camera: Camera = SAMPLE_CAMERA) -> tuple[float, float, float]:
    """Image (u, v) and depth of the point ``z`` m ahead, ``x`` right, ``up`` above the road."""
    y = camera.height_m - up
    pitch = math.radians(camera.pitch_deg)
    sin, cos = math.sin(pitch), math.cos(pitch)
    yc, zc = y * cos - z * sin, y * sin + z * cos
    return camera.width / 2.0 + camera.focal_px * x / zc, camera.height / 2.0 + camera.focal_px * yc / zc, zc


@dataclass
class Sprites:
    """The upright things: a pedestrian with a real face, a car with a plate.

    ``person`` is placed by ``s_m``, ``x_m`` and ``height_m``; ``car`` by ``s_m``, ``x_m``
    and carries its ``plate`` registration (metres along and across the road).
    """

    face: np.ndarray
    plate: np.ndarray
    person: dict
    car: dict

    @classmethod
    def load(cls, face_path: Path, person: dict, car: dict) -> Sprites:
        face = cv2.imread(str(face_path), cv2.IMREAD_COLOR)
        if face is None:
            raise FileNotFoundError(f"sample-drive face image missing or unreadable: {face_path}")
        return cls(face=face, plate=_plate_image(car["plate"]), person=person, car=car)

    def draw(self, image: np.ndarray, s_cam: float) -> dict:
        """Draw far to near; return the image boxes of the face and the plate when visible."""
        boxes: dict = {}
        items = sorted(((self.car["s_m"], self._car), (self.person["s_m"], self._person)), reverse=True)
        for s, draw in items:
            z = s - s_cam
            if z > 1.0:
                boxes.update(draw(image, z))
        return boxes

    def _person(self, image: np.ndarray, z: float) -> dict:
        x, height = self.person["x_m"], self.person["height_m"]
        _block(image, z, x - 0.18, x + 0.18, 0.0, 0.85, (60, 50, 45))  # legs
        _block(image, z, x - 0.24, x + 0.24, 0.85, 1.50, (40, 60, 150))  # red coat
        box = _paste(image, self.face, z, x - 0.15, x + 0.15, 1.46, height)
        return {"face_xyxy": box} if box else {}

    def _car(self, image: np.ndarray, z: float) -> dict:
        x = self.car["x_m"]
        _block(image, z, x - 0.85, x + 0.85, 0.25, 1.0, (150, 110, 40))  # body, blue
        _block(image, z, x - 0.65, x + 0.65, 1.0, 1.45, (70, 60, 50))  # rear window
        for side in (-0.65, 0.55):
            _block(image, z, x + side, x + side + 0.1, 0.0, 0.3, (20, 20, 20))  # tyres
            _block(image, z, x + side - 0.1, x + side + 0.2, 0.75, 0.9, (30, 30, 200))  # lights
        box = _paste(image, self.plate, z, x - 0.26, x + 0.26, 0.45, 0.56)
        return {"plate_xyxy": box} if box else {}


def _rect(z: float, x0: float, x1: float, y0: float, y1: float) -> tuple[int, int, int, int]:
    u0, v1, _ = project(z, x0, y0)
    u1, v0, _ = project(z, x1, y1)
    return int(round(u0)), int(round(v0)), int(round(u1)), int(round(v1))


def _block(image: np.ndarray, z: float, x0: float, x1: float, y0: float, y1: float, colour) -> None:
    u0, v0, u1, v1 = _rect(z, x0, x1, y0, y1)
    cv2.rectangle(image, (u0, v0), (u1, v1), colour, -1)


def _paste(image: np.ndarray, sprite: np.ndarray, z: float, x0: float, x1: float, y0: float, y1: float) -> list[int] | None:
    """Paste ``sprite`` scaled to its projected rectangle; the visible box, or None."""
    u0, v0, u1, v1 = _rect(z, x0, x1, y0, y1)
    if u1 - u0 < 2 or v1 - v0 < 2:
        return None
    scaled = cv2.resize(sprite, (u1 - u0, v1 - v0), interpolation=cv2.INTER_AREA)
    a0, b0 = max(u0, 0), max(v0, 0)
    a1, b1 = min(u1, image.shape[1]), min(v1, image.shape[0])
    if a1 - a0 < 2 or b1 - b0 < 2:
        return None
    image[b0:b1, a0:a1] = scaled[b0 - v0:b1 - v0, a0 - u0:a1 - u0]
    return [a0, b0, a1, b1]


def _plate_image(registration: str) -> np.ndarray:
    """A French/EU plate, 520 x 110 mm at 1 px/mm: blue EU band, black characters on white."""
    plate = np.full((110, 520, 3), 250, np.uint8)
    cv2.rectangle(plate, (0, 0), (44, 109), (160, 60, 10), -1)  # EU band (BGR blue)
    cv2.putText(plate, "F", (10, 95), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.rectangle(plate, (476, 0), (519, 109), (160, 60, 10), -1)  # region band
    cv2.putText(plate, registration, (56, 82), cv2.FONT_HERSHEY_DUPLEX, 2.1, (10, 10, 10), 5, cv2.LINE_AA)
    cv2.rectangle(plate, (0, 0), (519, 109), (20, 20, 20), 3)
    return plate
