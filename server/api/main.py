"""All routers; adding a resource is one line here."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from voirie.server.api.deps import get_session, reader
from voirie.server.api.routes import (count_cameras, devices, evidence, exports, fleet, ingest, network, ogc, review,
                                      sections, tiles)
from voirie.server.api.routes.counts import create_counts_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(devices.router)
api_router.include_router(fleet.router)
api_router.include_router(ingest.router)
api_router.include_router(evidence.router)
api_router.include_router(network.router)
api_router.include_router(sections.router)
api_router.include_router(review.router)
api_router.include_router(exports.router)
# Counts read like sections: open when public_read, else a viewer key.
api_router.include_router(create_counts_router(get_session), dependencies=[Depends(reader)])
api_router.include_router(count_cameras.router)

# OGC API Features lives at the root (/collections, /conformance) as clients expect.
ogc_router = ogc.router
# Tiles at /tiles/{z}/{x}/{y}.mvt (the usual place for a tile source), with the map's extent.
tiles_router = tiles.router
