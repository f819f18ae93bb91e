"""The agent's sync thread: ``SyncWorker.run(stop)`` with each pass shown in the status file."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from voirie.edge.agent.config import AgentConfig
from voirie.edge.agent.health import AgentStatus
from voirie.edge.sync.worker import SyncReport, SyncSettings, SyncWorker

logger = logging.getLogger(__name__)


def sync_settings(config: AgentConfig, token: str) -> SyncSettings:
    """The sync worker's settings from the ``[server]`` section."""
    s = config.server
    return SyncSettings(
        server_url=s.url, device_id=config.device_id, token=token, batch_records=s.batch_records,
        batch_bytes=s.batch_bytes, bandwidth_bytes_per_s=s.bandwidth_bytes_per_s,
        backoff_initial_s=s.backoff_initial_s, backoff_max_s=s.backoff_max_s, timeout_s=s.timeout_s,
        idle_poll_s=s.poll_s,
    )


class ObservedSyncWorker(SyncWorker):
    """A ``SyncWorker`` whose passes update the agent status (last sync, totals, last error)."""

    def __init__(self, outbox: Any, settings: SyncSettings, status: AgentStatus) -> None:
        super().__init__(outbox, settings)
        self.status = status

    def sync_once(self) -> SyncReport:
        """One pass of the worker, recorded in the status."""
        report = super().sync_once()
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if report.failed_batches:
            self.status.error(f"sync failed; retrying in {report.next_delay_s:.0f} s")
        elif report.sent or report.evidence_sent:
            self.status.update(last_sync={"time_utc": now, "sent": report.sent, "accepted": report.accepted,
                                          "duplicates": report.duplicates, "evidence_sent": report.evidence_sent})
        self.status.add(records_synced=report.accepted + report.duplicates)
        return report
