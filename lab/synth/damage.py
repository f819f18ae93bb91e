"""Synthetic pavement damage with exact labels: ``voirie train synth-damage``.

Each image is a road scene drawn by the road renderer (``capture/sample_scene``)
with its own seed, camera (height, pitch, focal length, frame size), asphalt, damage
(cracks, alligator cracking, potholes, unlabelled patches and manhole covers), light and
shadows. The boxes are not guessed from the picture: every damage item is painted into an
instance mask with the same strokes as into the texture, and its pixels go through the
camera's homography (``sample_scene.damage_boxes``). Classes are the shipped damage
model's: 0 ``crack``, 1 ``pothole``. ``sample_drive_dataset`` writes the demo's own frames
(real photos) with their human labels, to measure what a model finds on the demo.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from rich.progress import track

from voirie.lab.sample import scene as scene
from voirie.lab.sample.scene import HALF_WIDTH_M, ROAD_HALF_M, TEXTURE_RES_M

logger = logging.getLogger(__name__)

CLASS_NAMES = ("crack", "pothole")
ROAD_LENGTH_M = 70.0  # texture drawn per image; the camera stands at S_CAM_M on it
S_CAM_M = 4.0
FRAME_SIZES = ((1280, 720), (1024, 640), (1280, 720))  # the sample drive's, the cpri photos', weighted 2:1


@dataclass(frozen=True)
class SynthConfig:
    """How many images, from which seed, and the smallest box kept (pixels of the frame: both
    sides at least ``min_side_px``, the longer one at least ``min_box_px``)."""

    images: int = 400
    seed: int = 1
    min_box_px: float = 12.0
    min_side_px: float = 3.0
    jpeg_quality: tuple[int, int] = (60, 95)


def random_camera(rng: np.random.Generator) -> scene.Camera:
    """A dash- or roof-mounted camera: 1.2-2.8 m up, 2-24 degrees down, 55-75 degree field of view."""
    width, height = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    focal = width / 2.0 / math.tan(math.radians(rng.uniform(55.0, 75.0)) / 2.0)
    cam_height, pitch = rng.uniform(1.2, 2.8), rng.uniform(2.0, 24.0)
    # The nearest road the bottom row sees: draw from a little closer so the frame is full.
    down = math.radians(pitch) + math.atan(height / 2.0 / focal)
    near = max(0.3, 0.9 * cam_height / math.tan(min(down, math.radians(80.0))))
    return scene.Camera(height_m=cam_height, pitch_deg=pitch, focal_px=focal, width=width, height=height,
                        near_m=near, far_m=ROAD_LENGTH_M - S_CAM_M - 1.0)


def random_damage(rng: np.random.Generator, near_m: float) -> tuple:
    """Damage items as ``sample_scene`` draws them: (kind, s from, s to, x from, x to)."""
    items = []
    for _ in range(int(rng.integers(1, 7))):
        kind = rng.choice(["longitudinal_crack", "transverse_crack", "alligator_crack", "pothole", "patch"],
                          p=[0.2, 0.2, 0.2, 0.3, 0.1])
        s = S_CAM_M + near_m + rng.uniform(0.5, 24.0)
        x = rng.uniform(-ROAD_HALF_M + 0.5, ROAD_HALF_M - 0.5)
        if kind == "longitudinal_crack":
            items.append((kind, s, s + rng.uniform(1.5, 9.0), x, x + rng.normal(0, 0.3)))
        elif kind == "transverse_crack":
            width = rng.uniform(1.0, 6.0)
            x0 = float(np.clip(x - width / 2, -ROAD_HALF_M, ROAD_HALF_M - 1.0))
            items.append((kind, s, s, x0, min(ROAD_HALF_M, x0 + width)))
        elif kind in ("alligator_crack", "patch"):
            items.append((kind, s, s + rng.uniform(0.8, 4.0), x, min(ROAD_HALF_M, x + rng.uniform(0.8, 2.2))))
        else:
            diameter = rng.uniform(0.25, 1.2)
            items.append((kind, s, s + diameter * rng.uniform(0.6, 1.2), x, x + diameter))
    return tuple(items)


def random_asphalt(rng: np.random.Generator) -> scene.Asphalt:
    """Fresh black to worn grey asphalt, fine to coarse grain."""
    return scene.Asphalt(base=rng.uniform(60, 135), grain=rng.uniform(8, 30), patches=rng.uniform(3, 15),
                         sidewalk=int(rng.integers(15, 70)))


def _texture_px(s: float, x: float) -> tuple[int, int]:
    return int(round((x + HALF_WIDTH_M) / TEXTURE_RES_M)), int(round(s / TEXTURE_RES_M))


def _irregular_pothole(texture: np.ndarray, instances: np.ndarray, rng: np.random.Generator,
                       centre: tuple[int, int], value: int) -> None:
    """A ragged pothole: a dark hole inside a lighter broken rim."""
    radius = rng.uniform(0.12, 0.6) / TEXTURE_RES_M
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(8, 16))))
    radii = radius * rng.uniform(0.6, 1.25, len(angles))
    stretch = rng.uniform(0.6, 1.4)  # wider than long, or longer than wide
    outer = np.stack((centre[0] + radii * np.cos(angles) * stretch, centre[1] + radii * np.sin(angles)), 1)
    inner = centre + (outer - centre) * rng.uniform(0.7, 0.9)
    rim, hole = rng.uniform(55, 110), rng.uniform(12, 50)
    cv2.fillPoly(texture, [outer.astype(np.int32)], (rim,) * 3)
    cv2.fillPoly(texture, [inner.astype(np.int32)], (hole, hole, hole + rng.uniform(0, 6)))
    for polygon in (outer, inner):  # both: rounding can put an inner pixel just outside the rim
        cv2.fillPoly(instances, [polygon.astype(np.int32)], value)


def _meandering_crack(texture: np.ndarray, instances: np.ndarray, rng: np.random.Generator,
                      start: tuple[int, int], value: int) -> None:
    """A random-walk crack with one possible branch, thin to wide, dark grey to black."""
    heading, colour, width = rng.uniform(0, np.pi), (rng.uniform(15, 65),) * 3, int(rng.integers(1, 5))
    for branch in range(1 + int(rng.random() < 0.4)):
        steps = rng.normal(0, 0.25, int(rng.integers(15, 60))).cumsum() + heading + branch * rng.choice([-1, 1])
        lengths = rng.uniform(0.04, 0.12, len(steps)) / TEXTURE_RES_M
        points = np.array(start) + np.cumsum(np.stack((np.cos(steps), np.sin(steps)), 1) * lengths[:, None], 0)
        points = np.vstack((start, points)).astype(np.int32)
        cv2.polylines(texture, [points], False, colour, width)
        cv2.polylines(instances, [points], False, value, width)
        start = tuple(points[len(points) // 2])


def extra_damage(texture: np.ndarray, instances: np.ndarray, rng: np.random.Generator, first: int,
                 near_m: float) -> list[int | None]:
    """Shapes the sample drive lacks, painted after it: ragged potholes, meandering cracks and
    (unlabelled, and erased from the mask) manhole covers. Returns each new item's class."""
    classes: list[int | None] = []
    for _ in range(int(rng.integers(0, 4))):
        kind = rng.choice(["pothole", "crack", "manhole"], p=[0.4, 0.45, 0.15])
        centre = _texture_px(S_CAM_M + near_m + rng.uniform(0.5, 20.0), rng.uniform(-3.0, 3.0))
        value = first + len(classes) + 1
        if kind == "pothole":
            _irregular_pothole(texture, instances, rng, centre, value)
        elif kind == "crack":
            _meandering_crack(texture, instances, rng, centre, value)
        else:
            radius = int(0.32 / TEXTURE_RES_M)
            cv2.circle(texture, centre, radius, (rng.uniform(60, 120),) * 3, -1)
            cv2.circle(texture, centre, radius, (30, 30, 30), 2)
            cv2.circle(instances, centre, radius + 1, 0, -1)  # covers whatever damage was there
        classes.append({"pothole": scene.POTHOLE_CLASS, "crack": scene.CRACK_CLASS}.get(str(kind)))
    return classes


