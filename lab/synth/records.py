"""Realistic ``FrameRecord``s along a polyline, for tests, benchmarks and the demo when no
survey ran: one frame every ``spacing_m`` with heading, speed and damage detections, and
optional blurred-looking evidence JPEGs (grey asphalt with dark crack strokes)."""

from __future__ import annotations

import io
import logging
import random
from datetime import datetime, timedelta, timezone

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from shapely.geometry import LineString

from voirie.records import Detection, FrameRecord, GeoFix
from voirie.server.geo import bearing_deg, projector_for

logger = logging.getLogger(__name__)

DAMAGE_CLASSES = ("longitudinal_crack", "transverse_crack", "alligator_crack", "pothole")


def frames_along(coords: list[tuple[float, float]], *, device_id: str = "car-1", survey_id: str = "survey-1",
                 camera_id: str = "front", spacing_m: float = 4.0, start: datetime | None = None,
                 damage_rate: float = 0.3, seed: int = 0, model_version: str = "rdd-yolo@1.0",
                 first_sequence: int = 0, size: tuple[int, int] = (1280, 720)) -> list[FrameRecord]:
    """Frames every ``spacing_m`` along (lon, lat) ``coords``, driving at ~30 km/h."""
    rng = random.Random(seed)
    line = LineString(coords)
    proj = projector_for(line.centroid.x, line.centroid.y)
    metric = proj.to_metric(line)
    start = start or datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
    frames = []
    for k, along in enumerate(np.arange(0.0, metric.length, spacing_m)):
        p, q = metric.interpolate(along), metric.interpolate(min(metric.length, along + 1.0))
        if along + 1.0 > metric.length:
            p = metric.interpolate(max(0.0, along - 1.0))
        lon, lat = proj.inverse.transform(metric.interpolate(along).x, metric.interpolate(along).y)
        sequence = first_sequence + k
        time = start + timedelta(seconds=along / 8.3)
        detections = tuple(_detection(rng, size) for _ in range(_poisson(rng, damage_rate)))
        frames.append(FrameRecord(
            record_id=FrameRecord.make_id(device_id, survey_id, camera_id, sequence), device_id=device_id,
            survey_id=survey_id, camera_id=camera_id, sequence=sequence, time_utc=time,
            fix=GeoFix(lat=lat, lon=lon, time_utc=time, speed_mps=8.3, eph_m=2.5,
                       heading_deg=round(bearing_deg(p.x, p.y, q.x, q.y), 1)),
            distance_m=float(along), image_width=size[0], image_height=size[1], detections=detections,
            model_id="rdd-yolo", model_version=model_version, anonymizer="centerface@1+plates@1",
            image_file=f"{camera_id}_{sequence:06d}.jpg"))
    return frames


def _poisson(rng: random.Random, rate: float) -> int:
    count, threshold, product = 0, np.exp(-rate), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _detection(rng: random.Random, size: tuple[int, int]) -> Detection:
    w, h = size
    x1, y1 = rng.uniform(0, w * 0.7), rng.uniform(h * 0.5, h * 0.85)
    bw, bh = rng.uniform(40, w * 0.3), rng.uniform(20, h * 0.15)
    return Detection(class_name=rng.choice(DAMAGE_CLASSES), confidence=round(rng.uniform(0.35, 0.95), 3),
                     box_xyxy=(x1, y1, min(w, x1 + bw), min(h, y1 + bh)))


def evidence_jpeg(record: FrameRecord, quality: int = 70) -> bytes:
    """A small road-like JPEG for a frame (asphalt grey, a horizon, damage strokes)."""
    w, h = record.image_width // 4, record.image_height // 4
    image = Image.new("RGB", (w, h), (96, 98, 102))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, w, h // 3), fill=(150, 180, 210))
    for d in record.detections:
        x1, y1, x2, y2 = (v / 4 for v in d.box_xyxy)
        draw.line((x1, y1, x2, y2), fill=(30, 30, 30), width=2)
    # Evidence is a thumbnail (half size): boxes are in full-image pixels, the map scales them.
    image = image.filter(ImageFilter.GaussianBlur(1)).resize((w * 2, h * 2))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
