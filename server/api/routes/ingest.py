"""``POST /api/v1/ingest``: record batches from devices (JSON, optionally gzip)."""

from __future__ import annotations

import gzip
import json
import logging
import zlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from voirie.server.api.deps import DeviceDep, SessionDep, SettingsDep
from voirie.server.ingest import IngestError, ingest_batch
from voirie.server.models import IngestRequest, IngestResponse

logger = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])

_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/IngestRequest"}}}}}


async def _read_json(request: Request, max_bytes: int) -> object:
    body = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = zlib.decompressobj(wbits=31).decompress(body, max_bytes + 1)
        except (zlib.error, gzip.BadGzipFile) as error:
            raise HTTPException(status_code=400, detail=f"body is not valid gzip: {error}") from error
    if len(body) > max_bytes:
        raise HTTPException(status_code=413, detail=f"batch larger than {max_bytes} bytes; send smaller batches")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise HTTPException(status_code=400, detail=f"body is not valid JSON: {error}") from error


@router.post("/ingest", response_model=IngestResponse, openapi_extra=_BODY,
             responses={400: {}, 401: {}, 403: {}, 409: {}, 413: {}, 422: {}},
             summary="Store a batch of records (idempotent by record id)")
async def ingest(request: Request, device: DeviceDep, session: SessionDep, settings: SettingsDep) -> object:
    """Store a batch of records (idempotent by record id)."""
    payload = await _read_json(request, settings.max_body_bytes)
    try:
        batch = IngestRequest.model_validate(payload)
    except ValidationError as error:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})
    if len(batch.records) > settings.max_batch_records:
        raise HTTPException(status_code=413, detail=f"{len(batch.records)} records; at most "
                                                    f"{settings.max_batch_records} per batch")
    try:
        # Run the synchronous database work off the event loop.
        from starlette.concurrency import run_in_threadpool

        result = await run_in_threadpool(ingest_batch, session, batch, device.device_id)
    except IngestError as error:
        return JSONResponse(status_code=error.status, content={"detail": error.errors})
    return IngestResponse(batch_id=result.batch_id, accepted=result.accepted,
                          duplicates=result.duplicates, replayed=result.replayed)
