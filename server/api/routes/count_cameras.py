"""Counting cameras for the mobility page: which cameras and lines have bins, and where they stand.

``GET /counts/cameras`` lists every camera found in the bins (with its lines and the time
span of its bins) plus its place when an admin has set one with ``PUT /counts/cameras/{id}``.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from sqlalchemy import func, select

from voirie.server.api.deps import AdminDep, SessionDep, reader
from voirie.server.models import CountBinRow, CountCamera, CountCameraPlace, CountCameraPublic, utcnow

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/counts", tags=["counts"])
CameraId = PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


@router.get("/cameras", response_model=list[CountCameraPublic], dependencies=[Depends(reader)],
            summary="Counting cameras, their lines and places")
def list_cameras(session: SessionDep) -> list[CountCameraPublic]:
    """Every camera with bins (and every placed one), its lines, first and last bin, place."""
    spans = session.execute(select(CountBinRow.camera_id, CountBinRow.line_id, func.min(CountBinRow.bin_start_utc),
                                   func.max(CountBinRow.bin_start_utc))
                            .group_by(CountBinRow.camera_id, CountBinRow.line_id)).all()
    places = {c.camera_id: c for c in session.scalars(select(CountCamera))}
    cameras: dict[str, dict] = {}
    for camera_id, line_id, first, last in spans:
        entry = cameras.setdefault(camera_id, {"lines": [], "first": first, "last": last})
        entry["lines"].append(line_id)
        entry["first"], entry["last"] = min(entry["first"], first), max(entry["last"], last)
    for camera_id in places.keys() - cameras.keys():
        cameras[camera_id] = {"lines": [], "first": None, "last": None}
    return [CountCameraPublic(camera_id=camera_id, name=places[camera_id].name if camera_id in places else "",
                              lat=places[camera_id].lat if camera_id in places else None,
                              lon=places[camera_id].lon if camera_id in places else None,
                              lines=sorted(entry["lines"]), first_bin_utc=entry["first"], last_bin_utc=entry["last"])
            for camera_id, entry in sorted(cameras.items())]


@router.put("/cameras/{camera_id}", response_model=CountCameraPlace, summary="Place a counting camera (admin)")
def place_camera(place: CountCameraPlace, session: SessionDep, _: AdminDep,
                 camera_id: str = CameraId) -> CountCameraPlace:
    """Set (or move) where a counting camera stands."""
    camera = session.get(CountCamera, camera_id) or CountCamera(camera_id=camera_id)
    camera.name, camera.lat, camera.lon, camera.updated_at = place.name, place.lat, place.lon, utcnow()
    session.add(camera)
    session.commit()
    logger.info("counting camera %s placed at %.6f, %.6f", camera_id, place.lat, place.lon)
    return place
