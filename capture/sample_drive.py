"""The sample drive: a short road video and its GNSS track, generated deterministically.

So the survey (and the demo) run with no camera and no GPS receiver, the project renders
its own drive: a forward camera over a procedural asphalt road with lane markings and
pavement damage painted at known places, a pedestrian (a real, public-domain face, see
``capture/assets/SOURCE.md``) and a parked car with a made-up plate, a stop at a junction
and a right turn. The GNSS track (NMEA and GPX, 10 Hz, seeded noise) covers the same
drive with the same clock as the video. ``truth.json`` says where everything is.

The road is drawn once as a top-down texture "unrolled" along the path (so the turn is
in the track, not in the picture) and each frame is one perspective warp of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
from geographiclib.geodesic import Geodesic

from voirie.capture.gnss import write_gpx, write_nmea
from voirie.capture.gnss_sim import Leg, Receiver, simulate_drive

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1  # bump when the picture or track changes: the cache is rebuilt
WIDTH, HEIGHT, FPS = 1280, 720, 25.0
START = (47.25955, -0.07802)  # Saumur (Maine-et-Loire), heading east, then right at a junction
START_UTC = datetime(2025, 5, 14, 8, 30, 0, tzinfo=timezone.utc)
# The speed profile: off at 8 m/s, up to 12 m/s, brake to a stop at the junction, stand,
# turn right while pulling away, cruise. Max 12 m/s so a 25 f/s frame is < 0.5 m of road.
LEGS = (
    Leg(3.0, 8.0, 12.0),
    Leg(4.0, 12.0),
    Leg(3.5, 12.0, 0.0),
    Leg(3.5, 0.0),
    Leg(3.0, 0.0, 8.0, turn_deg=90.0),
    Leg(7.0, 8.0, 11.0),
)
RECEIVER = Receiver(rate_hz=10.0, jitter_m=0.15, speed_noise_mps=0.08, eph_m=1.5, seed=7)

# Camera: 1.5 m up, pitched 3 degrees down, ~65 degree horizontal field of view.
CAM_HEIGHT_M, CAM_PITCH_DEG, FOCAL_PX = 1.5, 3.0, 1000.0
TEXTURE_RES_M = 0.02  # metres per texture pixel
HALF_WIDTH_M = 6.0  # texture covers -6 m (left) .. +6 m (right) of the road axis
ROAD_HALF_M = 3.5
VIEW_NEAR_M, VIEW_FAR_M = 2.0, 60.0

# Pavement damage painted on the road: kind, along-track start/end (m), lateral from/to (m, + right).
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
PERSON = {"s_m": 62.0, "x_m": 2.7, "height_m": 1.77}  # waiting at the kerb to cross
CAR = {"s_m": 126.0, "x_m": 2.6, "plate": "AB-123-CD"}
ASSETS = Path(__file__).with_name("assets")


@dataclass(frozen=True)
class SampleDrive:
    """Paths of a generated drive and its clock."""

    video: Path
    nmea: Path
    gpx: Path
    truth: Path
    start_utc: datetime
    fps: float
    frames: int


def default_dir() -> Path:
    """Where the sample drive is cached: ``$VOIRIE_DATA/sample_drive`` (default ``data/``)."""
    return Path(os.environ.get("VOIRIE_DATA", "data")) / "sample_drive"


def make_sample_drive(out_dir: str | Path | None = None, *, force: bool = False) -> SampleDrive:
    """Generate the sample drive into ``out_dir`` (cached: reused when already there)."""
    out = Path(out_dir) if out_dir is not None else default_dir()
    out.mkdir(parents=True, exist_ok=True)
    drive = SampleDrive(out / "drive.mp4", out / "drive.nmea", out / "drive.gpx", out / "truth.json",
                        START_UTC, FPS, _frame_count())
    if not force and _cached(drive):
        logger.info("sample drive already in %s", out)
        return drive
    simulated = simulate_drive(START, START_UTC, 90.0, LEGS, RECEIVER)
    write_nmea(simulated.fixes, drive.nmea)
    write_gpx(simulated.fixes, drive.gpx, name="voirie sample drive (Saumur)")
    truth = _render_video(drive.video)
    truth.update(_route_truth(simulated))
    drive.truth.write_text(json.dumps(truth, indent=1, sort_keys=True), encoding="utf-8")
    logger.info("sample drive written to %s (%d frames)", out, drive.frames)
    return drive


def _cached(drive: SampleDrive) -> bool:
    if not all(p.is_file() and p.stat().st_size > 0 for p in (drive.video, drive.nmea, drive.gpx, drive.truth)):
        return False
    try:
        return json.loads(drive.truth.read_text(encoding="utf-8")).get("generator_version") == GENERATOR_VERSION
    except ValueError:
        return False


def _duration_s() -> float:
    return sum(leg.duration_s for leg in LEGS)


def _frame_count() -> int:
    return int(round(_duration_s() * FPS))


def odometer_at(t: float) -> float:
    """True distance driven (m) ``t`` seconds after the start (speed linear within a leg)."""
    travelled = 0.0
    for leg in LEGS:
        dt = min(max(t, 0.0), leg.duration_s)
        travelled += (leg.speed_at(0.0) + leg.speed_at(dt)) / 2.0 * dt
        t -= leg.duration_s
        if t <= 0:
            break
    return travelled


def stop_interval_s() -> tuple[float, float]:
    """Start and end (seconds from the start) of the stop at the junction."""
    start = sum(leg.duration_s for leg in LEGS[:3])
    return start, start + LEGS[3].duration_s


def _route_truth(simulated) -> dict:
    stop = stop_interval_s()
    geod = Geodesic.WGS84
    route = [list(p) for p in simulated.true_positions[:: max(1, int(RECEIVER.rate_hz // 2))]]
    damage = []
    for kind, s0, s1, x0, x1 in DAMAGE:
        lat, lon = _position_at(simulated, (s0 + s1) / 2.0)
        damage.append({"kind": kind, "s_from_m": s0, "s_to_m": s1, "x_from_m": x0, "x_to_m": x1,
                       "lat": lat, "lon": lon})
    length = geod.Inverse(*simulated.true_positions[0], *simulated.true_positions[-1])["s12"]
    return {
        "generator_version": GENERATOR_VERSION, "fps": FPS, "width": WIDTH, "height": HEIGHT,
        "start_utc": START_UTC.isoformat(), "duration_s": _duration_s(), "frames": _frame_count(),
        "route_length_m": round(simulated.odometer_m[-1], 3), "start_to_end_m": round(length, 3),
        "stop": {"from_s": stop[0], "to_s": stop[1], "s_m": round(odometer_at(stop[0]), 3)},
        "route_latlon": route, "damage": damage, "person": PERSON, "car": CAR,
        "fix_rate_hz": RECEIVER.rate_hz, "gnss_jitter_m": RECEIVER.jitter_m,
    }


def _position_at(simulated, s: float) -> tuple[float, float]:
    """True (lat, lon) where the odometer reads ``s`` (nearest simulated sample)."""
    index = int(np.argmin(np.abs(np.asarray(simulated.odometer_m) - s)))
    return simulated.true_positions[index]


# --- rendering --------------------------------------------------------------------------

def _render_video(path: Path) -> dict:
    from voirie.capture import sample_scene as scene

    texture = scene.road_texture(odometer_at(_duration_s()) + VIEW_FAR_M + 5.0)
    background = scene.background()
    sprites = scene.Sprites.load(ASSETS / "face_astronaut.jpg", CAR["plate"])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an MPEG-4 video to {path}")
    per_frame = []
    try:
        for index in range(_frame_count()):
            s_cam = odometer_at(index / FPS)
            image = scene.render_frame(texture, background, s_cam)
            boxes = sprites.draw(image, s_cam)
            writer.write(image)
            per_frame.append({"s_m": round(s_cam, 4), **boxes})
    finally:
        writer.release()
    return {"per_frame": per_frame, "video_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
