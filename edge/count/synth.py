"""Synthetic pole-camera clips with known counts, for tests, the demo and the benchmark.

A side-on view of a street (orthographic: one ``pixels_per_metre`` everywhere) with a
sidewalk, a cycle lane and a traffic lane in each direction. Cars, trucks, motorcycles,
bicycles and pedestrians move both ways; one car stops with its anchor on the counting
line for a few seconds and jitters (the stop-and-go case). Objects in one lane never
overlap, so the ground truth is exact: each actor whose anchor passes the line while the
clip runs is one crossing.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

# length (m), height (m), BGR colour
SHAPES = {
    "pedestrian": (0.6, 1.75, (60, 40, 160)),
    "bicycle": (1.75, 1.7, (40, 140, 40)),
    "motorcycle": (2.3, 1.4, (30, 30, 30)),
    "car": (4.4, 1.5, (160, 80, 30)),
    "truck_bus": (9.0, 3.4, (40, 160, 200)),
}
# lane bottoms as a share of image height, per (direction, kind of lane)
LANES = {
    ("westbound", "walk"): 0.36, ("westbound", "cycle"): 0.46, ("westbound", "road"): 0.60,
    ("eastbound", "road"): 0.745, ("eastbound", "cycle"): 0.845, ("eastbound", "walk"): 0.95,
}
LANE_COLOURS = {"walk": (150, 160, 165), "cycle": (90, 120, 90), "road": (80, 80, 80)}
SPEED_MPS = {"pedestrian": 1.4, "bicycle": 5.0, "motorcycle": 11.0, "car": 10.0, "truck_bus": 8.0}
DIRECTIONS = ("eastbound", "westbound")
SYNTH_VERSION = 2  # bump when a change alters rendered clips (benchmark caches key on it)
_END_MARGIN_S = 2.5


@dataclass(frozen=True)
class Actor:
    """One road user: enters at ``enter_s``, moves at ``speed_mps``, may stop on the line."""

    class_name: str
    direction: str
    enter_s: float
    speed_mps: float
    stop_s: float = 0.0  # seconds standing with the anchor on the counting line
    colour: tuple[int, int, int] | None = None  # BGR body colour; None: the class's default

    @property
    def lane(self) -> str:
        return {"pedestrian": "walk", "bicycle": "cycle"}.get(self.class_name, "road")


@dataclass(frozen=True)
class Scene:
    """A clip's geometry and actors; ``line_x`` is the counting line (a vertical segment)."""

    width: int = 1280
    height: int = 720
    fps: float = 25.0
    duration_s: float = 60.0
    actors: tuple[Actor, ...] = ()
    ir_after_s: float | None = None  # from then on, frames are monochrome (IR) and darker

    @property
    def pixels_per_metre(self) -> float:
        return self.width / 1280 * 24.0

    @property
    def line_x(self) -> float:
        return self.width / 2

    def anchor_x(self, actor: Actor, t: float) -> float:
        """Where the actor's centre is at time ``t`` (pixels; may be off-screen)."""
        length = SHAPES[actor.class_name][0] * self.pixels_per_metre
        v = actor.speed_mps * self.pixels_per_metre
        start = -length if actor.direction == "eastbound" else self.width + length
        sign = 1 if actor.direction == "eastbound" else -1
        travel = max(0.0, t - actor.enter_s) * v
        to_line = abs(self.line_x - start)
        if actor.stop_s and travel > to_line:
            travel = max(to_line, travel - actor.stop_s * v)
        return start + sign * travel

    def crossing_time(self, actor: Actor) -> float:
        """When the actor's anchor reaches the line."""
        v = actor.speed_mps * self.pixels_per_metre
        length = SHAPES[actor.class_name][0] * self.pixels_per_metre
        return actor.enter_s + (self.line_x + length if actor.direction == "eastbound"
                                else self.width + length - self.line_x) / v + actor.stop_s

    def truth(self) -> Counter:
        """``{(class, direction): n}`` of the actors crossing the line while the clip runs."""
        return Counter((a.class_name, a.direction) for a in self.actors if self.crossing_time(a) < self.duration_s)


