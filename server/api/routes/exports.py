"""GeoPackage export of sections and detections; full state export/import (admin)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import shapely
from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select

from voirie.server.api.deps import AdminDep, ConditionsDep, ReaderDep, SessionDep, SettingsDep
from voirie.server.gpkg import write_geopackage
from voirie.server.models import DetectionRow, FrameRow
from voirie.server.queries import SectionFilter, properties, select_sections
from voirie.server.state import StateImportError, export_state, import_state

logger = logging.getLogger(__name__)
router = APIRouter(tags=["exports"])

SECTION_COLUMNS = {"section_id": "TEXT", "street": "TEXT", "road_class": "TEXT", "source": "TEXT",
                   "length_m": "REAL", "width_m": "REAL", "pci": "REAL", "grade": "REAL", "confidence": "REAL",
                   "surveyed_at": "TEXT", "survey_id": "TEXT", "model_version": "TEXT", "frames": "INTEGER",
                   "damage": "TEXT"}
DETECTION_COLUMNS = {"detection_id": "TEXT", "record_id": "TEXT", "section_id": "TEXT", "class_name": "TEXT",
                     "confidence": "REAL", "review_status": "TEXT", "time_utc": "TEXT", "model_version": "TEXT"}


def _gpkg_response(write) -> Response:  # noqa: ANN001 - callable(path) -> Path
    with tempfile.TemporaryDirectory() as folder:
        data = write(Path(folder) / "export.gpkg").read_bytes()
    return Response(data, media_type="application/geopackage+sqlite3",
                    headers={"Content-Disposition": 'attachment; filename="voirie.gpkg"'})


@router.get("/exports/sections.gpkg", summary="Sections as a GeoPackage layer (opens in QGIS)")
def sections_gpkg(session: SessionDep, _: ReaderDep) -> Response:
    """Sections as a GeoPackage layer (opens in QGIS)."""
    rows = select_sections(session, SectionFilter())
    features = [(shapely.from_wkt(r.geometry_wkt), {**properties(r), "section_id": r.section_id}) for r in rows]
    return _gpkg_response(lambda path: write_geopackage(path, "sections", "LINESTRING", features, SECTION_COLUMNS))


@router.get("/exports/detections.gpkg", summary="Detections as a GeoPackage point layer")
def detections_gpkg(session: SessionDep, _: ReaderDep) -> Response:
    """Detections as a GeoPackage point layer."""
    query = select(DetectionRow, FrameRow).join(FrameRow, FrameRow.record_id == DetectionRow.record_id)
    features = [(shapely.Point(f.lon, f.lat),
                 {"detection_id": d.detection_id, "record_id": d.record_id, "section_id": f.section_id,
                  "class_name": d.reviewed_class or d.class_name, "confidence": d.confidence,
                  "review_status": d.review_status, "time_utc": f.time_utc.isoformat(),
                  "model_version": f.model_version}) for d, f in session.execute(query)]
    return _gpkg_response(lambda path: write_geopackage(path, "detections", "POINT", features, DETECTION_COLUMNS))


@router.get("/exports/state.zip", summary="Full server state in open formats (admin)")
def state_export(session: SessionDep, settings: SettingsDep, _: AdminDep) -> Response:
    """Full server state in open formats (admin)."""
    return Response(export_state(session, settings.evidence_dir), media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="voirie-state.zip"'})


@router.put("/imports/state", responses={400: {}}, summary="Restore a full state export (admin; replaces)",
            openapi_extra={"requestBody": {"required": True, "content": {"application/zip": {
                "schema": {"type": "string", "format": "binary"}}}}})
async def state_import(request: Request, session: SessionDep, settings: SettingsDep,
                       conditions: ConditionsDep, _: AdminDep) -> dict[str, int]:
    """Restore a full state export (admin; replaces)."""
    try:
        counts = import_state(session, await request.body(), settings.evidence_dir)
    except StateImportError as error:
        session.rollback()
        raise HTTPException(status_code=400, detail=str(error)) from error
    return counts
