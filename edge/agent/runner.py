"""The unattended edge agent: one pipeline (survey or counting) → outbox → sync, with health.

    main thread     survey / counting pipeline ──put──▶ Outbox (SQLite, durable on return)
    "sync"          SyncWorker.run(stop): outbox ──batches──▶ server
    "status"        status.json every few seconds (+ systemd watchdog ping)
    "heartbeat"     FleetClient.heartbeat every server.heartbeat_s (model offers)
    "health"        GET /health on 127.0.0.1 (optional)

SIGTERM or SIGINT sets one ``stop`` event: the pipeline finishes the frame in hand (its
record is committed or it was never accepted), the sync thread ends its request, the
outbox is closed, the final status is written, exit 0. A kill -9 or a power cut skips
all of that and loses nothing the outbox accepted: see ``agent.state`` and
``agent.count`` for how the restarted run continues without colliding ids.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from voirie.edge.agent.config import AgentConfig
from voirie.edge.agent.fleet import ModelSlot
from voirie.edge.agent.health import AgentStatus, HealthServer, StatusWriter
from voirie.edge.agent.log import SecretFilter
from voirie.edge.agent.state import AgentState
from voirie.records import WireRecord

logger = logging.getLogger(__name__)

EVIDENCE_STUCK_S = 30.0  # --until-drained: evidence that stops moving for this long is left queued


class RecordSink:
    """The pipeline's door to the outbox: counts what was queued, reports a full outbox."""

    def __init__(self, outbox: Any, status: AgentStatus) -> None:
        self.outbox, self.status = outbox, status

    def put(self, record: WireRecord, evidence: bytes | None = None) -> None:
        """Commit one record (and its evidence JPEG); an outbox full of records is logged, not fatal."""
        from voirie.edge.sync.outbox import OutboxFullError

        try:
            self.outbox.put(record, evidence)
        except OutboxFullError as error:
            self._full(error, 1)
            return
        self.status.add(records_queued=1, evidence_queued=int(evidence is not None))

    def put_many(self, records: list[WireRecord]) -> None:
        """Commit records in one transaction (a batch of closed count bins)."""
        from voirie.edge.sync.outbox import OutboxFullError

        try:
            self.outbox.put_many([(record, None) for record in records])
        except OutboxFullError as error:
            self._full(error, len(records))
            return
        self.status.add(records_queued=len(records))

    def _full(self, error: Exception, n: int) -> None:
        # Records are never dropped by the outbox to make room: these ones were not
        # accepted; the sync draining the backlog frees space for the next ones.
        self.status.add(records_refused=n)
        total = self.status.data["records_refused"]
        # Once full this happens at every record: log at powers of two, keep the count exact.
        level = logging.ERROR if total & (total - 1) == 0 or n > 1 else logging.DEBUG
        logger.log(level, "outbox full, %d record(s) not accepted (%d so far): %s", n, total, error)
        self.status.error(f"outbox full: {error}")