def _visible_colour(rng: np.random.Generator, ground: tuple[int, int, int]) -> tuple[int, int, int]:
    # Real traffic is not one colour; but camouflage (grey car on grey road) would make
    # the truth depend on the paint, not on the counter, so keep a visible contrast.
    while True:
        colour = rng.integers(20, 235, 3)
        if np.abs(colour - np.asarray(ground)).max() >= 60:
            return tuple(int(v) for v in colour)


def make_scene(duration_s: float = 60.0, width: int = 1280, height: int = 720, fps: float = 25.0,
               seed: int = 7, per_class: int | None = None, ir_after_s: float | None = None) -> Scene:
    """A scene with every class both ways, one stop-and-go car, no overlaps within a lane."""
    rng = np.random.default_rng(seed)
    per_class = per_class or max(1, int(duration_s / 15))
    wanted = [(name, d) for name in SHAPES for d in DIRECTIONS for _ in range(per_class)]
    rng.shuffle(wanted)
    actors: list[Actor] = [Actor("car", "eastbound", 0.5, 9.0, stop_s=3.0, colour=(40, 40, 170))]
    # Per lane: when the next actor may enter, and the speed and exit time of the last one.
    lanes: dict[tuple[str, str], tuple[float, float, float]] = {("eastbound", "road"): (8.5, 9.0, 11.0)}
    for i, (name, direction) in enumerate(wanted):
        speed = SPEED_MPS[name] * float(rng.uniform(0.85, 1.15))
        lane = {"pedestrian": "walk", "bicycle": "cycle"}.get(name, "road")
        free_at, leader_speed, leader_exit = lanes.get((direction, lane), (0.0, speed, 0.0))
        enter = max(i * (duration_s * 0.55) / max(1, len(wanted)), free_at)
        if enter < leader_exit:
            speed = min(speed, leader_speed)  # never catch up with the one ahead: lanes never overlap
        actors.append(Actor(name, direction, round(enter, 2), round(speed, 2),
                            colour=_visible_colour(rng, LANE_COLOURS[lane])))
        length = SHAPES[name][0]
        exit_s = enter + (width / (width / 1280 * 24.0) + 2 * length) / speed
        lanes[(direction, lane)] = (enter + (length + 4.0) / speed + 0.5, round(speed, 2), exit_s)
    scene = Scene(width, height, fps, duration_s, (), ir_after_s)
    # No crossing in the last seconds: whether it completes before the end would be a coin toss.
    kept = tuple(a for a in actors if scene.crossing_time(a) < duration_s - _END_MARGIN_S)
    return Scene(width, height, fps, duration_s, kept, ir_after_s)


def background_image(scene: Scene) -> np.ndarray:
    """The empty street of a scene (facades, sidewalks, cycle lanes, road)."""
    return _background(scene)


