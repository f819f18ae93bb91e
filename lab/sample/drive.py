"""The sample drive: a short road video and its GNSS track, generated deterministically.

So the survey (and the demo) run with no camera and no GPS receiver, the project builds
its own drive from real road photos shipped with it (``capture/sample_photos``, MIT, see
``assets/sample_photos/NOTICE``): the frame at time ``t`` shows the photo of the stretch
driven by then, about one photo per 4 m, the same photo while the car stands. A made-up
pedestrian (a real, public-domain face, see ``lab/sample/assets/SOURCE.md``) and a parked car
with a made-up plate are pasted in for the anonymizer. The drive stops at a junction and
turns right: the photos of a second road follow. The GNSS track (NMEA and GPX, 10 Hz,
seeded noise) covers the same drive with the same clock as the video. ``truth.json`` says
which photo each frame shows, its human damage labels, and where the face and plate are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from geographiclib.geodesic import Geodesic

from voirie.lab.sample import scene as scene
from voirie.capture.gnss import write_gpx, write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.lab.sample.photos import FIRST_ROAD, LABEL_NAMES, SECOND_ROAD, photo_frame

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 2  # bump when the picture or track changes: the cache is rebuilt (2: real photos)
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

# Pasted onto the photos with the rendered scene's camera (sample_scene): metres along the drive and right of it.
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
    truth, photos = _photo_video(drive.video)
    truth.update(_route_truth(simulated, photos))
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


def photo_stretches() -> list[tuple[str, float, float]]:
    """Each photo of the drive, in order, with the odometer stretch (from, to, in m) it shows.

    Each road's photos share its length evenly (about 4 m each), so every photo is seen;
    the second road starts where the car turns at the junction.
    """
    turn_s, end_s = odometer_at(stop_interval_s()[1]), odometer_at(_duration_s())
    stretches = []
    for road, start, end in ((FIRST_ROAD, 0.0, turn_s), (SECOND_ROAD, turn_s, end_s)):
        step = (end - start) / len(road)
        stretches += [(sample_id, start + k * step, start + (k + 1) * step) for k, sample_id in enumerate(road)]
    return stretches


def photo_index_at(t: float, stretches: list[tuple[str, float, float]]) -> int:
    """Index (in ``stretches``) of the photo the frame at ``t`` s shows; the first road's last
    one while the car stands at the junction, the second road's from the turn on."""
    s = odometer_at(t)
    on_first_road = t < stop_interval_s()[1]
    candidates = range(len(FIRST_ROAD)) if on_first_road else range(len(FIRST_ROAD), len(stretches))
    return next((k for k in candidates if s < stretches[k][2]), candidates[-1])


def _route_truth(simulated, photos: list[dict]) -> dict:
    stop = stop_interval_s()
    geod = Geodesic.WGS84
    route = [list(p) for p in simulated.true_positions[:: max(1, int(RECEIVER.rate_hz // 2))]]
    for photo in photos:
        photo["lat"], photo["lon"] = _position_at(simulated, (photo["from_s_m"] + photo["to_s_m"]) / 2.0)
    length = geod.Inverse(*simulated.true_positions[0], *simulated.true_positions[-1])["s12"]
    return {
        "generator_version": GENERATOR_VERSION, "fps": FPS, "width": WIDTH, "height": HEIGHT,
        "start_utc": START_UTC.isoformat(), "duration_s": _duration_s(), "frames": _frame_count(),
        "route_length_m": round(simulated.odometer_m[-1], 3), "start_to_end_m": round(length, 3),
        "stop": {"from_s": stop[0], "to_s": stop[1], "s_m": round(odometer_at(stop[0]), 3)},
        "route_latlon": route, "photos": photos, "label_names": list(LABEL_NAMES), "person": PERSON, "car": CAR,
        "fix_rate_hz": RECEIVER.rate_hz, "gnss_jitter_m": RECEIVER.jitter_m,
    }


def _position_at(simulated, s: float) -> tuple[float, float]:
    """True (lat, lon) where the odometer reads ``s`` (nearest simulated sample)."""
    index = int(np.argmin(np.abs(np.asarray(simulated.odometer_m) - s)))
    return simulated.true_positions[index]


# --- the video ---------------------------------------------------------------------------

def _photo_video(path: Path) -> tuple[dict, list[dict]]:
    """Write the video, photo after photo with the sprites pasted in; (per-frame truth, photos)."""
    stretches = photo_stretches()
    photos = [{"sample_id": sample_id, "from_s_m": round(s0, 3), "to_s_m": round(s1, 3)} for sample_id, s0, s1 in stretches]
    sprites = scene.Sprites.load(ASSETS / "face_astronaut.jpg", PERSON, CAR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an MPEG-4 video to {path}")
    per_frame, shown, photo = [], None, None
    try:
        for index in range(_frame_count()):
            t = index / FPS
            k = photo_index_at(t, stretches)
            if k != shown:  # frames are in drive order: only the current photo is kept
                photo, photos[k]["damage"] = photo_frame(stretches[k][0], (WIDTH, HEIGHT))
                shown = k
            image = photo.copy()
            boxes = sprites.draw(image, odometer_at(t))
            writer.write(image)
            per_frame.append({"s_m": round(odometer_at(t), 4), "photo": k, **boxes})
    finally:
        writer.release()
    return {"per_frame": per_frame, "video_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}, photos
