"""Network faults between device and server: a proxy that slows, drops, stalls, resets and
cuts connections, and answers 500/429/503; afterwards every record is on the server once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx

from voirie.edge.sync.outbox import Outbox
from voirie.edge.sync.worker import SyncReport, SyncSettings, SyncWorker

from .conftest import exactly_once, frame_records, jpeg_bytes
from .faults import FaultProxy

FAULT_WEIGHTS = {"pass": 45, "slow": 10, "reset": 10, "drop": 8, "stall": 2, "cut": 16,
                 "http500": 6, "http429": 1, "http503": 2}


def seeded_plan(seed: int) -> Callable[[int], str]:
    rng = random.Random(seed)
    modes, weights = list(FAULT_WEIGHTS), list(FAULT_WEIGHTS.values())
    # The first batch is always cut after the server committed it: the case that matters most.
    choices = ["cut", "stall", "http503"] + [rng.choices(modes, weights)[0] for _ in range(100_000)]
    return lambda index: choices[index]


def worker_through(proxy_url: str, server, outbox: Outbox, **overrides) -> SyncWorker:  # noqa: ANN001
    """A worker that opens a new connection per request, so every request meets the plan."""
    settings = SyncSettings(server_url=proxy_url, device_id=server.device_id, token=server.token,
                            **{"timeout_s": 0.5, "backoff_initial_s": 0.02, "backoff_max_s": 0.2, **overrides})
    client = httpx.Client(base_url=proxy_url, timeout=settings.timeout_s,
                          headers={"Authorization": f"Bearer {server.token}"},
                          limits=httpx.Limits(max_keepalive_connections=0))
    return SyncWorker(outbox, settings, client=client)


def drain(worker: SyncWorker, outbox: Outbox, deadline_s: float) -> list[SyncReport]:
    """Passes until the outbox is empty (records and evidence) or the deadline."""
    reports, deadline = [], time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        reports.append(worker.sync_once())
        stats = outbox.stats()
        if stats.pending_records == 0 and stats.pending_evidence == 0:
            break
        time.sleep(reports[-1].next_delay_s)
    return reports


def test_faulty_network_still_delivers_every_record_exactly_once(tmp_path, server, report):
    records = frame_records(1500)
    with Outbox(tmp_path / "o.sqlite3") as outbox, FaultProxy(int(server.url.rsplit(":", 1)[1]),
                                                               seeded_plan(8), stall_s=1.0) as proxy:
        outbox.put_many([(r, jpeg_bytes(2_000, seed=i) if i % 50 == 0 else None) for i, r in enumerate(records)])
        worker = worker_through(proxy.url, server, outbox, batch_records=200, backoff_max_s=0.1)
        started = time.perf_counter()
        reports = drain(worker, outbox, deadline_s=75)
        drain_s = time.perf_counter() - started
        stats = outbox.stats()
    figures = exactly_once({r.record_id for r in records}, server.stored_ids())
    report("network_faults", **figures, sent=sum(r.sent for r in reports),
           resent_caught_as_duplicates=sum(r.duplicates for r in reports),
           failed_requests=sum(r.failed_batches for r in reports), replayed_batches=worker.replayed_batches,
           drain_s=round(drain_s, 1),
           faults=dict(proxy.faults), evidence_on_server=len(list((server.data_dir / "evidence").glob("*.jpg"))))
    assert stats.pending_records == 0 and stats.pending_evidence == 0, stats
    assert figures["lost"] == figures["duplicated"] == figures["unexpected"] == 0
    assert sum(r.failed_batches for r in reports) > 0 and proxy.faults["cut"] > 0
    assert sum(r.duplicates for r in reports) > 0  # cut answers were re-sent and recognised
    assert worker.replayed_batches >= 1  # the same batch id came back: the server said "replayed"
    assert server.sql("SELECT COUNT(*) FROM frames WHERE has_evidence") == [(30,)]


def test_429_retry_after_is_honoured_and_500_backs_off(tmp_path, server):
    plan = ["http429", "http500", "http500", "http500", "pass"]
    with Outbox(tmp_path / "o.sqlite3") as outbox, FaultProxy(int(server.url.rsplit(":", 1)[1]),
                                                               lambda i: plan[min(i, 4)]) as proxy:
        outbox.put_many([(r, None) for r in frame_records(10)])
        worker = worker_through(proxy.url, server, outbox)
        delays = [worker.sync_once().next_delay_s for _ in range(5)]
    assert 1.0 <= delays[0] <= 1.2  # Retry-After: 1, plus at most 10 % jitter
    # Failures 2, 3 and 4 in a row: 0.04, 0.08, 0.16 s, each with equal jitter (half to whole).
    assert 0.02 <= delays[1] <= 0.04 and 0.04 <= delays[2] <= 0.08 and 0.08 <= delays[3] <= 0.16
    assert delays[4] == worker.settings.idle_poll_s and len(server.stored_ids()) == 10


def test_captive_portal_answer_is_a_retry_not_a_prune(tmp_path, server):
    plan = ["portal", "portal", "pass"]
    with Outbox(tmp_path / "o.sqlite3") as outbox, FaultProxy(int(server.url.rsplit(":", 1)[1]),
                                                               lambda i: plan[min(i, 2)]) as proxy:
        outbox.put_many([(r, None) for r in frame_records(5)])
        worker = worker_through(proxy.url, server, outbox)
        first = worker.sync_once()
        assert first.failed_batches == 1 and outbox.stats().pending_records == 5
        reports = drain(worker, outbox, deadline_s=20)
    assert reports[-1].accepted == 5 and len(server.stored_ids()) == 5