def _background(scene: Scene) -> np.ndarray:
    rng = np.random.default_rng(1)
    h, w = scene.height, scene.width
    image = np.zeros((h, w, 3), np.uint8)
    image[:] = (170, 150, 130)  # facades
    walk, cycle, road = LANE_COLOURS["walk"], LANE_COLOURS["cycle"], LANE_COLOURS["road"]
    bands = [(0.30, 0.37, walk), (0.37, 0.47, cycle), (0.47, 0.755, road), (0.755, 0.855, cycle), (0.855, 1.0, walk)]
    for top, bottom, colour in bands:
        image[int(top * h): int(bottom * h)] = colour
    cv2.line(image, (0, int(0.675 * h)), (w, int(0.675 * h)), (230, 230, 230), max(1, h // 240))
    texture = rng.normal(0, 6, (h, w, 1))
    return np.clip(image + texture, 0, 255).astype(np.uint8)


def _draw(image: np.ndarray, scene: Scene, actor: Actor, x: float, jitter: float) -> None:
    length_m, height_m, colour = SHAPES[actor.class_name]
    colour = actor.colour or colour
    ppm = scene.pixels_per_metre
    bottom = LANES[(actor.direction, actor.lane)] * scene.height + jitter
    x0, x1 = int(x - length_m * ppm / 2), int(x + length_m * ppm / 2)
    y0, y1 = int(bottom - height_m * ppm), int(bottom)
    if actor.class_name == "pedestrian":
        cv2.ellipse(image, ((x0 + x1) // 2, (y0 + y1) // 2 + (y1 - y0) // 8), ((x1 - x0) // 2, (y1 - y0) * 3 // 8),
                    0, 0, 360, colour, -1)
        cv2.circle(image, ((x0 + x1) // 2, y0 + (y1 - y0) // 8), (y1 - y0) // 8, (120, 150, 200), -1)
        return
    wheel = max(2, int(0.33 * ppm))
    body_bottom = y1 - wheel
    cv2.rectangle(image, (x0, y0), (x1, body_bottom), colour, -1)
    if actor.class_name in ("car", "truck_bus"):
        cv2.rectangle(image, (x0 + (x1 - x0) // 5, y0 + 2), (x1 - (x1 - x0) // 5, y0 + (body_bottom - y0) // 2),
                      (200, 190, 170), -1)
    for cx in (x0 + wheel, x1 - wheel):
        cv2.circle(image, (cx, y1 - wheel), wheel, (20, 20, 20), -1)


def _noise_pool(scene: Scene, rng: np.random.Generator, size: int = 7) -> list[np.ndarray]:
    # Drawing fresh Gaussian noise for every 720p frame costs more than the rest of the
    # render; a few fields used in turn (with an odd period) look the same to a detector.
    shape = (scene.height, scene.width, 1)
    return [np.clip(rng.normal(0, 2.0, shape), -8, 8).astype(np.int16) for _ in range(size)]


def render_frame(scene: Scene, background: np.ndarray, index: int, rng: np.random.Generator,
                 noise: list[np.ndarray] | None = None) -> np.ndarray:
    """Frame ``index`` of the scene: background, actors, sensor noise, IR if asked."""
    t = index / scene.fps
    image = background.copy()
    for actor in scene.actors:
        x = scene.anchor_x(actor, t)
        stopped = actor.stop_s and abs(x - scene.line_x) < 1e-6
        jitter = float(rng.normal(0, 1.5)) if stopped else 0.0
        _draw(image, scene, actor, x + jitter, jitter / 2)
    field = noise[index % len(noise)] if noise else rng.normal(0, 2.0, image.shape[:2] + (1,)).astype(np.int16)
    image = np.clip(image.astype(np.int16) + field, 0, 255).astype(np.uint8)
    if scene.ir_after_s is not None and t >= scene.ir_after_s:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        image = cv2.cvtColor((grey * 0.6).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    return image


def render_video(scene: Scene, path: Path) -> Path:
    """Write the scene as a video (MJPG in .avi, or mp4v in .mp4) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, scene.fps, (scene.width, scene.height))
    if not writer.isOpened():
        raise OSError(f"cannot write video {path}")
    background, rng = _background(scene), np.random.default_rng(3)
    noise = _noise_pool(scene, rng)
    try:
        for index in range(int(scene.duration_s * scene.fps)):
            writer.write(render_frame(scene, background, index, rng, noise))
    finally:
        writer.release()
    return path


def write_truth(scene: Scene, path: Path) -> Path:
    """The ground truth as the eval CSV: ``class,direction,count``."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "direction", "count"])
        for (name, direction), n in sorted(scene.truth().items()):
            writer.writerow([name, direction, n])
    return path


def scene_config(scene: Scene, **overrides: object) -> dict:
    """A counting config (as a mapping) matching the scene: one vertical line, named directions."""
    config = {
        # Rendered boxes are not COCO objects: the size-rule detector is the one that sees them.
        "camera_id": "synthetic", "pixels_per_metre": scene.pixels_per_metre, "detector": {"type": "background"},
        "lines": [{"id": "main", "start": [scene.line_x, 0.25 * scene.height],
                   "end": [scene.line_x, scene.height], "directions": ["eastbound", "westbound"],
                   "hysteresis": 0.5 * scene.pixels_per_metre, "min_travel": 1.0 * scene.pixels_per_metre}],
    }
    config.update(overrides)
    return config
