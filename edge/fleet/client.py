"""``FleetClient``: the device side of fleet management.

* ``heartbeat(status)`` posts a ``Heartbeat`` (version, models + sha256, disk, outbox depth,
  last fix, device clock) and returns the server's ``HeartbeatReply``: the clock skew it saw
  and, maybe, a ``ModelOffer``.
* ``apply_model_offer(offer, model_dir)`` downloads the offered ONNX (streamed, capped at
  the declared size), checks its sha256 and that ONNX Runtime loads it, then switches to it
  atomically (``edge.fleet.models``). A refused model leaves the old one current.
* ``roll_back(model_dir)`` returns to the previous version.

What happened to an offer is reported on the next heartbeat. The token is sent only in the
``Authorization`` header and never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Protocol

import httpx

from voirie import __version__
from voirie.edge.fleet import models as fleet_models
from voirie.edge.fleet.models import ModelRefusedError, current_model, installed_models
from voirie.records import Heartbeat, ModelOffer, ModelStatus, RolloutReport

logger = logging.getLogger(__name__)

__all__ = ["DeviceStatus", "FleetClient", "FleetError", "HeartbeatReply", "ModelRefusedError", "current_model"]


class FleetError(RuntimeError):
    """The server could not be reached or answered with an error; try again later.

    ``status`` is the HTTP status (None when no answer came); ``retry_after_s`` is the
    server's ``Retry-After`` for 429/503.
    """

    def __init__(self, message: str, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class _OutboxStatsLike(Protocol):
    pending_records: int
    pending_evidence: int
    oldest_pending_utc: datetime | None


def disk_free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (its nearest existing folder)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class DeviceStatus:
    """What a heartbeat reports, apart from the device id and clock (the client adds those)."""

    disk_free_bytes: int
    software_version: str = __version__
    models: tuple[ModelStatus, ...] = ()
    queue_depth: int = 0
    pending_evidence: int = 0
    quarantined_records: int = 0
    oldest_pending_utc: datetime | None = None
    last_fix_utc: datetime | None = None
    mode: Literal["survey", "count", "idle"] = "idle"
    anonymizer_horizon: Literal["calibrated", "estimated", "whole_frame"] | None = None  # of the last photo

    @classmethod
    def collect(cls, data_dir: Path, *, outbox_stats: _OutboxStatsLike | None = None, model_dir: Path | None = None,
                last_fix_utc: datetime | None = None, mode: Literal["survey", "count", "idle"] = "idle",
                extra_models: tuple[ModelStatus, ...] = (),
                anonymizer_horizon: Literal["calibrated", "estimated", "whole_frame"] | None = None) -> DeviceStatus:
        """Gather the status: free disk under ``data_dir``, outbox depth, installed models."""
        models = (installed_models(model_dir) if model_dir is not None else ()) + tuple(extra_models)
        return cls(disk_free_bytes=disk_free_bytes(data_dir), models=models,
                   queue_depth=outbox_stats.pending_records if outbox_stats else 0,
                   pending_evidence=outbox_stats.pending_evidence if outbox_stats else 0,
                   quarantined_records=getattr(outbox_stats, "quarantined_records", 0) if outbox_stats else 0,
                   oldest_pending_utc=outbox_stats.oldest_pending_utc if outbox_stats else None,
                   last_fix_utc=last_fix_utc, mode=mode, anonymizer_horizon=anonymizer_horizon)


@dataclass(frozen=True)
class HeartbeatReply:
    """The server's answer: when it received the heartbeat, the skew it saw, maybe an offer."""

    received_at_utc: datetime
    skew_s: float
    offer: ModelOffer | None = None


