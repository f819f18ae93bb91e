"""Mapbox Vector Tiles of the road condition: layer ``sections`` (grade, PCI, damage counts)
and layer ``works`` (the latest plan's planned works).

Below ``RAW_FROM_ZOOM`` the sections layer reads the merged pieces of ``section_overview``
(see ``voirie.server.overview``), without ids or per-class counts. On PostGIS the database makes the sections layer
(``ST_AsMVT``, ``voirie.server.tiles_postgis``); elsewhere this module encodes it with the
``mapbox-vector-tile`` package. Works are few (a budget's worth) and live in plan files,
not tables: they are encoded here on every backend, from an in-memory index. A tile is a
protobuf message whose layers are a repeated field, so the two layers' bytes concatenate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timezone
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from voirie.server.models import Section, SectionOverview
from voirie.server.overview import overview_level
from voirie.server.spatial import EARTH_RADIUS_M, MAX_MERCATOR_LAT, from_mercator

MAX_ZOOM = 24
EXTENT = 4096  # tile units per side
BUFFER = 64  # tile units drawn beyond the edge, so line caps do not stop at tile seams
HALF_WORLD_M = math.pi * EARTH_RADIUS_M
_ENCODE_OPTIONS = {"extents": EXTENT, "y_coord_down": True}


class TileAddressError(ValueError):
    """A z/x/y that names no tile."""


@dataclass(frozen=True)
class TileAddress:
    """One tile of the Web Mercator (EPSG:3857) pyramid, XYZ numbering (y down from the north)."""

    z: int
    x: int
    y: int

    @classmethod
    def verify(cls, z: int, x: int, y: int) -> TileAddress:
        """The tile, or ``TileAddressError`` naming the valid ranges."""
        if not 0 <= z <= MAX_ZOOM:
            raise TileAddressError(f"zoom {z} is out of range: z must be 0-{MAX_ZOOM}")
        last = 2**z - 1
        if not (0 <= x <= last and 0 <= y <= last):
            raise TileAddressError(f"tile {z}/{x}/{y} does not exist: x and y must be 0-{last} at zoom {z}")
        return cls(z, x, y)

    @classmethod
    def containing(cls, lon: float, lat: float, z: int) -> TileAddress:
        """The tile at ``z`` holding a lon/lat point (latitude clamped to Web Mercator's range,
        points on the world's edge in its last tile)."""
        n = 2**z
        lat = max(-MAX_MERCATOR_LAT, min(MAX_MERCATOR_LAT, lat))
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return cls(z, min(n - 1, max(0, x)), min(n - 1, max(0, y)))

    @property
    def size_m(self) -> float:
        """Width of the tile in Web Mercator metres."""
        return 2 * HALF_WORLD_M / 2**self.z

    def mercator_bounds(self, buffer: float = 0.0) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in EPSG:3857, widened by ``buffer`` tile units."""
        pad = buffer * self.size_m / EXTENT
        minx, maxy = -HALF_WORLD_M + self.x * self.size_m, HALF_WORLD_M - self.y * self.size_m
        return minx - pad, maxy - self.size_m - pad, minx + self.size_m + pad, maxy + pad

    def lonlat_bounds(self, buffer: float = 0.0) -> tuple[float, float, float, float]:
        """The buffered bounds in EPSG:4326 (what the portable bbox columns hold)."""
        minx, miny, maxx, maxy = self.mercator_bounds(buffer)
        return (*from_mercator(minx, miny), *from_mercator(maxx, maxy))


def to_tile_units(geometries: np.ndarray, tile: TileAddress) -> np.ndarray:
    """Lon/lat geometries → this tile's units (0..EXTENT, y down), clipped to the buffer."""
    minx, _, _, maxy = tile.mercator_bounds()
    scale = EXTENT / tile.size_m

    def project(lonlat: np.ndarray) -> np.ndarray:
        lat = np.radians(np.clip(lonlat[:, 1], -MAX_MERCATOR_LAT, MAX_MERCATOR_LAT))
        mx = np.radians(lonlat[:, 0]) * EARTH_RADIUS_M
        my = np.log(np.tan(np.pi / 4 + lat / 2)) * EARTH_RADIUS_M
        return np.column_stack([(mx - minx) * scale, (maxy - my) * scale])

    projected = shapely.transform(geometries, project)
    return shapely.clip_by_rect(projected, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)


def encode_layer(name: str, geometries: np.ndarray, properties: list[dict[str, Any]]) -> bytes:
    """One MVT layer from tile-unit geometries; empty and sub-unit geometries are left out."""
    rounded = shapely.set_precision(geometries, 1.0)  # the tile grid: what the renderer can tell apart
    features = [{"geometry": g, "properties": {k: v for k, v in p.items() if v is not None}}
                for g, p in zip(rounded, properties) if g is not None and not g.is_empty and g.length > 0]
    if not features:
        return b""
    return mapbox_vector_tile.encode([{"name": name, "features": features}], default_options=_ENCODE_OPTIONS)


def _iso(value: Any) -> str | None:
    # Seconds and "Z", as PostGIS writes it: the map's date filter compares these as text.
    return None if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _section_rows(session: Session, tile: TileAddress) -> tuple[list[str], list[dict[str, Any]]]:
    minx, miny, maxx, maxy = tile.lonlat_bounds(BUFFER)
    level = overview_level(tile.z)
    if level is None:
        query = select(Section.section_id, Section.street, Section.grade, Section.pci, Section.confidence,
                       Section.surveyed_at, Section.damage, Section.damage_total, Section.damage_classes,
                       Section.geometry_wkt)
        table = Section
    else:
        query = select(SectionOverview.grade, SectionOverview.grade_max, SectionOverview.pci,
                       SectionOverview.sections, SectionOverview.surveyed_at, SectionOverview.damage_total,
                       SectionOverview.damage_classes, SectionOverview.geometry_wkt
                       ).where(SectionOverview.level == level)
        table = SectionOverview
    query = query.where(table.maxx >= minx, table.minx <= maxx, table.maxy >= miny, table.miny <= maxy)
    wkts, props = [], []
    for row in session.execute(query):
        values = row._asdict()
        wkts.append(values.pop("geometry_wkt"))
        if "damage" in values:  # JSON text: tile properties are scalars (total, classes: own columns)
            values["damage"] = json.dumps(values.pop("damage") or {})
        values["surveyed_at"] = _iso(values["surveyed_at"])
        props.append(values)
    return wkts, props


def sections_layer(session: Session, tile: TileAddress) -> bytes:
    """The ``sections`` layer encoded in Python (SQLite, or PostgreSQL without PostGIS)."""
    wkts, props = _section_rows(session, tile)
    if not wkts:
        return b""
    return encode_layer("sections", to_tile_units(shapely.from_wkt(wkts), tile), props)


class WorksIndex:
    """Planned works with their section geometry, indexed for tile lookups (built once per plan
    and generation: a plan is a few thousand works at most)."""

    def __init__(self, works: list[dict[str, Any]], wkt_of: dict[str, str]) -> None:
        kept = [w for w in works if w["section_id"] in wkt_of]
        self.properties = kept
        self.geometries = shapely.from_wkt([wkt_of[w["section_id"]] for w in kept]) if kept else np.array([])
        self.tree = shapely.STRtree(self.geometries)

    def layer(self, tile: TileAddress) -> bytes:
        """The ``works`` layer of one tile."""
        if not self.properties:
            return b""
        hits = self.tree.query(shapely.box(*tile.lonlat_bounds(BUFFER)))
        if not len(hits):
            return b""
        hits.sort()
        return encode_layer("works", to_tile_units(self.geometries[hits], tile), [self.properties[i] for i in hits])
