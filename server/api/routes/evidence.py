"""Blurred evidence JPEGs: a device uploads its own frames' photos; readers fetch them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from voirie.server.api.deps import DeviceDep, PhotoReaderDep, SessionDep, SettingsDep
from voirie.server.ingest import SAFE_ID
from voirie.server.models import FrameRow
from voirie.server.photos import EvidenceError, reencode_evidence

logger = logging.getLogger(__name__)
router = APIRouter(tags=["evidence"])

_JPEG_BODY = {"requestBody": {"required": True, "content": {"image/jpeg": {
    "schema": {"type": "string", "format": "binary"}}}}}


def _evidence_path(settings: SettingsDep, record_id: str) -> Path:
    # record ids are UUIDs derived from the record; refuse anything that could leave the folder.
    if not SAFE_ID.match(record_id) or not record_id.replace("-", "").isalnum():
        raise HTTPException(status_code=422, detail="record_id must be a record's UUID (hex digits and dashes)")
    return settings.evidence_dir / f"{record_id}.jpg"


@router.put("/evidence/{record_id}", status_code=204, openapi_extra=_JPEG_BODY,
            responses={401: {}, 403: {}, 404: {}, 413: {}, 415: {}, 422: {}},
            summary="Upload the blurred JPEG of one of this device's frame records")
async def put_evidence(record_id: str, request: Request, device: DeviceDep, session: SessionDep,
                       settings: SettingsDep) -> None:
    """Upload the blurred JPEG of one of this device's frame records."""
    path = _evidence_path(settings, record_id)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "image/jpeg":
        raise HTTPException(status_code=415, detail="evidence must be sent as image/jpeg")
    body = await request.body()
    if len(body) > settings.evidence_max_bytes:
        raise HTTPException(status_code=413, detail=f"evidence is {len(body)} bytes; cap is {settings.evidence_max_bytes}")
    if body[:3] != b"\xff\xd8\xff":
        raise HTTPException(status_code=422, detail="body is not a JPEG (missing FF D8 FF marker)")
    frame = session.get(FrameRow, record_id)
    if frame is None:
        raise HTTPException(status_code=404, detail=f"no frame record {record_id!r}; ingest the record first")
    if frame.device_id != device.device_id:
        raise HTTPException(status_code=403, detail="a device may only upload evidence for its own records")
    try:
        # Stored as the server encodes it, never as uploaded (hidden payloads, bombs).
        body = await run_in_threadpool(reencode_evidence, body, settings.evidence_max_pixels)
    except EvidenceError as error:
        raise HTTPException(status_code=error.status, detail=str(error)) from error
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(body)
    os.replace(partial, path)  # atomic: a reader never sees half a photo
    frame.has_evidence = True
    session.commit()


@router.get("/evidence/{record_id}", response_class=FileResponse, responses={401: {}, 404: {}, 422: {}},
            summary="The blurred JPEG of a frame record")
def get_evidence(record_id: str, settings: SettingsDep, _: PhotoReaderDep) -> FileResponse:
    """The blurred JPEG of a frame record (a viewer key unless ``public_photos``)."""
    path = _evidence_path(settings, record_id)
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"no evidence for {record_id!r}")
    return FileResponse(path, media_type="image/jpeg")