def _light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Soft shadows, exposure, contrast, gamma, colour cast, blur and sensor noise."""
    height, width = image.shape[:2]
    shade = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(0, 4))):
        polygon = np.stack((rng.uniform(-0.2, 1.2, 5) * width, rng.uniform(0.3, 1.1, 5) * height), 1)
        cv2.fillPoly(shade, [polygon.astype(np.int32)], float(rng.uniform(0.2, 0.55)))
    shade = cv2.GaussianBlur(np.minimum(shade, 0.6), (0, 0), rng.uniform(2, 12))
    pixels = image.astype(np.float32) * (1.0 - shade[..., None]) / 255.0
    pixels = np.clip(pixels * rng.uniform(0.7, 1.3) + rng.uniform(-0.12, 0.12), 0, 1) ** rng.uniform(0.7, 1.4)
    pixels = pixels * rng.uniform(0.9, 1.1, 3) * 255.0
    if rng.random() < 0.5:
        pixels = cv2.GaussianBlur(pixels, (0, 0), rng.uniform(0.4, 1.3))
    pixels += rng.normal(0, rng.uniform(0, 6), pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _scene(index: int, config: SynthConfig) -> tuple:
    """Camera, texture, instance mask, class per instance, rendered frame and the random
    generator (for the light) of image ``index``: shared by the box and mask variants."""
    rng = np.random.default_rng([config.seed, index])
    camera = random_camera(rng)
    damage = random_damage(rng, camera.near_m)
    texture, instances = scene.labelled_road_texture(ROAD_LENGTH_M, damage, int(rng.integers(2**31)), random_asphalt(rng))
    classes = [scene.DAMAGE_CLASSES.get(item[0]) for item in damage]
    classes += extra_damage(texture, instances, rng, len(damage), camera.near_m)
    image = scene.render_frame(texture, scene.background(camera), S_CAM_M, camera)
    return camera, texture, instances, classes, image, rng


def synth_image(index: int, config: SynthConfig = SynthConfig()) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Image ``index`` of the set ``config.seed`` and its boxes as (class id, xyxy pixels)."""
    camera, texture, instances, classes, image, rng = _scene(index, config)
    found = scene.damage_boxes(scene.instance_pixels(instances), len(texture), S_CAM_M, camera, config.min_side_px)
    return _light(image, rng), [(classes[k], box) for k, box in found if classes[k] is not None and _big(box, config)]


