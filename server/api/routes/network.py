"""Network import over HTTP (admin): a GeoJSON FeatureCollection of road lines."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request

from voirie.server.api.deps import AdminDep, SessionDep, SettingsDep
from voirie.server.network import NetworkError, read_network, store_network

logger = logging.getLogger(__name__)
router = APIRouter(tags=["network"])

_BODY = {"requestBody": {"required": True, "content": {
    "application/geo+json": {"schema": {"type": "object"}},
    "application/geopackage+sqlite3": {"schema": {"type": "string", "format": "binary"}}}}}


@router.put("/network", openapi_extra=_BODY, responses={400: {}, 401: {}, 403: {}},
            summary="Replace the road network (GeoJSON or GeoPackage line layer; admin)")
async def import_network(request: Request, session: SessionDep, settings: SettingsDep, _: AdminDep) -> dict:
    """Replace the road network (GeoJSON or GeoPackage line layer; admin)."""
    body = await request.body()
    suffix = ".gpkg" if body[:16].startswith(b"SQLite format 3") else ".geojson"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"network{suffix}"
        path.write_bytes(body)
        try:
            sections = store_network(session, read_network(path), settings)
        except NetworkError as error:
            session.rollback()
            # Name the upload, not the temporary file it was written to.
            raise HTTPException(status_code=400, detail=str(error).replace(str(path), "network")) from error
    session.commit()
    return {"sections": sections}
