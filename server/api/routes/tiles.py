"""``GET /tiles/{z}/{x}/{y}.mvt``: the road condition as Mapbox Vector Tiles, and
``GET /api/v1/map-extent``: what the map page needs to choose GeoJSON or tiles."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from voirie.server.api.deps import ReaderDep, SessionDep, SettingsDep
from voirie.server.queries import network_extent
from voirie.server.tile_service import TileService
from voirie.server.tiles import TileAddress, TileAddressError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
TILES_PATH = "/tiles/{z}/{x}/{y}.mvt"


@router.get(TILES_PATH, summary="Vector tile: layers sections (grade, PCI, damage) and works (planned works)",
            response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "the tile"},
                       204: {"description": "nothing in this tile (empty body)"},
                       304: {"description": "not modified since the ETag sent in If-None-Match"},
                       422: {"description": "no such tile (z, x or y out of range)"}})
def tile(z: int, x: int, y: int, request: Request, session: SessionDep, generation: ReaderDep) -> Response:
    """Vector tile: layers ``sections`` (grade, PCI, damage counts; merged pieces below zoom 13)
    and ``works`` (the latest plan's works). Empty tiles are 204; ETag / If-None-Match give 304."""
    try:
        address = TileAddress.verify(z, x, y)
    except TileAddressError as error:
        raise HTTPException(status_code=422, detail=str(error)) from error
    service: TileService = request.app.state.tiles
    etag = service.etag(generation)
    # Revalidate every time (grades change after each survey) but pay only a 304 when unchanged.
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Voirie-Generation": generation}
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    body = service.render(session, address, etag)
    if not body:
        return Response(status_code=204, headers=headers)
    return Response(body, media_type=MVT, headers=headers)


@router.get("/api/v1/map-extent", summary="Number of sections and their bounds; when the map uses tiles")
def map_extent(session: SessionDep, settings: SettingsDep, _: ReaderDep) -> dict[str, Any]:
    """Number of sections, their bounds (lon/lat) and the tile source the map page switches to."""
    count, bounds = network_extent(session)
    return {"sections": count, "bbox": None if bounds is None else list(bounds),
            "tiles_from_sections": settings.map_tiles_from_sections, "tiles": TILES_PATH}
