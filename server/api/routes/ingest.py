"""``POST /api/v1/ingest``: record batches from devices (JSON, optionally gzip)."""

from __future__ import annotations

import logging
import zlib
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from voirie.server.api.deps import DeviceDep, SessionDep, SettingsDep
from voirie.server.ingest import IngestError, ingest_batch
from voirie.server.models import IngestRequest, IngestResponse

logger = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """The JSON schema with ``$defs`` references replaced by their definitions (the body
    is read raw for speed, so FastAPI does not register the model in components)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


_SCHEMA = IngestRequest.model_json_schema()
_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": _inline(_SCHEMA, _SCHEMA.get("$defs", {}))}}}}


async def _read_body(request: Request, max_bytes: int) -> bytes:
    body = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = zlib.decompressobj(wbits=31).decompress(body, max_bytes + 1)
        except zlib.error as error:
            raise HTTPException(status_code=400, detail=f"body is not valid gzip: {error}") from error
    if len(body) > max_bytes:
        raise HTTPException(status_code=413, detail=f"batch larger than {max_bytes} bytes; send smaller batches")
    return body


@router.post("/ingest", response_model=IngestResponse, openapi_extra=_BODY,
             responses={400: {}, 401: {}, 403: {}, 409: {}, 413: {}, 422: {}},
             summary="Store a batch of records (idempotent by record id)")
async def ingest(request: Request, device: DeviceDep, session: SessionDep, settings: SettingsDep) -> object:
    """Store a batch of records (idempotent by record id)."""
    body = await _read_body(request, settings.max_body_bytes)
    try:
        # Parsing and the database work are synchronous: run them off the event loop.
        result = await run_in_threadpool(ingest_batch, session, body, device.device_id, settings.max_batch_records,
                                          settings.max_detections_per_record)
    except IngestError as error:
        return JSONResponse(status_code=error.status, content={"detail": error.errors})
    return IngestResponse(batch_id=result.batch_id, accepted=result.accepted,
                          duplicates=result.duplicates, replayed=result.replayed)
