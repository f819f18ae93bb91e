"""Create and look up devices and API keys (secrets are returned once, stored hashed)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from voirie.server.core.security import ROLES, hash_secret, new_secret
from voirie.server.models import ApiKey, ApiKeyCreated, Device, DeviceCreate, DeviceCreated, Meta, utcnow

logger = logging.getLogger(__name__)


class DeviceExistsError(ValueError):
    """A device with this id is already registered."""


def create_device(session: Session, device_in: DeviceCreate) -> DeviceCreated:
    """Register a device and return it with its token (the only time the token is shown).

    A revoked device id can be registered again (a box repaired or re-imaged): it gets a new
    token, its old one stays dead, and its records and history stay attached to the id."""
    token = new_secret("vdt")
    device = session.get(Device, device_in.device_id)
    if device is not None and device.active:
        raise DeviceExistsError(f"device {device_in.device_id!r} is already registered")
    if device is None:
        device = Device(device_id=device_in.device_id, name=device_in.name, token_hash=hash_secret(token))
        session.add(device)
    else:
        device.name, device.token_hash, device.active = device_in.name, hash_secret(token), True
    session.commit()
    logger.info("registered device %s", device.device_id)
    return DeviceCreated(device_id=device.device_id, name=device.name, active=device.active,
                         created_at=device.created_at, token=token)


def device_for_token(session: Session, token: str) -> Device | None:
    """The active device whose token this is, or None."""
    device = session.scalar(select(Device).where(Device.token_hash == hash_secret(token)))
    return device if device is not None and device.active else None


def create_api_key(session: Session, name: str, role: str, key: str | None = None) -> ApiKeyCreated:
    """Create an API key for a person (viewer, inspector or admin); ``key`` for bootstrap."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    key = key or new_secret("vak")
    row = ApiKey(name=name, role=role, key_hash=hash_secret(key))
    session.add(row)
    session.commit()
    return ApiKeyCreated(id=row.id, name=row.name, role=row.role, key=key)


def api_key_for(session: Session, key: str) -> ApiKey | None:
    """The API key row for a presented key, or None."""
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_secret(key)))


def _revoked_marker(key_hash: str) -> str:
    return f"revoked_key:{key_hash[:48]}"  # fits Meta.key (64); 192 bits of the hash


def ensure_api_key(session: Session, name: str, role: str, key: str) -> None:
    """Create the key if its hash is not stored yet (bootstrap admin on first start), unless
    an admin revoked it: a restart must not bring a revoked key back."""
    if api_key_for(session, key) is None and not get_meta(session, _revoked_marker(hash_secret(key))):
        create_api_key(session, name, role, key)


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every live API key (no secrets: only hashes are stored)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


class KeyRevocationError(ValueError):
    """A key cannot be revoked; ``status`` is the HTTP status (404 unknown, 409 own key)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def revoke_api_key(session: Session, key_id: int, by: ApiKey | None = None) -> ApiKey:
    """Delete a key so it fails on the very next request; ``by`` (the admin asking) may not
    revoke its own key, so an admin cannot lock everyone out by mistake."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise KeyRevocationError(404, f"no API key with id {key_id}")
    if by is not None and by.id == key.id:
        raise KeyRevocationError(409, "an admin cannot revoke the key it is using; use another admin key")
    set_meta(session, _revoked_marker(key.key_hash), utcnow().isoformat())
    session.delete(key)
    session.commit()
    logger.info("revoked API key %d (%s, %s)", key.id, key.name, key.role)
    return key


def get_meta(session: Session, key: str, default: str = "") -> str:
    """A value from the small key/value table (state flags)."""
    row = session.get(Meta, key)
    return row.value if row is not None else default


def set_meta(session: Session, key: str, value: str) -> None:
    """Set a key/value flag (caller commits)."""
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
