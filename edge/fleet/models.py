"""The device's model folder: verified installs, an atomic switch, and one step of roll back.

Layout of ``model_dir``::

    versions/<name>-<version>-<sha12>/manifest.json + model file   (current and previous only)
    active.json   {"current": "<folder>", "previous": "<folder>|null", "offer_id": "...|null"}

A new version is staged in a hidden folder, checked (size, sha256, manifest, ONNX Runtime
loads it), renamed into ``versions/`` and only then made current by replacing
``active.json`` (temp file, fsync, ``os.replace``, fsync of the folder). Power can fail
at any point: before the final rename the old model is still current, after it the new
one is; a reader never sees half a file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path


from voirie.models import registry
from voirie.models.errors import ModelError
from voirie.onnx import onnx_session
from voirie.records import ModelOffer, ModelStatus

logger = logging.getLogger(__name__)

ACTIVE_NAME = "active.json"
VERSIONS_DIR = "versions"


class ModelRefusedError(ValueError):
    """An offered model was refused (bad checksum, bad manifest, not loadable); the old one is kept."""


@dataclass(frozen=True)
class ActiveModels:
    """What ``active.json`` says: the current version folder, the previous one, and the offer."""

    current: str | None = None
    previous: str | None = None
    offer_id: str | None = None


def read_active(model_dir: Path) -> ActiveModels:
    """The active pointer of ``model_dir`` (empty when nothing was installed yet)."""
    path = Path(model_dir) / ACTIVE_NAME
    if not path.is_file():
        return ActiveModels()
    try:
        return ActiveModels(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise ModelError(f"{path} is not a valid active-model pointer: {error}") from error


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (the directory entry itself is flushed)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably: temp file, fsync, os.replace."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)


def _write_active(model_dir: Path, active: ActiveModels) -> None:
    write_atomic(model_dir / ACTIVE_NAME, json.dumps(active.__dict__, indent=2).encode())


def _model_file(model_dir: Path, folder: str) -> tuple[registry.Manifest, Path]:
    manifest = registry.read_manifest(model_dir / VERSIONS_DIR / folder / registry.MANIFEST_NAME)
    return manifest, model_dir / VERSIONS_DIR / folder / manifest.variant(None).file


def current_model(model_dir: Path) -> Path | None:
    """The ONNX file the device should run now, or None when nothing was installed."""
    active = read_active(model_dir)
    return None if active.current is None else _model_file(Path(model_dir), active.current)[1]


def installed_models(model_dir: Path) -> tuple[ModelStatus, ...]:
    """The current model as the heartbeat reports it (registry name, version, sha256)."""
    active = read_active(model_dir)
    if active.current is None:
        return ()
    manifest, _ = _model_file(Path(model_dir), active.current)
    entry = manifest.variant(None)
    return (ModelStatus(model_id=manifest.name, version=manifest.version, sha256=entry.sha256),)


def check_offer(offer: ModelOffer) -> registry.Manifest:
    """The offer's manifest, reduced to the offered variant, after checking it agrees with the offer."""
    try:
        manifest = registry.Manifest.model_validate(offer.manifest)
        entry = manifest.variant(offer.variant)
    except (ValueError, ModelError) as error:
        raise ModelRefusedError(f"offer {offer.offer_id}: manifest is not valid: {error}") from error
    if (manifest.name, manifest.version, entry.sha256, entry.bytes) != (offer.model_id, offer.version,
                                                                        offer.sha256, offer.bytes):
        raise ModelRefusedError(f"offer {offer.offer_id}: manifest ({manifest.name} {manifest.version}, "
                                f"{entry.bytes} bytes, sha256 {entry.sha256}) disagrees with the offer")
    return manifest.model_copy(update={"files": {offer.variant: entry}, "default_variant": offer.variant})


def verify_loadable(path: Path) -> None:
    """Refuse a file that ONNX Runtime cannot open (corrupt, wrong format, unsupported opset)."""
    try:
        onnx_session(path, threads=1, optimize=False)
    except Exception as error:  # ORT raises its own Fail/InvalidGraph/InvalidProtobuf types
        raise ModelRefusedError(f"ONNX Runtime cannot load {path.name}: {error}") from error


def install_staged(model_dir: Path, staging: Path, manifest: registry.Manifest, offer_id: str | None) -> Path:
    """Move a verified staging folder into ``versions/`` and make it current; returns the ONNX path."""
    entry = manifest.variant(None)
    folder = f"{manifest.name}-{manifest.version}-{entry.sha256[:12]}"
    versions = model_dir / VERSIONS_DIR
    target = versions / folder
    active = read_active(model_dir)
    if target.exists():  # left by an install whose pointer switch never happened
        shutil.rmtree(target)
    os.replace(staging, target)
    fsync_dir(versions)
    previous = active.current if active.current != folder else active.previous
    _write_active(model_dir, ActiveModels(current=folder, previous=previous, offer_id=offer_id))
    _prune(versions, keep={folder, previous})
    logger.info("model %s %s is now current (previous: %s)", manifest.name, manifest.version, previous)
    return target / entry.file


def _prune(versions: Path, keep: set[str | None]) -> None:
    for child in versions.iterdir():
        if child.is_dir() and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


def new_staging(model_dir: Path) -> Path:
    """A fresh hidden folder inside ``versions/`` (same file system, so the final rename is atomic)."""
    versions = Path(model_dir) / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    for stale in versions.glob(".staging-*"):  # an install cut short by power loss
        shutil.rmtree(stale, ignore_errors=True)
    staging = versions / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    return staging


def roll_back(model_dir: Path) -> tuple[Path, str | None]:
    """Make the previous version current again; returns its ONNX path and the offer rolled back."""
    model_dir = Path(model_dir)
    active = read_active(model_dir)
    if active.previous is None or not (model_dir / VERSIONS_DIR / active.previous).is_dir():
        raise ModelRefusedError(f"no previous model to roll back to in {model_dir}")
    manifest, path = _model_file(model_dir, active.previous)
    registry.verify_file(manifest, path.parent)
    _write_active(model_dir, ActiveModels(current=active.previous, previous=active.current, offer_id=None))
    logger.warning("rolled back to model %s %s", manifest.name, manifest.version)
    return path, active.offer_id