class FleetClient:
    """Talks to ``/api/v1/heartbeat`` and ``/api/v1/models/offers/…`` with one device token."""

    def __init__(self, server_url: str, device_id: str, token: str, *, timeout_s: float = 10.0,
                 max_model_bytes: int = 512_000_000) -> None:
        if not device_id or not token:
            raise ValueError("FleetClient needs a device_id and a token")
        self.device_id = device_id
        self.max_model_bytes = max_model_bytes
        self._client = httpx.Client(base_url=server_url.rstrip("/"), timeout=timeout_s,
                                    headers={"Authorization": f"Bearer {token}"})
        self._report: RolloutReport | None = None  # what happened to the last offer, until sent

    def heartbeat(self, status: DeviceStatus) -> HeartbeatReply:
        """Send one heartbeat; raises ``FleetError`` when the server is unreachable or refuses."""
        heartbeat = Heartbeat(device_id=self.device_id, time_utc=datetime.now(timezone.utc),
                              rollout=self._report, **status.__dict__)
        answer = self._request("POST", "/api/v1/heartbeat", content=heartbeat.to_json(),
                               headers={"Content-Type": "application/json"})
        body = answer.json()
        self._report = None  # delivered
        offer = ModelOffer.model_validate(body["offer"]) if body.get("offer") else None
        return HeartbeatReply(received_at_utc=datetime.fromisoformat(body["received_at_utc"]),
                              skew_s=float(body["skew_s"]), offer=offer)

    def apply_model_offer(self, offer: ModelOffer, model_dir: Path) -> Path:
        """Download, verify and atomically install an offered model; returns the new ONNX path.

        Raises ``ModelRefusedError`` (the old model stays current; the refusal is reported on
        the next heartbeat) or ``FleetError`` (download failed: the offer is retried later).
        """
        model_dir = Path(model_dir)
        try:
            path = self._install(offer, model_dir)
        except ModelRefusedError as error:
            logger.warning("refused model offer %s (%s %s): %s", offer.offer_id, offer.model_id, offer.version, error)
            self._report = RolloutReport(offer_id=offer.offer_id, status="refused", detail=str(error)[:500])
            raise
        self._report = RolloutReport(offer_id=offer.offer_id, status="applied")
        return path

    def roll_back(self, model_dir: Path) -> Path:
        """Make the previous model current again; returns its ONNX path (reported on the next heartbeat)."""
        path, offer_id = fleet_models.roll_back(Path(model_dir))
        if offer_id is not None:
            self._report = RolloutReport(offer_id=offer_id, status="rolled_back", detail="rolled back on the device")
        return path

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> FleetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _install(self, offer: ModelOffer, model_dir: Path) -> Path:
        manifest = fleet_models.check_offer(offer)
        current = installed_models(model_dir)
        if any(m.sha256 == offer.sha256 for m in current):
            return current_model(model_dir)  # already running it: nothing to swap
        if offer.bytes > self.max_model_bytes:
            raise ModelRefusedError(f"model is {offer.bytes} bytes; this device accepts at most {self.max_model_bytes}")
        model_dir.mkdir(parents=True, exist_ok=True)
        if disk_free_bytes(model_dir) < 2 * offer.bytes:
            raise ModelRefusedError(f"not enough free disk in {model_dir} for a {offer.bytes}-byte model")
        staging = fleet_models.new_staging(model_dir)
        try:
            path = staging / manifest.variant(None).file
            self._download(offer, path)
            fleet_models.verify_loadable(path)
            fleet_models.write_atomic(staging / "manifest.json",
                                      json.dumps(manifest.model_dump(mode="json"), indent=2).encode())
            return fleet_models.install_staged(model_dir, staging, manifest, offer.offer_id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _download(self, offer: ModelOffer, path: Path) -> None:
        """Stream the offer's file to ``path`` (fsynced), refusing it unless size and sha256 match."""
        digest, size = hashlib.sha256(), 0
        partial = path.with_name(path.name + ".part")
        try:
            with self._client.stream("GET", offer.url) as answer, open(partial, "wb") as handle:
                _raise_for_status(answer, "model download")
                for chunk in answer.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > offer.bytes:  # a server or proxy sending more than declared: stop reading
                        raise ModelRefusedError(f"download is longer than the {offer.bytes} bytes offered")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        except httpx.HTTPError as error:
            raise FleetError(f"model download failed: {type(error).__name__}: {error}") from error
        if size != offer.bytes or digest.hexdigest() != offer.sha256:
            raise ModelRefusedError(f"downloaded {size} bytes with sha256 {digest.hexdigest()}; the offer says "
                                    f"{offer.bytes} bytes with sha256 {offer.sha256}: refusing it")
        os.replace(partial, path)

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            answer = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise FleetError(f"{method} {url} failed: {type(error).__name__}: {error}") from error
        _raise_for_status(answer, f"{method} {url}")
        return answer


def _raise_for_status(answer: httpx.Response, what: str) -> None:
    if answer.is_success:
        return
    answer.read()
    retry = answer.headers.get("retry-after")
    retry_after_s = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
    detail = answer.text[:300]
    raise FleetError(f"{what}: server answered {answer.status_code}: {detail}", answer.status_code, retry_after_s)
