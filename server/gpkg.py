"""GeoPackage writer with the standard library's ``sqlite3`` (no GDAL on the server).

Writes what the OGC GeoPackage 1.3 spec requires for a feature layer: the application id,
``gpkg_spatial_ref_sys``, ``gpkg_contents``, ``gpkg_geometry_columns`` and geometry blobs
(GP header with an XY envelope, then little-endian WKB). QGIS and GDAL open the result.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import shapely

logger = logging.getLogger(__name__)

_WGS84 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
          'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')

_META = """
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
  organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
  description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
  identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL,
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));
"""


def geometry_blob(geometry: Any, srs_id: int = 4326) -> bytes:
    """GeoPackage binary: 'GP', version 0, flags (little endian + XY envelope), srs, WKB."""
    minx, miny, maxx, maxy = geometry.bounds
    header = struct.pack("<2sBBi4d", b"GP", 0, 0b0000_0011, srs_id, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geometry, byte_order=1)


class _Bounds:
    """The running XY extent of the features written so far."""

    def __init__(self) -> None:
        self.box = [float("inf"), float("inf"), float("-inf"), float("-inf")]

    def add(self, geometry: Any) -> Any:
        minx, miny, maxx, maxy = geometry.bounds
        box = self.box
        self.box = [min(box[0], minx), min(box[1], miny), max(box[2], maxx), max(box[3], maxy)]
        return geometry

    def values(self) -> list[float]:
        return self.box if self.box[0] <= self.box[2] else [0.0, 0.0, 0.0, 0.0]


def write_geopackage(path: Path, layer: str, geometry_type: str, features: Iterable[tuple[Any, dict[str, Any]]],
                     columns: dict[str, str]) -> Path:
    """Write one feature layer; ``features`` are (WGS 84 shapely geometry, properties), any
    iterable: rows are written as they come, so memory stays flat however many there are;
    ``columns`` maps property name → SQL type (INTEGER, REAL, TEXT)."""
    if not layer.isidentifier():
        raise ValueError(f"layer name must be an identifier, got {layer!r}")
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA application_id = 1196444487")  # 'GPKG'
        conn.execute("PRAGMA user_version = 10300")
        conn.executescript(_META)
        conn.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", ""),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", ""),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84, "longitude/latitude WGS 84")])
        cols = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        conn.execute(f'CREATE TABLE "{layer}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {geometry_type}, {cols})')
        marks = ",".join("?" * (len(columns) + 1))
        bounds = _Bounds()
        conn.executemany(f'INSERT INTO "{layer}" (geom, {", ".join(chr(34) + c + chr(34) for c in columns)}) '
                         f"VALUES ({marks})", _rows(features, columns, bounds))
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        conn.execute("INSERT INTO gpkg_contents VALUES (?, 'features', ?, '', ?, ?, ?, ?, ?, 4326)",
                     (layer, layer, now, *map(float, bounds.values())))
        conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, 4326, 0, 0)", (layer, geometry_type))
        conn.commit()
    finally:
        conn.close()
    return path


def _rows(features: Iterable[tuple[Any, dict[str, Any]]], columns: dict[str, str],
          bounds: _Bounds) -> Iterator[tuple[Any, ...]]:
    for geometry, props in features:
        yield (geometry_blob(bounds.add(geometry)), *[_cell(props.get(c)) for c in columns])


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