def synth_image_with_masks(index: int, config: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Image ``index`` of the set ``config.seed`` (the same picture as :func:`synth_image`) and its
    per-class damage masks, C×H×W uint8 0/1 in CLASS_NAMES order, rendered from the instance texture."""
    camera, _, instances, classes, image, rng = _scene(index, config)
    lookup = np.zeros(int(instances.max()) + 1, np.uint8)
    for k, cls in enumerate(classes):
        if cls is not None and k + 1 < len(lookup):
            lookup[k + 1] = cls + 1
    labels = scene.render_labels(lookup[instances], S_CAM_M, camera)
    masks = np.stack([(labels == cls + 1).astype(np.uint8) for cls in range(len(CLASS_NAMES))])
    return _light(image, rng), masks


def _big(box: np.ndarray, config: SynthConfig) -> bool:
    """Long enough to be seen at the model's input size (smaller ones stay unlabelled)."""
    return max(box[2] - box[0], box[3] - box[1]) >= config.min_box_px


def yolo_lines(boxes: list[tuple[int, np.ndarray]], width: int, height: int) -> list[str]:
    """``class cx cy w h`` label lines, normalised to the frame."""
    return [f"{c} {(b[0] + b[2]) / 2 / width:.6f} {(b[1] + b[3]) / 2 / height:.6f} "
            f"{(b[2] - b[0]) / width:.6f} {(b[3] - b[1]) / height:.6f}" for c, b in boxes]


def _write_sample(out: Path, stem: str, image: np.ndarray, boxes: list, quality: int) -> None:
    cv2.imwrite(str(out / "images" / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    lines = yolo_lines(boxes, image.shape[1], image.shape[0])
    (out / "labels" / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))


def _start_folder(out: Path, about: dict) -> None:
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    spec = {"path": str(out.resolve()), "train": "images", "val": "images",
            "names": dict(enumerate(CLASS_NAMES)), "voirie": about}
    (out / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def write_synth_dataset(out: Path, config: SynthConfig = SynthConfig()) -> dict[str, int]:
    """Write ``config.images`` labelled scenes as a YOLO folder; returns image and box counts."""
    out = Path(out)
    _start_folder(out, {"generator": "voirie.lab.synth.damage", "seed": config.seed, "min_box_px": config.min_box_px})
    counts = {"images": 0, "crack": 0, "pothole": 0}
    for index in track(range(config.images), description=f"synthetic damage (seed {config.seed})"):
        image, boxes = synth_image(index, config)
        quality = int(np.random.default_rng([config.seed, index, 1]).integers(*config.jpeg_quality))
        _write_sample(out, f"synth{config.seed}_{index:05d}", image, boxes, quality)
        counts["images"] += 1
        for cls, _ in boxes:
            counts[CLASS_NAMES[cls]] += 1
    logger.info("wrote %s to %s", counts, out)
    return counts


def draw_boxes(image: np.ndarray, boxes: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """The frame with its labels: crack boxes green, pothole boxes red."""
    canvas = image.copy()
    for cls, box in boxes:
        colour = (0, 200, 0) if cls == scene.CRACK_CLASS else (0, 0, 230)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 2)
        cv2.putText(canvas, CLASS_NAMES[cls], (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    return canvas


def write_preview(path: Path, config: SynthConfig = SynthConfig(), count: int = 6, tile: tuple[int, int] = (640, 380)) -> Path:
    """A PNG grid of the first ``count`` scenes of a set with their boxes, two per row."""
    tiles = [cv2.resize(draw_boxes(*synth_image(i, config)), tile, interpolation=cv2.INTER_AREA) for i in range(count)]
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), grid)
    return Path(path)


def sample_drive_dataset(out: Path, drive_dir: Path | None = None, spacing_m: float = 4.0) -> dict[str, int]:
    """The sample drive's video frames, one every ``spacing_m`` (as the survey takes them), with
    the human damage labels of the photo each one shows: a YOLO folder to score a model on the demo."""
    from voirie.lab.sample import drive as drive_cfg

    drive = drive_cfg.make_sample_drive(drive_dir)
    truth = json.loads(drive.truth.read_text(encoding="utf-8"))
    _start_folder(Path(out), {"generator": "voirie.lab.synth.damage.sample_drive_dataset", "spacing_m": spacing_m})
    capture, next_s, counts = cv2.VideoCapture(str(drive.video)), 0.0, {"images": 0, **dict.fromkeys(CLASS_NAMES, 0)}
    try:
        for index, frame in enumerate(truth["per_frame"]):
            ok, image = capture.read()
            if not ok or frame["s_m"] < next_s:
                continue
            next_s = frame["s_m"] + spacing_m
            damage = truth["photos"][frame["photo"]]["damage"]
            boxes = [(CLASS_NAMES.index(item["class"]), np.array(item["xyxy"])) for item in damage]
            _write_sample(Path(out), f"drive_{index:04d}", image, boxes, 95)
            counts["images"] += 1
            for item in damage:
                counts[item["class"]] += 1
    finally:
        capture.release()
    return counts


def write_mixed_yaml(out: Path, real: Path, synth_dir: Path, synth_count: int, val: list[Path]) -> Path:
    """An ultralytics data YAML training on ``real``'s train images plus the first
    ``synth_count`` synthetic ones (listed in ``out``'s .txt), validated on ``val`` folders."""
    real_images = Path(real) / "train" / "images"
    synthetic = sorted((Path(synth_dir) / "images").glob("*.jpg"))[:synth_count]
    if not real_images.is_dir() or len(synthetic) < synth_count:
        raise ValueError(f"need {real_images} and {synth_count} images in {synth_dir / 'images'}")
    listing = Path(out).with_suffix(".txt")
    photos = sorted(p for p in real_images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    listing.write_text("".join(f"{p.absolute()}\n" for p in [*photos, *synthetic]))
    spec = {"train": str(listing.absolute()), "val": [str((Path(v) / "images").absolute()) for v in val],
            "names": dict(enumerate(CLASS_NAMES))}
    Path(out).write_text(yaml.safe_dump(spec, sort_keys=False))
    logger.info("%s: %d real + %d synthetic training images", out, len(photos), len(synthetic))
    return Path(out)
