"""The agent's heartbeat thread: ``FleetClient.heartbeat`` every ``server.heartbeat_s``.

FLEET CALL SITE: ``HeartbeatLoop.beat`` is the single place the agent talks to the fleet
API (branch ``fleet``: ``voirie.edge.fleet.FleetClient``). Until that module is present
the loop logs once that heartbeats are off and keeps the device running.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from voirie.edge.agent_config import AgentConfig
from voirie.edge.agent_health import AgentStatus

logger = logging.getLogger(__name__)


class HeartbeatLoop:
    """Sends a heartbeat now and then every ``heartbeat_s`` until the agent stops."""

    def __init__(self, config: AgentConfig, token: str, status: AgentStatus, outbox: Any,
                 stop: threading.Event | None = None) -> None:
        self.config, self.status, self.outbox = config, status, outbox
        self._token = token
        self.stop = stop
        self.client = None

    def run(self, stop: threading.Event | None = None) -> None:
        """Loop until ``stop``; a failed heartbeat is logged and retried next period."""
        stop = stop or self.stop
        try:
            from voirie.edge.fleet import FleetClient  # branch fleet
        except ImportError:
            logger.warning("fleet client not installed: no heartbeats (records still sync)")
            return
        server = self.config.server
        self.client = FleetClient(server.url, self.config.device_id, self._token, timeout_s=min(10.0, server.timeout_s))
        while True:
            try:
                self.beat()
            except Exception as error:  # noqa: BLE001 - a heartbeat must never stop the device
                logger.warning("heartbeat failed: %s", error)
            if stop is None or stop.wait(server.heartbeat_s):
                return

    def beat(self) -> None:
        """One heartbeat (FLEET CALL SITE): filled in when branch ``fleet`` is merged."""
        raise NotImplementedError("heartbeat payload: waiting for branch fleet")
