"""Metric projections (pyproj) for distances in metres: UTM zone of the data by default."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)


def utm_crs(lon: float, lat: float) -> str:
    """EPSG code of the WGS 84 / UTM zone containing a point."""
    zone = min(60, max(1, int((lon + 180) // 6) + 1))
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


@dataclass(frozen=True)
class Projector:
    """WGS 84 ⇄ a metric CRS, for shapely geometries and coordinate arrays."""

    crs: str
    forward: Transformer
    inverse: Transformer

    def to_metric(self, geometry: BaseGeometry) -> BaseGeometry:
        """Project a WGS 84 (lon, lat) geometry to metres."""
        return shapely.transform(geometry, lambda xy: _apply(self.forward, xy))

    def to_wgs84(self, geometry: BaseGeometry) -> BaseGeometry:
        """Project a metric geometry back to WGS 84 (lon, lat)."""
        return shapely.transform(geometry, lambda xy: _apply(self.inverse, xy))


def _apply(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


@lru_cache(maxsize=16)
def projector(crs: str) -> Projector:
    """A cached projector to ``crs`` (e.g. ``EPSG:2154`` for France, or a UTM code)."""
    metric = CRS.from_user_input(crs)
    if not metric.is_projected:
        raise ValueError(f"metric CRS must be projected (metres), got {crs!r}")
    return Projector(
        crs=crs,
        forward=Transformer.from_crs("EPSG:4326", metric, always_xy=True),
        inverse=Transformer.from_crs(metric, "EPSG:4326", always_xy=True),
    )


def projector_for(lon: float, lat: float, crs: str | None = None) -> Projector:
    """The configured metric CRS, else the UTM zone of (lon, lat)."""
    return projector(crs or utm_crs(lon, lat))


def bearing_deg(x0: float, y0: float, x1: float, y1: float) -> float:
    """Compass bearing (0 = north, clockwise) of a metric segment."""
    return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0
