"""The ``sections`` tile layer made by PostGIS (``ST_AsMVTGeom`` + ``ST_AsMVT``) over the
GiST-indexed ``geom`` columns: the rows never leave the database as geometry."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

from voirie.server.overview import overview_level
from voirie.server.tiles import BUFFER, EXTENT, TileAddress

logger = logging.getLogger(__name__)

# The same properties as the Python encoder (voirie.server.tiles._section_rows).
# Stored JSON text as written; total and classes precomputed by the recompute.
_DAMAGE = "t.damage_total, t.damage_classes"
_SURVEYED = """to_char(t.surveyed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS surveyed_at"""
_SECTIONS = f"t.section_id, t.street, t.grade, t.pci, t.confidence, {_SURVEYED}, t.damage::text AS damage"
# Pieces carry no id and no per-class counts: unique values per feature are what makes a
# low-zoom tile large (the page zooms in on a click; filters use damage_classes).
_PIECES = f"t.grade, t.grade_max, t.pci, t.sections, {_SURVEYED}"


def _layer_sql(table: str, columns: str, extra_where: str) -> str:
    return f"""
    WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS tile,
                           ST_TileEnvelope(:z, :x, :y, margin => :margin) AS search)
    SELECT ST_AsMVT(features, 'sections', {EXTENT}, 'geom') FROM (
        SELECT ST_AsMVTGeom(t.geom, bounds.tile, {EXTENT}, {BUFFER}, true) AS geom, {columns}, {_DAMAGE}
        FROM {table} AS t, bounds
        WHERE t.geom && bounds.search {extra_where}
    ) AS features WHERE features.geom IS NOT NULL"""


_RAW_SQL = text(_layer_sql("sections", _SECTIONS, ""))
_OVERVIEW_SQL = text(_layer_sql("section_overview", _PIECES, "AND t.level = :level"))


def sections_layer(session: Session, tile: TileAddress) -> bytes:
    """The ``sections`` layer of ``tile`` (empty bytes when no section reaches it)."""
    level = overview_level(tile.z)
    params = {"z": tile.z, "x": tile.x, "y": tile.y, "margin": BUFFER / EXTENT}
    if level is None:
        body = session.execute(_RAW_SQL, params).scalar()
    else:
        body = session.execute(_OVERVIEW_SQL, {**params, "level": level}).scalar()
    return bytes(body or b"")
