"""Sections for the map: GeoJSON, CSV, details with photos, summary, streets, changes."""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy import select

from voirie.server.api.deps import AdminDep, ConditionsDep, ReaderDep, SessionDep, SettingsDep
from voirie.server.api.params import UtcTime, parse_bbox
from voirie.server.condition import GRADE_COLOURS
from voirie.server.crud import set_meta
from voirie.server.csvsafe import SafeDictWriter
from voirie.server.model_grades import (is_analysed, model_feature_texts, model_versions, parse_model_key,
                                        section_model_grades)
from voirie.server.models import DetectionRow, FrameRow, Section, SectionHistory
from voirie.server.queries import SectionFilter, feature_collection, feature_texts, properties, select_sections

logger = logging.getLogger(__name__)
router = APIRouter(tags=["sections"])

CSV_COLUMNS = ("section_id", "street", "road_class", "length_m", "width_m", "pci", "grade", "confidence",
               "surveyed_at", "model_version", "geometry_wkt")


def _filter(grade_min: float | None, grade_max: float | None, damage_class: str | None,
            surveyed_from: datetime | None, surveyed_to: datetime | None, bbox: str | None) -> SectionFilter:
    return SectionFilter(grade_min=grade_min, grade_max=grade_max, damage_class=damage_class or None,
                         surveyed_from=surveyed_from, surveyed_to=surveyed_to, bbox=parse_bbox(bbox))


MODEL_HELP = "id@version of a re-analysis (GET /api/v1/model-versions); default: the devices' grades"


@router.get("/sections.geojson", summary="Sections with their condition (GeoJSON)")
def sections_geojson(session: SessionDep, conditions: ConditionsDep, generation: ReaderDep, grade_min: float | None = Query(None, ge=1, le=5),
                     grade_max: float | None = Query(None, ge=1, le=5), damage_class: str | None = None,
                     surveyed_from: UtcTime | None = None, surveyed_to: UtcTime | None = None,
                     model: str | None = Query(None, max_length=257, description=MODEL_HELP),
                     bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat: sections whose "
                                                                "bounding box overlaps it")) -> Response:
    """Sections with their condition (GeoJSON), as surveyed or as one re-analysing model version graded them."""
    f = _filter(grade_min, grade_max, damage_class, surveyed_from, surveyed_to, bbox)
    if model:
        model_id, version = _known_model(session, model)
        build = lambda: feature_collection(model_feature_texts(session, model_id, version, f)).encode()  # noqa: E731
    else:
        build = lambda: feature_collection(feature_texts(session, f)).encode()  # noqa: E731
    body = conditions.cached(generation, f"geojson/{model}/{f}", build)
    return Response(body, media_type="application/geo+json", headers={"X-Voirie-Generation": generation})


def _known_model(session: SessionDep, key: str) -> tuple[str, str]:
    try:
        model_id, version = parse_model_key(key)
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    if not is_analysed(session, model_id, version):  # checked on every map request: no counts here
        known = [v["model"] for v in model_versions(session) if v["model"]]
        raise HTTPException(status_code=404, detail=f"no re-analysis by model {key!r}; there are {known}")
    return model_id, version


@router.get("/model-versions", summary="Model versions the map can show: the devices' and each re-analysis")
def list_model_versions(session: SessionDep, _: ReaderDep) -> list[dict[str, Any]]:
    """Model versions the map can show: the devices' (as surveyed) and each re-analysis."""
    return model_versions(session)


@router.get("/sections.csv", summary="Sections with their condition (CSV, WKT geometry)")
def sections_csv(session: SessionDep, _: ReaderDep) -> Response:
    """Sections with their condition (CSV, WKT geometry)."""
    buffer = io.StringIO()
    writer = SafeDictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in select_sections(session, SectionFilter()):
        writer.writerow({**properties(row), "section_id": row.section_id, "geometry_wkt": row.geometry_wkt})
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="sections.csv"'})


def _frames_of(session: SessionDep, section: Section) -> list[dict[str, Any]]:
    frames = session.scalars(select(FrameRow).where(FrameRow.section_id == section.section_id,
                                                    FrameRow.survey_id == section.survey_id)
                             .order_by(FrameRow.time_utc)).all()
    ids = [f.record_id for f in frames]
    detections: dict[str, list[dict[str, Any]]] = defaultdict(list)
    device = DetectionRow.reanalysed.is_(False)  # re-analyses show as grades by model (model_grades)
    for d in session.scalars(select(DetectionRow).where(DetectionRow.record_id.in_(ids), device)):
        detections[d.record_id].append({
            "detection_id": d.detection_id, "class_name": d.class_name, "confidence": round(d.confidence, 3),
            "box_xyxy": [d.x1, d.y1, d.x2, d.y2], "length_m": d.length_m, "area_m2": d.area_m2,
            "review_status": d.review_status, "reviewed_class": d.reviewed_class})
    return [{"record_id": f.record_id, "time_utc": f.time_utc.isoformat(), "lat": f.lat, "lon": f.lon,
             "image_width": f.image_width, "image_height": f.image_height, "model_version": f.model_version,
             "evidence_url": f"/api/v1/evidence/{f.record_id}" if f.has_evidence else None,
             "detections": detections[f.record_id]} for f in frames]


