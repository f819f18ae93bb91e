"""Request dependencies as ``Annotated`` aliases (``SessionDep``, ``DeviceDep``, …).

Collaborators (settings, session factory, condition service) live on ``app.state`` and
are set by ``create_app`` so tests can pass their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from voirie.server.conditions import ConditionService
from voirie.server.core.config import Settings
from voirie.server.core.limits import RateLimiter
from voirie.server.core.security import role_at_least
from voirie.server.crud import api_key_for, device_for_token
from voirie.server.models import ApiKey, Device

logger = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="device token (vdt_…) or API key (vak_…)")


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request."""
    with request.app.state.session_factory() as session:
        yield session


def get_conditions(request: Request) -> ConditionService:
    """The app's condition service."""
    return request.app.state.conditions


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ConditionsDep = Annotated[ConditionService, Depends(get_conditions)]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


def current_device(request: Request, session: SessionDep, credentials: CredentialsDep) -> Device:
    """The device whose token was presented (401 otherwise), within its rate limit (429)."""
    if credentials is None:
        raise _unauthorized("a device token is required (Authorization: Bearer vdt_…)")
    device = device_for_token(session, credentials.credentials)
    if device is None:
        raise _unauthorized("unknown or revoked device token")
    wait_s = request.app.state.rate_limiter.take(device.device_id)
    if wait_s > 0:
        # Per device, so one box stuck in a retry loop cannot starve the rest of the fleet.
        logger.warning("device %s is over its rate limit; retry in %.1f s", device.device_id, wait_s)
        raise HTTPException(status_code=429, detail=f"too many requests from device {device.device_id!r}",
                            headers={"Retry-After": RateLimiter.retry_after(wait_s)})
    return device


DeviceDep = Annotated[Device, Depends(current_device)]


def _key_with_role(needed: str) -> Callable[..., ApiKey]:
    def dependency(session: SessionDep, credentials: CredentialsDep) -> ApiKey:
        """The API key presented, if its role suffices."""
        if credentials is None:
            raise _unauthorized(f"an API key with role {needed} is required (Authorization: Bearer vak_…)")
        key = api_key_for(session, credentials.credentials)
        if key is None:
            raise _unauthorized("unknown API key")
        if not role_at_least(key.role, needed):
            raise HTTPException(status_code=403, detail=f"role {key.role} cannot do this; needs {needed}")
        return key

    return dependency


AdminDep = Annotated[ApiKey, Depends(_key_with_role("admin"))]
InspectorDep = Annotated[ApiKey, Depends(_key_with_role("inspector"))]
_viewer = _key_with_role("viewer")


def reader(request: Request, session: SessionDep, credentials: CredentialsDep) -> str:
    """Reads are open when ``public_read``; otherwise a viewer key is needed. Grades are
    brought up to date first, so every read sees the latest ingest and review; returns
    the grades' generation (for caching)."""
    if not request.app.state.settings.public_read:
        _viewer(session, credentials)
    return request.app.state.conditions.ensure_current()


ReaderDep = Annotated[str, Depends(reader)]


def photo_reader(request: Request, session: SessionDep, credentials: CredentialsDep) -> None:
    """Evidence photos show people's streets and cars: a viewer key is needed unless the
    department opened them too (``public_photos``, on top of ``public_read``)."""
    settings = request.app.state.settings
    if not (settings.public_read and settings.public_photos):
        _viewer(session, credentials)


PhotoReaderDep = Annotated[None, Depends(photo_reader)]
