"""Section queries shared by the map, the exports and OGC API Features."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from voirie.server.models import Section
from voirie.server.spatial import bbox_overlaps, uses_postgis

logger = logging.getLogger(__name__)

COLUMNS = (Section.section_id, Section.street, Section.road_class, Section.source, Section.length_m,
           Section.width_m, Section.pci, Section.grade, Section.confidence, Section.surveyed_at,
           Section.survey_id, Section.model_version, Section.frames, Section.damage,
           Section.geometry_json, Section.geometry_wkt)
PROPERTY_NAMES = ("section_id", "street", "road_class", "source", "length_m", "width_m", "pci", "grade", "confidence",
                  "surveyed_at", "survey_id", "model_version", "frames", "damage")


@dataclass(frozen=True)
class SectionFilter:
    """Map filters: grade range, a damage class present, survey date range, bbox."""

    grade_min: float | None = None
    grade_max: float | None = None
    damage_class: str | None = None
    surveyed_from: datetime | None = None
    surveyed_to: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    surveyed_only: bool = False


def _where(query: Any, f: SectionFilter, postgis: bool = False) -> Any:
    if f.grade_min is not None:
        query = query.where(Section.grade >= f.grade_min)
    if f.grade_max is not None:
        query = query.where(Section.grade <= f.grade_max)
    if f.surveyed_from is not None:
        query = query.where(Section.surveyed_at >= f.surveyed_from)
    if f.surveyed_to is not None:
        query = query.where(Section.surveyed_at <= f.surveyed_to)
    if f.surveyed_only:
        query = query.where(Section.grade.is_not(None))
    if f.bbox is not None and postgis:
        query = query.where(bbox_overlaps("sections", f.bbox))
    elif f.bbox is not None:
        minx, miny, maxx, maxy = f.bbox
        query = query.where(Section.maxx >= minx, Section.minx <= maxx, Section.maxy >= miny, Section.miny <= maxy)
    return query


def select_sections(session: Session, f: SectionFilter, limit: int | None = None, offset: int = 0) -> list[Row]:
    """Sections matching ``f`` in id order (the damage-class filter runs in Python so the
    query stays portable across SQLite and PostgreSQL JSON dialects)."""
    query = _where(select(*COLUMNS), f, uses_postgis(session)).order_by(Section.section_id)
    if f.damage_class is None:
        return list(session.execute(query.offset(offset).limit(limit)))
    rows = [r for r in session.execute(query) if (r.damage or {}).get(f.damage_class)]
    return rows[offset: None if limit is None else offset + limit]


def count_sections(session: Session, f: SectionFilter) -> int:
    """Number of sections matching ``f``."""
    if f.damage_class is not None:
        return len(select_sections(session, f))
    return int(session.scalar(_where(select(func.count()).select_from(Section), f, uses_postgis(session))) or 0)


def network_extent(session: Session) -> tuple[int, tuple[float, float, float, float] | None]:
    """Number of sections and their lon/lat bounds (None when there are none)."""
    count, *bounds = session.execute(select(func.count(), func.min(Section.minx), func.min(Section.miny),
                                            func.max(Section.maxx), func.max(Section.maxy))).one()
    return count, (tuple(bounds) if count else None)  # type: ignore[return-value]


def damage_summary(damage: dict[str, int] | None) -> dict[str, Any]:
    """``damage_total`` and ``damage_classes`` ("|a|b|", sorted) of a class -> count dict."""
    found = sorted(name for name, count in (damage or {}).items() if count)
    return {"damage_total": int(sum((damage or {}).values())), "damage_classes": f"|{'|'.join(found)}|" if found else ""}


def properties(row: Any) -> dict[str, Any]:
    """JSON-ready properties of a section (row, ORM object or anything with the attributes)."""
    props = {name: getattr(row, name) for name in PROPERTY_NAMES}
    if props["surveyed_at"] is not None:
        props["surveyed_at"] = props["surveyed_at"].isoformat()
    return props


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def feature_json(section_id: str, geometry_json: str, props: dict[str, Any]) -> str:
    """One GeoJSON Feature as text (geometry is stored as GeoJSON already)."""
    return f'{{"type":"Feature","id":{_dumps(section_id)},"geometry":{geometry_json},"properties":{_dumps(props)}}}'


def feature_texts(session: Session, f: SectionFilter, limit: int | None = None, offset: int = 0) -> list[str]:
    """Stored Feature texts of the sections matching ``f`` (the fast path for maps)."""
    columns = (Section.feature_json, Section.damage) if f.damage_class else (Section.feature_json,)
    query = _where(select(*columns), f, uses_postgis(session)).order_by(Section.section_id)
    if f.damage_class is None:
        return list(session.scalars(query.offset(offset).limit(limit)))
    texts = [r.feature_json for r in session.execute(query) if (r.damage or {}).get(f.damage_class)]
    return texts[offset: None if limit is None else offset + limit]


def feature_collection(features: list[str], extra: dict[str, Any] | None = None) -> str:
    """A FeatureCollection around Feature texts, with extra top-level members (OGC paging)."""
    head = "".join(f"{_dumps(k)}:{_dumps(v)}," for k, v in (extra or {}).items())
    return f'{{"type":"FeatureCollection",{head}"features":[{",".join(features)}]}}'
