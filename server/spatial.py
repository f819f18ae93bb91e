"""PostGIS where the database has it: a ``geom`` column in Web Mercator (EPSG:3857, the
tiles' projection) with a GiST index on ``sections`` and ``section_overview`` (migration
0003). SQLite, and PostgreSQL without PostGIS, keep the portable bounding-box columns.

The columns are generated from ``geometry_wkt`` by the database, so every writer (network
import, derived sections, state import) keeps them right without knowing they exist.
"""

from __future__ import annotations

import logging
import math
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, text
from sqlalchemy.dialects.postgresql.base import ischema_names as postgresql_types
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import UserDefinedType

logger = logging.getLogger(__name__)

GEOMETRY_TABLES = ("sections", "section_overview")
GEOMETRY_COLUMN = "geom"
# Web Mercator stops here: a bbox reaching the poles would project to infinity.
MAX_MERCATOR_LAT = 85.05112878
EARTH_RADIUS_M = 6378137.0
_has_geometry: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()


class ReflectedGeometry(UserDefinedType):
    """PostGIS ``geometry`` as reflection sees it (Alembic's comparisons, the inspector), so
    the column is named instead of warned about; the server never maps it."""

    cache_ok = True

    def __init__(self, *_modifiers: object) -> None:
        # Reflection passes the type modifiers (geometry(Geometry,3857)): not needed here.
        super().__init__()

    def get_col_spec(self, **_: object) -> str:
        """The SQL type name."""
        return "geometry"


postgresql_types.setdefault("geometry", ReflectedGeometry)


def geometry_index_name(table: str) -> str:
    """Name of the GiST index on ``table.geom``."""
    return f"ix_{table}_geom"


def is_postgis_object(type_: str, name: str | None, parents: dict) -> bool:
    """True for the PostGIS-only columns and indexes, which the portable models leave out."""
    if type_ == "column":
        return name == GEOMETRY_COLUMN and parents.get("table_name") in GEOMETRY_TABLES
    if type_ == "index":
        return name in {geometry_index_name(t) for t in GEOMETRY_TABLES}
    return False


def uses_postgis(session: Session) -> bool:
    """Whether this database has the PostGIS ``geom`` columns (checked once per engine)."""
    engine = session.get_bind().engine
    if engine.dialect.name != "postgresql":
        return False
    if engine not in _has_geometry:
        # information_schema, not SQLAlchemy's inspector: that one warns about the unknown type.
        with engine.connect() as connection:
            found = connection.execute(text(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'sections' AND column_name = :column"), {"column": GEOMETRY_COLUMN}).first()
        _has_geometry[engine] = found is not None
        logger.info("PostGIS geometry columns %s", "in use" if _has_geometry[engine] else "absent: bbox columns")
    return _has_geometry[engine]


def to_mercator(lon: float, lat: float) -> tuple[float, float]:
    """EPSG:4326 → EPSG:3857 (latitude clamped to Web Mercator's range)."""
    lat = max(-MAX_MERCATOR_LAT, min(MAX_MERCATOR_LAT, lat))
    x = math.radians(lon) * EARTH_RADIUS_M
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * EARTH_RADIUS_M
    return x, y


def from_mercator(x: float, y: float) -> tuple[float, float]:
    """EPSG:3857 → EPSG:4326."""
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS_M)) - math.pi / 2)
    return math.degrees(x / EARTH_RADIUS_M), lat


def bbox_overlaps(table: str, bbox: tuple[float, float, float, float]) -> TextClause:
    """``<table>.geom && envelope``: the GiST-indexed bbox test (same meaning as the
    portable minx/maxx comparison: the bounding boxes overlap)."""
    minx, miny = to_mercator(bbox[0], bbox[1])
    maxx, maxy = to_mercator(bbox[2], bbox[3])
    clause = text(f"{table}.{GEOMETRY_COLUMN} && ST_MakeEnvelope(:bbox_minx, :bbox_miny, :bbox_maxx, :bbox_maxy, 3857)")
    return clause.bindparams(bbox_minx=minx, bbox_miny=miny, bbox_maxx=maxx, bbox_maxy=maxy)
