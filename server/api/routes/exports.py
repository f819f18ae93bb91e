"""GeoPackage export of sections and detections; full state export/import (admin)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import shapely
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select
from starlette.background import BackgroundTask

from voirie.server.api.deps import AdminDep, ConditionsDep, ReaderDep, SessionDep, SettingsDep
from voirie.server.gpkg import write_geopackage
from voirie.server.models import DetectionRow, FrameRow, Section
from voirie.server.queries import COLUMNS, SectionFilter, properties
from voirie.server.state import StateImportError, export_state, import_state

logger = logging.getLogger(__name__)
router = APIRouter(tags=["exports"])

SECTION_COLUMNS = {"section_id": "TEXT", "street": "TEXT", "road_class": "TEXT", "source": "TEXT",
                   "length_m": "REAL", "width_m": "REAL", "pci": "REAL", "grade": "REAL", "confidence": "REAL",
                   "surveyed_at": "TEXT", "survey_id": "TEXT", "model_version": "TEXT", "frames": "INTEGER",
                   "damage": "TEXT"}
DETECTION_COLUMNS = {"detection_id": "TEXT", "record_id": "TEXT", "section_id": "TEXT", "class_name": "TEXT",
                     "confidence": "REAL", "review_status": "TEXT", "time_utc": "TEXT", "model_version": "TEXT"}


# Rows are fetched from the database in chunks of this many while the file is written.
CHUNK_ROWS = 1000


def _gpkg_response(write: Callable[[Path], Path]) -> FileResponse:
    """Write the GeoPackage to a temporary file and stream it; the file goes after sending."""
    folder = tempfile.mkdtemp(prefix="voirie-gpkg-")
    try:
        path = write(Path(folder) / "export.gpkg")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(path, media_type="application/geopackage+sqlite3", filename="voirie.gpkg",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


def _section_features(session: SessionDep) -> Iterator[tuple[Any, dict[str, Any]]]:
    query = select(*COLUMNS).order_by(Section.section_id).execution_options(yield_per=CHUNK_ROWS)
    for r in session.execute(query):
        yield shapely.from_wkt(r.geometry_wkt), {**properties(r), "section_id": r.section_id}


@router.get("/exports/sections.gpkg", summary="Sections as a GeoPackage layer (opens in QGIS)")
def sections_gpkg(session: SessionDep, _: ReaderDep) -> FileResponse:
    """Sections as a GeoPackage layer (opens in QGIS)."""
    return _gpkg_response(lambda path: write_geopackage(path, "sections", "LINESTRING", _section_features(session),
                                                        SECTION_COLUMNS))


def _detection_features(session: SessionDep) -> Iterator[tuple[Any, dict[str, Any]]]:
    # Named columns only: selecting the FrameRow entity would load the frame's whole record
    # JSON once per detection (memory grew with the square of detections per frame).
    query = (select(DetectionRow.detection_id, DetectionRow.record_id, DetectionRow.class_name,
                    DetectionRow.reviewed_class, DetectionRow.confidence, DetectionRow.review_status,
                    FrameRow.lon, FrameRow.lat, FrameRow.section_id, FrameRow.time_utc, FrameRow.model_version)
             .join(FrameRow, FrameRow.record_id == DetectionRow.record_id)
             .where(DetectionRow.reanalysed.is_(False))  # the device's; re-analyses compare through model grades
             .execution_options(yield_per=CHUNK_ROWS))
    for r in session.execute(query):
        yield shapely.Point(r.lon, r.lat), {
            "detection_id": r.detection_id, "record_id": r.record_id, "section_id": r.section_id,
            "class_name": r.reviewed_class or r.class_name, "confidence": r.confidence,
            "review_status": r.review_status, "time_utc": r.time_utc.isoformat(), "model_version": r.model_version}


@router.get("/exports/detections.gpkg", summary="Detections as a GeoPackage point layer")
def detections_gpkg(session: SessionDep, _: ReaderDep) -> FileResponse:
    """Detections as a GeoPackage point layer (written in bounded memory)."""
    return _gpkg_response(lambda path: write_geopackage(path, "detections", "POINT", _detection_features(session),
                                                        DETECTION_COLUMNS))


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
