"""Ground points in metres -> latitude/longitude (WGS 84).

A damage seen 8 m ahead of the survey car is 8 m ahead of the car's GNSS fix, not at it;
a pole's counting line drawn in its site frame belongs on the map at the site's origin.
Both are a geodesic step from a known point (geographiclib), so positions stay exact at any
distance a camera can see.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from geographiclib.geodesic import Geodesic

logger = logging.getLogger(__name__)


def _check(lat: float, lon: float, points_m: np.ndarray) -> np.ndarray:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"origin must be a WGS 84 latitude/longitude, got ({lat}, {lon})")
    points = np.asarray(points_m, np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points_m must have shape (N, 2), got {points.shape}")
    return points


def east_north_to_latlon(origin_lat: float, origin_lon: float, points_m: np.ndarray) -> np.ndarray:
    """(N, 2) east/north metres from an origin -> (N, 2) latitude, longitude in degrees; NaN stays NaN."""
    points = _check(origin_lat, origin_lon, points_m)
    result = np.full(points.shape, np.nan)
    for i, (east, north) in enumerate(points):
        if not (math.isfinite(east) and math.isfinite(north)):
            continue
        azimuth = math.degrees(math.atan2(east, north))  # clockwise from north
        step = Geodesic.WGS84.Direct(origin_lat, origin_lon, azimuth, math.hypot(east, north))
        result[i] = (step["lat2"], step["lon2"])
    return result


def vehicle_to_latlon(lat: float, lon: float, heading_deg: float, points_m: np.ndarray) -> np.ndarray:
    """Vehicle-frame points (x right, y forward, metres; origin under the camera) -> latitude,
    longitude, given the camera's position and the car's heading (degrees clockwise from north).

    The fix must be the camera's position: correct for the antenna-to-camera offset first."""
    if not math.isfinite(heading_deg):
        raise ValueError(f"heading must be finite, got {heading_deg}")
    points = _check(lat, lon, points_m)
    heading = math.radians(heading_deg)
    # rotate (right, forward) into (east, north) by the heading
    east = points[:, 0] * math.cos(heading) + points[:, 1] * math.sin(heading)
    north = -points[:, 0] * math.sin(heading) + points[:, 1] * math.cos(heading)
    return east_north_to_latlon(lat, lon, np.column_stack([east, north]))
