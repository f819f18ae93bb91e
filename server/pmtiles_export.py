"""The whole network's vector tiles in one PMTiles file, for static hosting.

A PMTiles archive is one file of tiles plus a directory, read with HTTP range requests
(MapLibre with the ``pmtiles`` protocol, QGIS, any static file host or object store): the
published map needs no voirie server. The tiles are the server's own (``TileService``), at
the grades' current generation, for every zoom from 0 to ``max_zoom`` over the network's
bounds; empty tiles are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from sqlalchemy.orm import Session

from voirie.server.queries import network_extent
from voirie.server.tile_service import TileService
from voirie.server.tiles import MAX_ZOOM, TileAddress

logger = logging.getLogger(__name__)

LAYERS = [
    {"id": "sections", "description": "sections (zoom ≥ 13) or merged pieces: grade, PCI, damage",
     "fields": {"section_id": "String", "grade": "Number", "pci": "Number", "grade_max": "Number",
                "damage_total": "Number", "damage_classes": "String", "surveyed_at": "String"}},
    {"id": "works", "description": "planned works of the latest plan",
     "fields": {"section_id": "String", "year": "Number", "calendar_year": "Number", "treatment": "String"}},
]


class ExportError(ValueError):
    """Nothing to export, or a zoom out of range."""


def tiles_over(bounds: tuple[float, float, float, float], max_zoom: int) -> Iterator[TileAddress]:
    """Every tile touching ``bounds`` (lon/lat) from zoom 0 to ``max_zoom``, in PMTiles id order."""
    minx, miny, maxx, maxy = bounds
    addresses = []
    for z in range(max_zoom + 1):
        first, last = TileAddress.containing(minx, maxy, z), TileAddress.containing(maxx, miny, z)
        addresses.extend(TileAddress(z, x, y) for x in range(first.x, last.x + 1) for y in range(first.y, last.y + 1))
    return iter(sorted(addresses, key=lambda t: zxy_to_tileid(t.z, t.x, t.y)))


def export_pmtiles(session: Session, service: TileService, generation: str, path: Path, max_zoom: int = 14) -> int:
    """Write the network's tiles to ``path``; returns the number of tiles written."""
    if not 0 <= max_zoom <= MAX_ZOOM:
        raise ExportError(f"max zoom {max_zoom} is out of range: 0-{MAX_ZOOM}")
    _, bounds = network_extent(session)
    if bounds is None:
        raise ExportError("no sections to export: import a network or ingest a survey first")
    etag, written = service.etag(generation), 0
    with open(path, "wb") as handle:
        writer = Writer(handle)
        for tile in tiles_over(bounds, max_zoom):
            body = service.render(session, tile, etag)
            if body:
                writer.write_tile(zxy_to_tileid(tile.z, tile.x, tile.y), body)
                written += 1
        if not written:
            raise ExportError("every tile is empty")
        writer.finalize(_header(bounds, max_zoom), {"name": "voirie road condition", "generation": generation,
                                                    "vector_layers": LAYERS})
    logger.info("wrote %d tiles (zoom 0-%d) to %s", written, max_zoom, path)
    return written


def _header(bounds: tuple[float, float, float, float], max_zoom: int) -> dict:
    e7 = [round(v * 10_000_000) for v in bounds]
    return {"tile_type": TileType.MVT, "tile_compression": Compression.NONE, "min_zoom": 0, "max_zoom": max_zoom,
            "min_lon_e7": e7[0], "min_lat_e7": e7[1], "max_lon_e7": e7[2], "max_lat_e7": e7[3],
            "center_zoom": min(max_zoom, 12)}
