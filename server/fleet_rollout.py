"""Model rollout on the server: admins upload an ONNX with its registry manifest and offer
it to devices; a device sees its offer in the heartbeat reply, fetches the file with its
own token, and reports back on a later heartbeat.

The server checks the upload against the manifest's sha256 and size, so a truncated
upload is never offered; the device checks again after download (end to end).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from voirie.records import ModelOffer, ModelStatus, RolloutReport
from voirie.server.models import Device, FleetModel, ModelOfferRow, ModelUpload, utcnow

logger = logging.getLogger(__name__)


class RolloutError(ValueError):
    """A rollout request was refused; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FleetScopeError(ValueError):
    """A device tried to act for another device (HTTP 403)."""


class _FileEntry(BaseModel):
    file: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(gt=0)


class _ManifestHead(BaseModel):
    """The manifest fields the server relies on; the device validates the full registry format."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=128)
    version: str = Field(pattern=r"^[A-Za-z0-9._+-]+$", max_length=64)
    files: dict[str, _FileEntry] = Field(min_length=1)
    default_variant: str


def create_model(session: Session, upload: ModelUpload, max_bytes: int) -> FleetModel:
    """Step 1: record a model's manifest; its file is uploaded next (``store_model_file``)."""
    try:
        head = _ManifestHead.model_validate(upload.manifest)
    except ValidationError as error:
        raise RolloutError(422, f"manifest is not a voirie model manifest: {error}") from error
    variant = upload.variant or head.default_variant
    if variant not in head.files:
        raise RolloutError(422, f"manifest has no variant {variant!r}; it has {sorted(head.files)}")
    entry = head.files[variant]
    if entry.bytes > max_bytes:
        raise RolloutError(413, f"model file is {entry.bytes} bytes; the cap is {max_bytes}")
    existing = session.get(FleetModel, (head.name, head.version))
    if existing is not None and existing.uploaded:
        raise RolloutError(409, f"model {head.name} {head.version} is already uploaded; bump the version")
    row = existing or FleetModel(model_id=head.name, version=head.version)
    row.variant, row.sha256, row.bytes = variant, entry.sha256, entry.bytes
    row.manifest_json, row.uploaded = json.dumps(upload.manifest), False
    session.add(row)
    session.commit()
    return row


def model_path(models_dir: Path, sha256: str) -> Path:
    """Where an uploaded file lives: named by its checksum, so no name can escape the folder."""
    return models_dir / f"{sha256}.onnx"


async def store_model_file(session: Session, models_dir: Path, model_id: str, version: str,
                           chunks: AsyncIterator[bytes]) -> FleetModel:
    """Step 2: stream the ONNX to disk, refusing it unless size and sha256 match the manifest."""
    row = session.get(FleetModel, (model_id, version))
    if row is None:
        raise RolloutError(404, f"no model {model_id} {version}; POST its manifest to /api/v1/models first")
    models_dir.mkdir(parents=True, exist_ok=True)
    target = model_path(models_dir, row.sha256)
    partial = target.with_suffix(".part")
    digest, size = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > row.bytes:
                    raise RolloutError(422, f"upload is longer than the {row.bytes} bytes the manifest declares")
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if size != row.bytes or digest.hexdigest() != row.sha256:
            raise RolloutError(422, f"upload has {size} bytes and sha256 {digest.hexdigest()}; the manifest "
                                    f"declares {row.bytes} bytes and sha256 {row.sha256}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    row.uploaded = True
    session.commit()
    logger.info("model %s %s uploaded (%d bytes)", model_id, version, size)
    return row


def offer_model(session: Session, model_id: str, version: str, device_ids: list[str] | None) -> list[ModelOfferRow]:
    """Offer an uploaded model to the given devices (all active ones when None)."""
    model = session.get(FleetModel, (model_id, version))
    if model is None or not model.uploaded:
        raise RolloutError(409, f"model {model_id} {version} has no uploaded file yet")
    if device_ids is None:
        device_ids = list(session.scalars(select(Device.device_id).where(Device.active)))
    known = set(session.scalars(select(Device.device_id).where(Device.device_id.in_(device_ids))))
    if missing := sorted(set(device_ids) - known):
        raise RolloutError(404, f"unknown devices: {missing}")
    # A newer offer replaces a pending one: a device installs only the latest.
    session.execute(update(ModelOfferRow).where(ModelOfferRow.device_id.in_(device_ids),
                                                ModelOfferRow.status == "offered")
                    .values(status="superseded", updated_at=utcnow()))
    offers = [ModelOfferRow(offer_id=uuid.uuid4().hex, device_id=d, model_id=model_id, version=version)
              for d in sorted(set(device_ids))]
    session.add_all(offers)
    session.commit()
    logger.info("offered model %s %s to %d devices", model_id, version, len(offers))
    return offers


def pending_offer(session: Session, device_id: str, installed: tuple[ModelStatus, ...]) -> ModelOffer | None:
    """The offer to put in this device's heartbeat reply, if one is pending (caller commits)."""
    row = session.scalar(select(ModelOfferRow).where(ModelOfferRow.device_id == device_id,
                                                     ModelOfferRow.status == "offered")
                         .order_by(ModelOfferRow.created_at.desc()).limit(1))
    if row is None:
        return None
    model = session.get(FleetModel, (row.model_id, row.version))
    if any(m.sha256 == model.sha256 for m in installed):
        row.status, row.detail, row.updated_at = "applied", "device reports it runs this file", utcnow()
        return None
    return ModelOffer(offer_id=row.offer_id, model_id=model.model_id, version=model.version,
                      variant=model.variant, sha256=model.sha256, bytes=model.bytes,
                      url=f"/api/v1/models/offers/{row.offer_id}/file", manifest=json.loads(model.manifest_json))


def apply_report(session: Session, device_id: str, report: RolloutReport) -> None:
    """Record what a device did with an offer (caller commits)."""
    row = session.get(ModelOfferRow, report.offer_id)
    if row is None:
        logger.warning("device %s reported on unknown offer %s; ignored", device_id, report.offer_id)
        return
    if row.device_id != device_id:
        raise FleetScopeError(f"offer {report.offer_id} was made to another device, not {device_id!r}")
    row.status, row.detail, row.updated_at = report.status, report.detail, utcnow()
    log = logger.warning if report.status != "applied" else logger.info
    log("device %s %s model %s %s: %s", device_id, report.status, row.model_id, row.version, report.detail)


def offer_file(session: Session, models_dir: Path, device_id: str, offer_id: str) -> Path:
    """The file of an offer made to this device (403 for any other device's offer)."""
    row = session.get(ModelOfferRow, offer_id)
    if row is None:
        raise RolloutError(404, f"no offer {offer_id!r}")
    if row.device_id != device_id:
        raise RolloutError(403, "this offer was made to another device")
    model = session.get(FleetModel, (row.model_id, row.version))
    path = model_path(models_dir, model.sha256)
    if not path.is_file():
        raise RolloutError(404, f"the file of model {row.model_id} {row.version} is missing on the server")
    return path
