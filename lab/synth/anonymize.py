"""Hard cases built by code: small, distant, oblique faces and plates in road scenes.

The labelled sets in ``../shared/data`` are close-ups; a survey car sees faces of 10-40 px
on the pavement and plates of 25-110 px on cars ahead. This module composites real face
crops (from a labelled set, read by path at run time, never committed) and rendered
EU-style plates, warped as if seen at an angle, into road photos, and writes the result in
the eval layout (images/ + YOLO labels/). Nothing it makes is committed either.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

SCENE_SIZE = (1280, 720)  # width, height of a survey frame
# Where things appear follows from the camera: a forward-looking survey camera 1.6 m up,
# level within a few degrees, so the horizon is near mid-height. An object of real size S
# seen at s pixels is at distance f*S/s, and a point h metres above the road is
# f*(1.6 - h)/distance = (1.6 - h)*s/S pixels below the horizon (f cancels out).
CAMERA_HEIGHT_M = 1.6
HORIZON_JITTER_PX = 40  # pitch of the mount and of the road, about +-2 degrees
FACE_HEIGHT_M = 0.22  # chin to crown
PLATE_WIDTH_M = 0.52


def below_horizon(size_px: float, size_m: float, height_m: float) -> float:
    """Pixels below the horizon of a point ``height_m`` above the road on an object of ``size_m`` seen at ``size_px``."""
    return (CAMERA_HEIGHT_M - height_m) * size_px / size_m


@dataclass(frozen=True)
class Pasted:
    """One composited object: class (0 face, 1 plate) and its box in scene pixels."""

    class_id: int
    xyxy: tuple[int, int, int, int]


def render_plate(rng: np.random.Generator, width: int = 520) -> np.ndarray:
    """An EU-style plate (white, blue band, black 'AB 123 CD' characters) at ``width`` px."""
    height = max(8, round(width * 110 / 520))
    plate = np.full((110, 520, 3), 235, np.uint8)
    cv2.rectangle(plate, (0, 0), (44, 109), (160, 60, 0), -1)  # BGR blue band
    cv2.rectangle(plate, (0, 0), (519, 109), (20, 20, 20), 4)
    letters = string.ascii_uppercase
    text = (
        "".join(rng.choice(list(letters), 2))
        + " "
        + "".join(rng.choice(list(string.digits), 3))
        + " "
        + "".join(rng.choice(list(letters), 2))
    )
    cv2.putText(plate, text, (58, 82), cv2.FONT_HERSHEY_DUPLEX, 2.3, (15, 15, 15), 6, cv2.LINE_AA)
    return cv2.resize(plate, (width, height), interpolation=cv2.INTER_AREA)


def oblique(patch: np.ndarray, rng: np.random.Generator, strength: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``patch`` as if seen from the side; returns the warped patch and its alpha mask."""
    h, w = patch.shape[:2]
    squeeze = rng.uniform(0, strength) * h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    if rng.random() < 0.5:  # far edge on the right
        dst = np.float32([[0, 0], [w * (1 - strength / 2), squeeze / 2], [w * (1 - strength / 2), h - squeeze / 2], [0, h]])
    else:
        dst = np.float32([[w * strength / 2, squeeze / 2], [w, 0], [w, h], [w * strength / 2, h - squeeze / 2]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(patch, matrix, (w, h), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (w, h))
    return warped, alpha


def paste(scene: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    """Alpha-blend ``patch`` at (x, y) (clipped to the scene); returns the box of the visible alpha."""
    h, w = patch.shape[:2]
    x2, y2 = min(scene.shape[1], x + w), min(scene.shape[0], y + h)
    patch, alpha = patch[: y2 - y, : x2 - x], alpha[: y2 - y, : x2 - x].astype(np.float32)[..., None] / 255
    region = scene[y:y2, x:x2].astype(np.float32)
    scene[y:y2, x:x2] = (patch * alpha + region * (1 - alpha)).astype(np.uint8)
    ys, xs = np.nonzero(alpha[..., 0] > 0.5)
    return int(x + xs.min()), int(y + ys.min()), int(x + xs.max() + 1), int(y + ys.max() + 1)


def face_crops(faces_dir: Path, limit: int = 200, context: float = 0.35) -> list[tuple[np.ndarray, np.ndarray]]:
    """Labelled faces of a YOLO set (class 0) cut out with ``context`` of the box around them
    (hair, neck: what a real small face comes with), and the face box as fractions of the crop."""
    crops = []
    for label in sorted((faces_dir / "labels").glob("*.txt"))[:limit]:
        image = _read_image_for(faces_dir / "images", label.stem)
        if image is None:
            continue
        h, w = image.shape[:2]
        for line in label.read_text().split("\n"):
            parts = line.split()
            if len(parts) != 5 or parts[0] != "0":
                continue
            cx, cy, bw, bh = (float(v) * s for v, s in zip(parts[1:], (w, h, w, h)))
            if bw < 16 or bh < 16:
                continue
            x1, y1 = int(max(0, cx - bw * (0.5 + context))), int(max(0, cy - bh * (0.5 + context)))
            x2, y2 = int(min(w, cx + bw * (0.5 + context))), int(min(h, cy + bh * (0.5 + context)))
            inner = np.array([cx - bw / 2 - x1, cy - bh / 2 - y1, cx + bw / 2 - x1, cy + bh / 2 - y1])
            crops.append((image[y1:y2, x1:x2].copy(), inner / np.array([x2 - x1, y2 - y1] * 2)))
    return crops


def _read_image_for(folder: Path, stem: str) -> np.ndarray | None:
    for path in folder.glob(stem + ".*"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None:
            return image
    return None


def compose_scene(
    background: np.ndarray, faces: list[np.ndarray], rng: np.random.Generator, n_faces: int = 3, n_plates: int = 3
) -> tuple[np.ndarray, list[Pasted]]:
    """A 1280x720 road scene with small faces on the sides and small, angled plates ahead."""
    scene = cv2.resize(background, SCENE_SIZE, interpolation=cv2.INTER_AREA)
    width, height = SCENE_SIZE
    pasted: list[Pasted] = []
    for _ in range(n_faces if faces else 0):
        crop, inner = faces[int(rng.integers(len(faces)))]
        face_h = int(rng.integers(12, 56))  # the face itself; the crop around it is larger
        crop_h = max(8, round(face_h / (inner[3] - inner[1])))
        crop_w = max(8, round(crop.shape[1] * crop_h / crop.shape[0]))
        patch = cv2.resize(crop, (crop_w, crop_h), interpolation=cv2.INTER_AREA)
        alpha = _feathered(crop_h, crop_w)
        side = rng.choice([0.0, 0.7]) if rng.random() < 0.8 else 0.3  # pavements, sometimes the middle
        x = int((side + rng.uniform(0, 0.3)) * (width - crop_w))
        horizon = height / 2 + rng.uniform(-HORIZON_JITTER_PX, HORIZON_JITTER_PX)
        # Faces from a child's (1.0 m) to a tall adult's (1.8 m) height.
        face_center = horizon + below_horizon(face_h, FACE_HEIGHT_M, rng.uniform(1.0, 1.8))
        y = int(np.clip(face_center - (inner[1] + inner[3]) / 2 * crop_h, 0, height - crop_h))
        paste(scene, patch, alpha, x, y)
        box = inner * np.array([crop_w, crop_h] * 2) + np.array([x, y] * 2)
        box = np.minimum(box, np.array([width, height] * 2))
        pasted.append(Pasted(0, tuple(int(round(v)) for v in box)))
    for _ in range(n_plates):
        plate_w = int(rng.integers(26, 120))
        patch, alpha = oblique(render_plate(rng, plate_w), rng, strength=0.45)
        # Distance also softens: a light blur like a far, slightly out-of-focus plate.
        patch = cv2.GaussianBlur(patch, (3, 3), rng.uniform(0.1, 0.8))
        x = int(rng.uniform(0.05, 0.9) * (width - plate_w))
        horizon = height / 2 + rng.uniform(-HORIZON_JITTER_PX, HORIZON_JITTER_PX)
        plate_center = horizon + below_horizon(plate_w, PLATE_WIDTH_M, rng.uniform(0.3, 0.9))
        y = int(np.clip(plate_center - patch.shape[0] / 2, 0, height - patch.shape[0]))
        pasted.append(Pasted(1, paste(scene, patch, alpha, x, y)))
    return scene, pasted


def _feathered(height: int, width: int) -> np.ndarray:
    """Alpha that fades out at the crop border, so no hard rectangle edge gives the face away."""
    alpha = np.zeros((height, width), np.uint8)
    cv2.ellipse(alpha, (width // 2, height // 2), (width // 2, height // 2), 0, 0, 360, 255, -1)
    return cv2.GaussianBlur(alpha, (0, 0), max(1.0, min(height, width) / 10))


def write_hard_set(shared_data: Path, out_dir: Path, n_images: int = 40, seed: int = 0) -> int:
    """Write ``n_images`` hard road scenes to ``out_dir``/images and YOLO labels; returns the count."""
    backgrounds = sorted((shared_data / "road_damage_cpri" / "images").glob("*.jpg"))
    if not backgrounds:
        raise ValueError(f"no road photos found under {shared_data / 'road_damage_cpri' / 'images'}")
    faces = face_crops(shared_data / "faces_mask")
    rng = np.random.default_rng(seed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    for index in range(n_images):
        background = cv2.imread(str(backgrounds[int(rng.integers(len(backgrounds)))]))
        scene, pasted = compose_scene(background, faces, rng)
        name = f"hard_{index:04d}"
        cv2.imwrite(str(out_dir / "images" / f"{name}.jpg"), scene, [cv2.IMWRITE_JPEG_QUALITY, 90])
        (out_dir / "labels" / f"{name}.txt").write_text(_yolo_lines(pasted))
    logger.info("wrote %d hard scenes (%d face crops available) to %s", n_images, len(faces), out_dir)
    return n_images


def _yolo_lines(pasted: list[Pasted]) -> str:
    width, height = SCENE_SIZE
    lines = []
    for item in pasted:
        x1, y1, x2, y2 = item.xyxy
        cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{item.class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(lines) + "\n"