class Agent:
    """Runs one configured device until stopped (or, with ``until_drained``, until done)."""

    def __init__(self, config: AgentConfig, *, until_drained: bool = False, secrets: SecretFilter | None = None) -> None:
        self.config, self.until_drained = config, until_drained
        self.secrets = secrets or SecretFilter()
        self.stop = threading.Event()
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = AgentState(config.state_dir, block=5000)
        self.status = AgentStatus(config.mode, config.device_id, config.health.stall_after_s)
        self.models = ModelSlot()  # rolled-out models: heartbeat thread -> pipeline
        self.poke: Callable[[], None] = lambda: None  # write the status file now

    def install_signal_handlers(self) -> None:
        """SIGTERM (systemd stop) and SIGINT (Ctrl-C) stop the agent cleanly; a second one forces."""

        def handle(signum: int, _frame: object) -> None:
            if self.stop.is_set():
                raise SystemExit(f"second {signal.Signals(signum).name}: exiting now")
            logger.info("%s received: stopping", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> int:
        """Run until stopped; returns the process exit status (0 clean, 1 pipeline failure)."""
        run = self.state.start_run()
        self.status.update(run=run)
        logger.info("agent starting: mode %s, device %s, run %d", self.config.mode, self.config.device_id, run)
        with ExitStack() as stack:
            outbox = self._open_outbox(stack)
            sink = RecordSink(outbox, self.status)
            writer = StatusWriter(self.status, self.config.status_path, self.config.health.status_interval_s)
            writer.refresh = lambda: self._refresh_outbox(outbox)
            stack.callback(writer.stop)
            stack.callback(self.status.update, state="stopped")  # after the threads, before the last write
            self._start_threads(stack, outbox)
            writer.start()
            self.poke = writer.poke
            code = self._run_pipeline(sink)
            if code == 0 and not self.stop.is_set():
                self._after_source(outbox)
            self.status.update(state="stopping")
            self.stop.set()
        logger.info("agent stopped (exit %d)", code)
        return code

    def _open_outbox(self, stack: ExitStack) -> Any:
        from voirie.edge.sync.outbox import Outbox

        budget = self.config.outbox.disk_budget_mb * 1024 * 1024
        outbox = Outbox(self.config.outbox_path, disk_budget_bytes=budget)
        stack.callback(outbox.close)
        self._refresh_outbox(outbox)
        return outbox

    def _refresh_outbox(self, outbox: Any) -> None:
        try:
            stats = outbox.stats()
        except Exception as error:  # noqa: BLE001 - status must not kill the agent
            logger.debug("outbox stats unavailable: %s", error)
            return
        self.status.update(outbox={
            "pending_records": stats.pending_records, "pending_evidence": stats.pending_evidence,
            "bytes_on_disk": stats.bytes_on_disk, "disk_budget_bytes": stats.disk_budget_bytes,
            "dropped_evidence": stats.dropped_evidence,
            "quarantined_records": getattr(stats, "quarantined_records", 0),
            "oldest_pending_utc": stats.oldest_pending_utc.isoformat() if stats.oldest_pending_utc else None,
        })

    def _start_threads(self, stack: ExitStack, outbox: Any) -> None:
        server = self.config.server
        if server is None:
            logger.warning("no [server] configured: records wait in the outbox")
        else:
            token = server.read_token().get_secret_value()
            self.secrets.add(token)
            _start(stack, self.stop, "sync", self._sync_target(outbox, token), join_s=server.timeout_s + 5)
            from voirie.edge.agent.fleet import HeartbeatLoop

            heartbeat = HeartbeatLoop(self.config, token, self.status, outbox, self.stop, self.models)
            _start(stack, self.stop, "heartbeat", heartbeat.run, join_s=15)
        if self.config.health.http_port is not None:
            health = HealthServer(self.status, self.config.health.http_port).start()
            stack.callback(health.stop)

    def _sync_target(self, outbox: Any, token: str) -> Callable[[], None]:
        from voirie.edge.agent.sync import ObservedSyncWorker, sync_settings

        worker = ObservedSyncWorker(outbox, sync_settings(self.config, token), self.status)
        return lambda: _closing(worker, self.stop)

    def _run_pipeline(self, sink: RecordSink) -> int:
        from voirie.edge.agent.pipeline import run_mode

        self.status.update(state="running")
        self.poke()
        try:
            run_mode(self.config, sink, self.status, self.state, self.stop, self.models)
        except (ValueError, OSError) as error:  # camera gone, gpsd gone, bad model: systemd restarts us
            logger.error("pipeline stopped: %s", error)
            self.status.error(f"pipeline stopped: {error}")
            return 1
        except Exception as error:  # a bug: leave a trace in the status too; systemd restarts us
            logger.exception("pipeline crashed")
            self.status.error(f"pipeline crashed: {type(error).__name__}: {error}")
            return 1
        return 0

    def _after_source(self, outbox: Any) -> None:
        """A recorded source ended: keep syncing (until drained, or until stopped)."""
        self.status.update(state="source_ended", source_ended=True)
        self.poke()
        logger.info("source ended; %s", "draining the outbox" if self.until_drained else "syncing until stopped")
        if self.until_drained and self.config.server is None:
            return
        evidence_seen, since = None, time.monotonic()
        while not self.stop.wait(0.2):
            if not self.until_drained:
                continue
            stats = outbox.stats()
            if stats.pending_records == 0 and stats.pending_evidence == 0:
                logger.info("outbox drained")
                return
            if stats.pending_evidence != evidence_seen:
                evidence_seen, since = stats.pending_evidence, time.monotonic()
            elif stats.pending_records == 0 and time.monotonic() - since > EVIDENCE_STUCK_S:
                logger.warning("%d evidence photos not uploaded (refused or their record quarantined); "
                               "they stay in the outbox", stats.pending_evidence)
                return


def _closing(worker: Any, stop: threading.Event) -> None:
    try:
        worker.run(stop)
    finally:
        worker.close()


def _start(stack: ExitStack, stop: threading.Event, name: str, target: Callable[[], None], join_s: float) -> None:
    """Start a daemon thread that ends when ``stop`` is set; joined (bounded) at exit."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()

    def join() -> None:
        stop.set()
        thread.join(timeout=join_s)
        if thread.is_alive():
            logger.warning("%s thread still busy after %.0f s; leaving it", name, join_s)

    stack.callback(join)
