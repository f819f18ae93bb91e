"""Devices and people's API keys (admin only)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from voirie.server import crud
from voirie.server.api.deps import AdminDep, SessionDep, SettingsDep
from voirie.server.fleet import device_listing
from voirie.server.models import (ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, Device, DeviceCreate,
                                  DeviceCreated, DeviceFleetPublic, DevicePublic, utcnow)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["devices"])


@router.post("/devices", status_code=201, response_model=DeviceCreated, responses={409: {}},
             summary="Register a device, or again after its revocation (admin)")
def register_device(device_in: DeviceCreate, session: SessionDep, _: AdminDep) -> DeviceCreated:
    """Register a device (admin); a revoked device id gets a new token."""
    try:
        return crud.create_device(session, device_in)
    except crud.DeviceExistsError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error


@router.get("/devices", response_model=list[DeviceFleetPublic], summary="List devices with fleet health (admin)")
def list_devices(session: SessionDep, settings: SettingsDep, _: AdminDep) -> list[DeviceFleetPublic]:
    """List devices with their last heartbeat, clock skew, queue depth and ``stale`` flag (admin)."""
    return device_listing(session, settings.heartbeat_stale_s, utcnow())


@router.delete("/devices/{device_id}", response_model=DevicePublic, summary="Revoke a device's token (admin)")
def revoke_device(device_id: str, session: SessionDep, _: AdminDep) -> Device:
    """Revoke a device's token (admin)."""
    device = session.get(Device, device_id)
    if device is None:
        raise HTTPException(status_code=404, detail=f"no device {device_id!r}")
    device.active = False
    session.commit()
    return device


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, summary="Create a person's API key (admin)")
def create_api_key(key_in: ApiKeyCreate, session: SessionDep, _: AdminDep) -> ApiKeyCreated:
    """Create a person's API key (admin)."""
    return crud.create_api_key(session, key_in.name, key_in.role)


@router.get("/api-keys", response_model=list[ApiKeyPublic], summary="List people's API keys (admin)")
def list_api_keys(session: SessionDep, _: AdminDep) -> list[ApiKey]:
    """List people's API keys: id, name, role, creation time (admin; secrets are never shown)."""
    return crud.list_api_keys(session)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyPublic, responses={404: {}, 409: {}},
               summary="Revoke a person's API key at once (admin)")
def revoke_api_key(session: SessionDep, admin: AdminDep, key_id: int = PathParam(ge=1, le=2**63 - 1)) -> ApiKey:
    """Revoke a person's API key (admin): it fails on the next request; not the key in use."""
    try:
        return crud.revoke_api_key(session, key_id, by=admin)
    except crud.KeyRevocationError as error:
        raise HTTPException(status_code=error.status, detail=str(error)) from error
