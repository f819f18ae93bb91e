"""The city's road network: read GeoJSON or GeoPackage line layers, split into sections.

GeoPackage is read with the standard library's ``sqlite3`` (a GeoPackage *is* a SQLite
file): the geometry blob is a small GP header followed by WKB, which shapely parses. This
avoids GDAL on the server; layers in another CRS are reprojected with pyproj.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiLineString, shape
from shapely.ops import linemerge, substring

from voirie.server.geo import Projector

logger = logging.getLogger(__name__)

ID_KEYS = ("segment_id", "section_id", "id", "fid", "osm_id", "gid")
NAME_KEYS = ("name", "street", "nom", "nom_voie")
CLASS_KEYS = ("road_class", "highway", "class", "fclass", "nature")
WIDTH_KEYS = ("width_m", "width", "largeur")


class NetworkError(ValueError):
    """The network file could not be read: names the file and what was wrong."""


@dataclass(frozen=True)
class RoadSegment:
    """One road of the network in WGS 84, before splitting into sections."""

    segment_id: str
    name: str
    road_class: str
    width_m: float | None
    line: LineString


def _pick(properties: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if properties.get(key) not in (None, ""):
            return properties[key]
    return None


def _segment(properties: dict[str, Any], geometry: Any, fallback_id: str) -> RoadSegment | None:
    if isinstance(geometry, MultiLineString):
        geometry = linemerge(geometry)
        if isinstance(geometry, MultiLineString):  # disjoint parts: keep the longest
            geometry = max(geometry.geoms, key=lambda g: g.length)
    if not isinstance(geometry, LineString) or geometry.is_empty or len(geometry.coords) < 2:
        return None
    if not np.isfinite(np.asarray(geometry.coords)).all():  # NaN/inf from a bad file or projection
        return None
    width = _pick(properties, WIDTH_KEYS)
    try:
        width = float(width) if width is not None else None
    except (TypeError, ValueError):
        width = None
    return RoadSegment(
        segment_id=str(_pick(properties, ID_KEYS) or fallback_id)[:64],
        name=str(_pick(properties, NAME_KEYS) or "")[:200],
        road_class=str(_pick(properties, CLASS_KEYS) or "")[:64],
        width_m=width if width and np.isfinite(width) and width > 0 else None,
        line=LineString([c[:2] for c in geometry.coords]),
    )


def read_geojson(path: Path) -> list[RoadSegment]:
    """Line features of a GeoJSON FeatureCollection (WGS 84, as RFC 7946 requires)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # ValueError: bad JSON or not UTF-8
        raise NetworkError(f"{path}: not readable GeoJSON: {error}") from error
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise NetworkError(f"{path}: expected a FeatureCollection object, got {kind!r}")
    features = data.get("features", [])
    if not isinstance(features, list):
        raise NetworkError(f"{path}: 'features' must be a list, got {type(features).__name__}")
    segments = []
    for index, feature in enumerate(features):
        try:
            geometry = shape(feature["geometry"])
            properties = feature.get("properties") or {}
            if not isinstance(properties, dict):
                raise TypeError(f"properties must be an object, got {type(properties).__name__}")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, shapely.errors.GEOSException) as error:
            logger.warning("%s: feature %d skipped: bad geometry (%s)", path, index, error)
            continue
        segment = _segment(properties, geometry, f"seg{index}")
        if segment is None:
            logger.warning("%s: feature %d skipped: not a finite line", path, index)
            continue
        segments.append(segment)
    return segments


_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _gpkg_wkb(blob: bytes) -> bytes:
    if len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("geometry blob without the GeoPackage 'GP' header")
    envelope = (blob[3] >> 1) & 0b111
    if envelope not in _ENVELOPE_BYTES:
        raise ValueError(f"geometry blob with an invalid envelope code {envelope}")
    return blob[8 + _ENVELOPE_BYTES[envelope]:]


def _gpkg_layer(conn: sqlite3.Connection, path: Path) -> tuple[str, str, int]:
    rows = conn.execute(
        "SELECT table_name, column_name, srs_id, geometry_type_name FROM gpkg_geometry_columns"
    ).fetchall()
    lines = [r for r in rows if "LINE" in str(r[3]).upper() or str(r[3]).upper() == "GEOMETRY"]
    if not lines:
        raise NetworkError(f"{path}: no line layer in gpkg_geometry_columns ({rows})")
    return lines[0][0], lines[0][1], lines[0][2]


