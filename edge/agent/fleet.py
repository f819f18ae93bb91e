"""The agent's heartbeat thread and model rollout (``voirie.edge.fleet.FleetClient``).

Every ``server.heartbeat_s`` the agent reports its version, models (+ sha256), free disk,
outbox depth, last fix and clock; the reply may offer a damage model. The offer is
downloaded, verified and installed atomically under ``<state_dir>/models`` by the fleet
client, then handed to the pipeline thread through a ``ModelSlot``: the survey loop
swaps detectors between two frames. A model the pipeline cannot load is rolled back
here (and reported on the next heartbeat). Counting devices do not run damage models:
they report offers as refused.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from voirie.edge.agent.config import AgentConfig
from voirie.edge.agent.health import AgentStatus
from voirie.edge.fleet.client import DeviceStatus, FleetClient, FleetError, ModelRefusedError
from voirie.records import ModelOffer, ModelStatus

logger = logging.getLogger(__name__)


class ModelSlot:
    """Passes installed model files from the heartbeat thread to the pipeline, and failures back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Path | None = None
        self._failed: str | None = None

    def offer(self, path: Path) -> None:
        """A new model is installed and current: the pipeline should load it."""
        with self._lock:
            self._pending = Path(path)

    def take(self) -> Path | None:
        """The model to switch to, once (pipeline thread)."""
        with self._lock:
            path, self._pending = self._pending, None
            return path

    def failed(self, error: str) -> None:
        """The pipeline could not load the new model: roll it back on the next heartbeat."""
        with self._lock:
            self._failed = error

    def take_failure(self) -> str | None:
        with self._lock:
            error, self._failed = self._failed, None
            return error


def model_dir(config: AgentConfig) -> Path:
    """Where rolled-out models are installed (``versions/`` + ``active.json``)."""
    return config.state_dir / "models"


class HeartbeatLoop:
    """Sends a heartbeat now and then every ``heartbeat_s`` until ``stop``."""

    def __init__(self, config: AgentConfig, token: str, status: AgentStatus, outbox: Any,
                 stop: threading.Event, slot: ModelSlot) -> None:
        self.config, self.status, self.outbox, self.stop, self.slot = config, status, outbox, stop, slot
        server = config.server
        self.client = FleetClient(server.url, config.device_id, token, timeout_s=min(10.0, server.timeout_s))
        self._ignored: set[str] = set()

    def run(self) -> None:
        """Loop until ``stop``; a failed heartbeat is logged and retried next period."""
        try:
            while True:
                try:
                    self.beat()
                except FleetError as error:
                    logger.warning("heartbeat failed: %s", error)
                except Exception:  # noqa: BLE001 - a heartbeat bug must never stop the device
                    logger.exception("heartbeat crashed")
                if self.stop.wait(self.config.server.heartbeat_s):
                    return
        finally:
            self.client.close()

    def device_status(self) -> DeviceStatus:
        """What this heartbeat reports."""
        data = self.status.snapshot()
        last_fix = (data.get("last_fix") or {}).get("time_utc")
        loaded = data.get("model") or {}
        extra = ()
        if loaded.get("sha256") and not loaded.get("rolled_out"):  # a zoo/registered model, not in model_dir
            extra = (ModelStatus(model_id=loaded["model_id"], version=loaded.get("model_version"),
                                 sha256=loaded["sha256"]),)
        return DeviceStatus.collect(self.config.state_dir, outbox_stats=self.outbox.stats(),
                                    model_dir=model_dir(self.config),
                                    last_fix_utc=datetime.fromisoformat(last_fix) if last_fix else None,
                                    mode="survey" if self.config.mode == "survey" else "count", extra_models=extra,
                                    anonymizer_horizon=data.get("anonymizer_horizon"))

    def beat(self) -> None:
        """One heartbeat; applies the model offer its reply carries (FLEET CALL SITE)."""
        failure = self.slot.take_failure()
        if failure is not None:
            path = self.client.roll_back(model_dir(self.config))
            logger.error("new model could not run (%s); rolled back to %s", failure, path)
            self.slot.offer(path)
        reply = self.client.heartbeat(self.device_status())
        self.status.update(last_heartbeat={"time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                           "skew_s": round(reply.skew_s, 3)})
        if reply.offer is not None:
            self._apply(reply.offer)

    def _apply(self, offer: ModelOffer) -> None:
        if self.config.mode != "survey":
            if offer.offer_id not in self._ignored:
                logger.warning("model offer %s ignored: a counting device runs no damage model", offer.offer_id)
                self._ignored.add(offer.offer_id)
            return
        try:
            path = self.client.apply_model_offer(offer, model_dir(self.config))
        except ModelRefusedError:
            return  # logged and reported by the client; the old model keeps running
        except FleetError as error:
            logger.warning("model download failed, retried on a later heartbeat: %s", error)
            return
        logger.info("model %s %s installed; switching the pipeline to it", offer.model_id, offer.version)
        self.slot.offer(path)
