"""Devices and people's API keys (admin only)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException
from voirie.server import crud
from voirie.server.api.deps import AdminDep, SessionDep, SettingsDep
from voirie.server.fleet import device_listing
from voirie.server.models import (ApiKeyCreate, ApiKeyCreated, Device, DeviceCreate, DeviceCreated, DeviceFleetPublic,
                                  DevicePublic, utcnow)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["devices"])


@router.post("/devices", status_code=201, response_model=DeviceCreated, summary="Register a device (admin)")
def register_device(device_in: DeviceCreate, session: SessionDep, _: AdminDep) -> DeviceCreated:
    """Register a device (admin)."""
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