def read_geopackage(path: Path) -> list[RoadSegment]:
    """The first line layer of a GeoPackage, reprojected to WGS 84 when needed."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        table, column, srs_id = _gpkg_layer(conn, path)
        org = conn.execute("SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys "
                           "WHERE srs_id = ?", (srs_id,)).fetchone()
        cursor = conn.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        conn.close()
    except sqlite3.Error as error:
        raise NetworkError(f"{path}: not a readable GeoPackage: {error}") from error
    crs = f"{org[0]}:{org[1]}" if org else "EPSG:4326"
    try:
        to_wgs = None if crs.upper() == "EPSG:4326" else Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    except pyproj.exceptions.CRSError as error:
        raise NetworkError(f"{path}: unknown spatial reference system {crs!r}: {error}") from error
    segments = []
    for index, row in enumerate(rows):
        properties = dict(zip(names, row))
        blob = properties.pop(column, None)
        if not blob:
            continue
        try:
            geometry = shapely.from_wkb(_gpkg_wkb(bytes(blob)))
            if to_wgs is not None:
                geometry = shapely.transform(geometry, lambda xy: _reproject(to_wgs, xy))
        except (TypeError, ValueError, shapely.errors.GEOSException, pyproj.exceptions.ProjError) as error:
            logger.warning("%s: row %d skipped: bad geometry (%s)", path, index, error)
            continue
        segment = _segment(properties, geometry, f"{table}{index}")
        if segment is not None:
            segments.append(segment)
    return segments


def _reproject(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def read_network(path: Path) -> list[RoadSegment]:
    """Read a GeoJSON (.geojson/.json) or GeoPackage (.gpkg) line layer."""
    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"network file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        segments = read_geojson(path)
    elif suffix == ".gpkg":
        segments = read_geopackage(path)
    else:
        raise NetworkError(f"{path}: expected .geojson, .json or .gpkg, got {suffix!r}")
    if not segments:
        raise NetworkError(f"{path}: no line features found")
    return segments


def split_line(line_m: LineString, length_m: float) -> list[LineString]:
    """Cut a metric line into equal pieces as close as possible to ``length_m``."""
    total = line_m.length
    pieces = max(1, round(total / length_m))
    step = total / pieces
    return [substring(line_m, i * step, (i + 1) * step) for i in range(pieces)]


def section_rows(segment: RoadSegment, projector: Projector, length_m: float, width_m: float,
                 source: str = "network") -> list[dict[str, Any]]:
    """Rows for the ``sections`` table: one per piece of ``segment``."""
    rows = []
    for k, piece_m in enumerate(split_line(projector.to_metric(segment.line), length_m)):
        piece = projector.to_wgs84(piece_m)
        minx, miny, maxx, maxy = piece.bounds
        rows.append({
            "section_id": f"{segment.segment_id}-{k:04d}", "segment_id": segment.segment_id,
            "source": source, "street": segment.name, "road_class": segment.road_class,
            "length_m": round(piece_m.length, 2), "width_m": segment.width_m or width_m,
            "geometry_wkt": shapely.to_wkt(piece, rounding_precision=7),
            "geometry_json": json.dumps({"type": "LineString",
                                         "coordinates": [[round(x, 7), round(y, 7)] for x, y in piece.coords]}),
            "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy,
            "pci": None, "grade": None, "confidence": None, "surveyed_at": None, "survey_id": None,
            "model_version": None, "frames": 0, "damage": {},
        })
        rows[-1]["feature_json"] = _feature(rows[-1])
    return rows



def _feature(row: dict[str, Any]) -> str:
    from voirie.server.queries import PROPERTY_NAMES, feature_json

    return feature_json(row["section_id"], row["geometry_json"], {n: row[n] for n in PROPERTY_NAMES})


def store_network(session: Any, segments: list[RoadSegment], settings: Any) -> int:
    """Replace the network's sections with ``segments`` (derived sections are dropped too:
    frames are re-matched to the new network on the next recompute). Caller commits."""
    from sqlalchemy import delete, insert, update

    from voirie.server.crud import set_meta
    from voirie.server.geo import projector_for
    from voirie.server.models import FrameRow, ModelGrade, Section, SectionHistory

    if not segments:
        raise NetworkError("no road segments to import")
    ids = [s.segment_id for s in segments]
    if len(set(ids)) != len(ids):
        raise NetworkError("segment ids must be unique; duplicated: "
                           f"{sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    centre = segments[0].line.centroid
    projector = projector_for(centre.x, centre.y, settings.metric_crs)
    rows = [row for s in segments for row in section_rows(s, projector, settings.section_length_m,
                                                          settings.default_width_m)]
    session.execute(update(FrameRow).values(section_id=None))
    session.execute(delete(SectionHistory))
    session.execute(delete(ModelGrade))  # regraded per model version with the new sections
    session.execute(delete(Section))
    session.execute(insert(Section), rows)
    set_meta(session, "conditions_dirty", "1")
    logger.info("imported %d road segments as %d sections", len(segments), len(rows))
    return len(rows)
