"""Fleet endpoints: device heartbeats, heartbeat history, model upload, offers and download."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse

from voirie.records import Heartbeat
from voirie.server import fleet, fleet_rollout
from voirie.server.api.deps import AdminDep, DeviceDep, SessionDep, SettingsDep
from voirie.server.ingest import unstorable
from voirie.server.models import (Device, FleetModel, FleetModelPublic, HeartbeatReply, ModelOfferRow, ModelUpload,
                                  OfferCreate, OfferPublic, utcnow)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["fleet"])

_ONNX_BODY = {"requestBody": {"required": True, "content": {"application/octet-stream": {
    "schema": {"type": "string", "format": "binary"}}}}}


def _http(error: fleet_rollout.RolloutError | fleet.FleetScopeError) -> HTTPException:
    status = error.status if isinstance(error, fleet_rollout.RolloutError) else 403
    return HTTPException(status_code=status, detail=str(error))


@router.post("/heartbeat", response_model=HeartbeatReply, responses={401: {}, 403: {}, 413: {}, 429: {}},
             summary="A device's health report; the reply may carry a model offer")
def post_heartbeat(heartbeat: Heartbeat, device: DeviceDep, session: SessionDep,
                   settings: SettingsDep) -> HeartbeatReply:
    """Store the heartbeat of the token's device; answer with the skew seen and any pending offer."""
    problem = unstorable(heartbeat.model_dump())
    if problem is not None:
        raise HTTPException(status_code=422, detail=f"{problem[0]}: {problem[1]}")
    received_at = utcnow()
    try:
        return fleet.record_heartbeat(session, device.device_id, heartbeat, received_at, settings.heartbeat_history)
    except fleet.FleetScopeError as error:
        raise _http(error) from error


@router.get("/devices/{device_id}/heartbeats", summary="A device's recent heartbeats, newest first (admin)")
def get_heartbeats(device_id: str, session: SessionDep, _: AdminDep,
                   limit: int = Query(100, ge=1, le=10_000)) -> list[dict]:
    """A device's recent heartbeats, newest first (admin)."""
    if session.get(Device, device_id) is None:
        raise HTTPException(status_code=404, detail=f"no device {device_id!r}")
    return fleet.heartbeat_history(session, device_id, limit)


@router.post("/models", status_code=201, response_model=FleetModelPublic, responses={409: {}, 413: {}, 422: {}},
             summary="Declare a model for rollout: its registry manifest (admin)")
def post_model(upload: ModelUpload, session: SessionDep, settings: SettingsDep, _: AdminDep) -> FleetModel:
    """Declare a model for rollout: its registry manifest (admin). Upload the file next."""
    try:
        return fleet_rollout.create_model(session, upload, settings.model_max_bytes)
    except fleet_rollout.RolloutError as error:
        raise _http(error) from error


@router.put("/models/{model_id}/{version}/file", response_model=FleetModelPublic, openapi_extra=_ONNX_BODY,
            responses={404: {}, 413: {}, 422: {}}, summary="Upload the ONNX file a manifest declared (admin)")
async def put_model_file(model_id: str, version: str, request: Request, session: SessionDep,
                         settings: SettingsDep, _: AdminDep) -> FleetModel:
    """Upload the ONNX file a manifest declared (admin); refused unless size and sha256 match."""
    try:
        return await fleet_rollout.store_model_file(session, settings.models_dir, model_id, version,
                                                    request.stream())
    except fleet_rollout.RolloutError as error:
        raise _http(error) from error


@router.get("/models", response_model=list[FleetModelPublic], summary="Models uploaded for rollout (admin)")
def list_models(session: SessionDep, _: AdminDep) -> list[FleetModel]:
    """Models uploaded for rollout (admin)."""
    return list(session.query(FleetModel).order_by(FleetModel.model_id, FleetModel.created_at))


@router.post("/models/{model_id}/{version}/offers", status_code=201, response_model=list[OfferPublic],
             responses={404: {}, 409: {}}, summary="Offer a model to some devices or to all (admin)")
def post_offers(model_id: str, version: str, offer_in: OfferCreate, session: SessionDep,
                _: AdminDep) -> list[ModelOfferRow]:
    """Offer a model to the listed devices, or to every active device when none are listed (admin)."""
    try:
        return fleet_rollout.offer_model(session, model_id, version, offer_in.device_ids)
    except fleet_rollout.RolloutError as error:
        raise _http(error) from error


@router.get("/models/offers", response_model=list[OfferPublic], summary="Offers and what devices reported (admin)")
def list_offers(session: SessionDep, _: AdminDep) -> list[ModelOfferRow]:
    """Every offer with its status: offered, applied, refused, rolled_back or superseded (admin)."""
    return list(session.query(ModelOfferRow).order_by(ModelOfferRow.created_at.desc()))


@router.get("/models/offers/{offer_id}/file", response_class=FileResponse, responses={403: {}, 404: {}},
            summary="Download the ONNX file of an offer made to this device")
def get_offer_file(offer_id: str, device: DeviceDep, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """Download the ONNX file of an offer made to this device (other devices get 403)."""
    try:
        path = fleet_rollout.offer_file(session, settings.models_dir, device.device_id, offer_id)
    except fleet_rollout.RolloutError as error:
        raise _http(error) from error
    return FileResponse(path, media_type="application/octet-stream")