@router.get("/sections/{section_id}", summary="One section: condition, history, photos, detections")
def section_detail(section_id: str, session: SessionDep, _: ReaderDep) -> dict[str, Any]:
    """One section: condition, history, photos, detections."""
    section = session.get(Section, section_id)
    if section is None:
        raise HTTPException(status_code=404, detail=f"no section {section_id!r}")
    history = session.scalars(select(SectionHistory).where(SectionHistory.section_id == section_id)
                              .order_by(SectionHistory.surveyed_at)).all()
    return {"section_id": section_id, **properties(section), "geometry_wkt": section.geometry_wkt,
            "history": [{"survey_id": h.survey_id, "surveyed_at": h.surveyed_at.isoformat(), "pci": h.pci,
                         "grade": h.grade, "confidence": h.confidence, "model_version": h.model_version}
                        for h in history],
            "model_grades": section_model_grades(session, section_id),
            "frame_records": _frames_of(session, section) if section.survey_id else []}


@router.get("/summary", summary="Network summary: km per grade step, PCI histogram")
def summary(session: SessionDep, _: ReaderDep) -> dict[str, Any]:
    """Network summary: km per grade step, PCI histogram."""
    rows = session.execute(select(Section.length_m, Section.grade, Section.pci)).all()
    km_per_step = [0.0] * 8
    histogram = [0] * 10
    for length, grade, pci in rows:
        if grade is None:
            continue
        km_per_step[min(7, int((grade - 1.0) / 0.5))] += length / 1000
        histogram[min(9, int(pci // 10))] += 1
    surveyed = [r for r in rows if r.grade is not None]
    mean_pci = sum(r.pci * r.length_m for r in surveyed) / max(1e-9, sum(r.length_m for r in surveyed))
    return {"sections": len(rows), "surveyed_sections": len(surveyed),
            "network_km": round(sum(r.length_m for r in rows) / 1000, 3),
            "surveyed_km": round(sum(r.length_m for r in surveyed) / 1000, 3),
            "mean_pci": round(mean_pci, 1) if surveyed else None,
            "grade_steps": [{"from": 1 + 0.5 * i, "to": 1.5 + 0.5 * i, "colour": GRADE_COLOURS[i],
                             "km": round(km, 3)} for i, km in enumerate(km_per_step)],
            "pci_histogram": [{"from": 10 * i, "to": 10 * i + 10, "sections": n} for i, n in enumerate(histogram)]}


@router.get("/streets", summary="Condition per street (length-weighted)")
def streets(session: SessionDep, _: ReaderDep) -> list[dict[str, Any]]:
    """Condition per street (length-weighted)."""
    acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for street, length, pci in session.execute(select(Section.street, Section.length_m, Section.pci)
                                               .where(Section.pci.is_not(None))):
        item = acc[street or "(unnamed)"]
        item[0] += length
        item[1] += length * pci
        item[3] += 1
    result = []
    for street, (length, weighted, _, count) in sorted(acc.items()):
        pci = weighted / length
        result.append({"street": street, "length_m": round(length, 1), "sections": count,
                       "pci": round(pci, 1), "grade": round(1 + 4 * (100 - pci) / 100, 1)})
    return result


@router.get("/changes", summary="Sections that got worse since their previous survey")
def changes(session: SessionDep, _: ReaderDep, min_grade_increase: float = Query(0.5, ge=0, le=4)) -> list[dict]:
    """Sections that got worse since their previous survey."""
    history: dict[str, list[SectionHistory]] = defaultdict(list)
    for h in session.scalars(select(SectionHistory).order_by(SectionHistory.surveyed_at)):
        history[h.section_id].append(h)
    worse = []
    for section_id, items in sorted(history.items()):
        if len(items) >= 2 and items[-1].grade - items[-2].grade >= min_grade_increase:
            worse.append({"section_id": section_id, "previous_grade": items[-2].grade, "grade": items[-1].grade,
                          "previous_survey": items[-2].survey_id, "survey": items[-1].survey_id,
                          "previous_pci": items[-2].pci, "pci": items[-1].pci})
    return worse


@router.post("/recompute", summary="Recompute matching and grades now (admin)")
def recompute(session: SessionDep, conditions: ConditionsDep, _: AdminDep) -> dict[str, str]:
    """Recompute matching and grades now (admin)."""
    set_meta(session, "conditions_dirty", "1")
    session.commit()
    return {"generation": conditions.ensure_current()}


@router.get("/map-config", summary="Settings the map page needs")
def map_config(settings: SettingsDep) -> dict[str, Any]:
    """Settings the map page needs."""
    return {"tile_url": settings.tile_url, "tile_attribution": settings.tile_attribution,
            "grade_colours": list(GRADE_COLOURS), "photos_public": settings.public_read and settings.public_photos}
