"""The sync worker against a real server on 127.0.0.1: drain, evidence, resume, refusals."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import httpx
import pytest

from voirie.edge.sync.outbox import Outbox
from voirie.edge.sync.worker import SyncSettings, SyncWorker

from .conftest import ADMIN_KEY, count_bins, exactly_once, frame_records, jpeg_bytes, register_device


def settings_for(server, **overrides) -> SyncSettings:  # noqa: ANN001 - fixture object
    return SyncSettings(server_url=server.url, device_id=server.device_id, token=server.token,
                        backoff_initial_s=0.05, backoff_max_s=0.5, **overrides)


def test_drains_records_and_evidence_exactly_once(tmp_path, server, report):
    records = frame_records(1200)
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.put_many([(r, jpeg_bytes(seed=i) if i % 10 == 0 else None) for i, r in enumerate(records)])
        worker = SyncWorker(outbox, settings_for(server, batch_records=500))
        started = time.perf_counter()
        result = worker.sync_once()
        drain_s = time.perf_counter() - started
        again = worker.sync_once()
        stats = outbox.stats()
        worker.close()
    figures = exactly_once({r.record_id for r in records}, server.stored_ids())
    report("drain", **figures, drain_s=round(drain_s, 2), evidence=result.evidence_sent)
    assert (result.sent, result.accepted, result.duplicates, result.failed_batches) == (1200, 1200, 0, 0)
    assert result.evidence_sent == 120 and result.next_delay_s == worker.settings.idle_poll_s
    assert again.sent == 0 and stats.pending_records == 0 and stats.pending_evidence == 0
    assert figures["lost"] == figures["duplicated"] == figures["unexpected"] == 0
    assert server.sql("SELECT COUNT(*) FROM frames WHERE has_evidence") == [(120,)]
    assert len(list((server.data_dir / "evidence").glob("*.jpg"))) == 120


def test_restart_after_unacknowledged_send_replays_the_same_batch(tmp_path, server):
    records = frame_records(50)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, None) for r in records])
        batch = outbox.next_batch(500, 1_000_000)
    # The previous worker sent this batch, then died before pruning (kill -9 after the POST).
    worker_settings = settings_for(server)
    first = SyncWorker(Outbox(tmp_path / "o.sqlite3"), worker_settings)
    assert first._post_batch(batch).json()["replayed"] is False
    with Outbox(tmp_path / "o.sqlite3") as reopened:  # a new process: state is only the file
        worker = SyncWorker(reopened, worker_settings)
        result = worker.sync_once()
        worker.close()
    first.close()
    first.outbox.close()
    assert (result.accepted, result.duplicates) == (0, 50)
    assert server.sql("SELECT COUNT(*), MAX(duplicates) FROM ingest_batches") == [(1, 0)]
    assert sorted(server.stored_ids()) == sorted(r.record_id for r in records)


def test_count_bins_go_to_the_count_table(tmp_path, server):
    token = register_device(server.url, "pole-1")
    bins = count_bins(96)  # one day of 15-minute bins
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(b, None) for b in bins])
        settings = SyncSettings(server_url=server.url, device_id="pole-1", token=token)
        result = SyncWorker(outbox, settings).sync_once()
    assert result.accepted == 96
    assert sorted(server.stored_ids("count_bins")) == sorted(b.record_id for b in bins)


def test_record_the_server_refuses_is_quarantined_and_the_rest_flows(tmp_path, server):
    mine, foreign = frame_records(20), frame_records(1, device_id="car-2", first=100)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, None) for r in mine[:10] + foreign + mine[10:]])
        worker = SyncWorker(outbox, settings_for(server))
        for _ in range(3):
            worker.sync_once()
        stats = outbox.stats()
    assert sorted(server.stored_ids()) == sorted(r.record_id for r in mine)
    assert (stats.pending_records, stats.quarantined_records) == (0, 1)


def test_server_down_backs_off_and_token_never_logged(tmp_path, server, caplog):
    caplog.set_level(logging.DEBUG)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put(frame_records(1)[0])
        settings = SyncSettings(server_url="http://127.0.0.1:9", device_id="car-1", token=server.token,
                                backoff_initial_s=1.0, backoff_max_s=8.0)
        worker = SyncWorker(outbox, settings)
        delays = [worker.sync_once().next_delay_s for _ in range(5)]
        assert outbox.stats().pending_records == 1
    assert 0.5 <= delays[0] <= 1.0 and 4.0 <= delays[3] <= 8.0 and delays[4] <= 8.0
    assert server.token not in caplog.text and server.token not in repr(settings)
    assert "retrying in" in caplog.text


def test_bandwidth_cap_paces_uploads(tmp_path, server):
    records = frame_records(25)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, jpeg_bytes(10_000, seed=i)) for i, r in enumerate(records)])
        worker = SyncWorker(outbox, settings_for(server, bandwidth_bytes_per_s=100_000))
        started = time.perf_counter()
        result = worker.sync_once()
        elapsed = time.perf_counter() - started
    # ~250 kB of evidence at 100 kB/s after a 100 kB burst: at least ~1.5 s, however fast the machine.
    assert result.evidence_sent == 25 and elapsed >= 1.4


def test_run_loop_stops_promptly_and_drains_what_arrives(tmp_path, server):
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        worker = SyncWorker(outbox, settings_for(server, idle_poll_s=0.1))
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        outbox.put_many([(r, None) for r in frame_records(30)])
        deadline = time.monotonic() + 20
        while outbox.stats().pending_records and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive() and len(server.stored_ids()) == 30


@pytest.mark.parametrize(("field", "value"), [("server_url", "ftp://x"), ("batch_records", 0),
                                              ("bandwidth_bytes_per_s", 0), ("backoff_initial_s", 500.0)])
def test_bad_settings_are_refused_by_name(field, value):
    values = {"server_url": "http://127.0.0.1:1", "device_id": "car-1", "token": "vdt_x", field: value}
    with pytest.raises(ValueError, match=field):
        SyncSettings(**values)


def test_revoked_token_keeps_records_and_evidence_and_says_why(tmp_path, server, caplog):
    records = frame_records(3)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, jpeg_bytes(seed=i)) for i, r in enumerate(records)])
        bad = SyncSettings(server_url=server.url, device_id="car-1", token="vdt_not-a-real-token")
        result = SyncWorker(outbox, bad).sync_once()
        stats = outbox.stats()
    assert result.failed_batches == 1 and (stats.pending_records, stats.pending_evidence) == (3, 3)
    assert "token (401)" in caplog.text and "vdt_not-a-real-token" not in caplog.text


def test_a_record_refused_alike_again_and_again_is_quarantined_and_counted(tmp_path, server):
    """A refusal naming no record (here a 409: an older server let car-9 squat one of car-1's
    ids) must not block the outbox for ever: after ``max_identical_refusals`` alike the worker
    sends records one at a time, then sets the one at fault aside and says so in its heartbeat."""
    from voirie.edge.fleet.client import DeviceStatus, FleetClient

    records = frame_records(10)
    squatted = records[4].record_id
    with sqlite3.connect(server.data_dir / "voirie.sqlite3") as conn:
        conn.execute("INSERT INTO frames (record_id, device_id, survey_id, camera_id, sequence, time_utc, lat, lon, "
                     "image_width, image_height, has_evidence, record_json, received_at) VALUES "
                     "(?, 'car-9', 's', 'c', 0, '2026-01-01 00:00:00', 0, 0, 1, 1, 0, '{}', '2026-01-01 00:00:00')",
                     (squatted,))
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, None) for r in records])
        worker = SyncWorker(outbox, settings_for(server, max_identical_refusals=3))
        reports = [worker.sync_once() for _ in range(2)]
        assert outbox.stats().pending_records == 10  # refused alike twice: still retried as a batch
        reports += [worker.sync_once() for _ in range(6)]
        stats = outbox.stats()
        worker.close()
    # Twice as a batch (the third refusal splits it), twice alone (the third quarantines it).
    assert sum(r.failed_batches for r in reports) == 2 + 2
    assert (stats.pending_records, stats.quarantined_records) == (0, 1)
    assert sorted(server.stored_ids()) == sorted([r.record_id for r in records])  # the 9 + the squatted row
    assert server.sql(f"SELECT device_id FROM frames WHERE record_id = '{squatted}'") == [("car-9",)]
    status = DeviceStatus.collect(tmp_path, outbox_stats=stats)
    client = FleetClient(server.url, "car-1", server.token)
    try:
        client.heartbeat(status)
    finally:
        client._client.close()
    devices = httpx.get(f"{server.url}/api/v1/devices", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
    assert next(d for d in devices if d["device_id"] == "car-1")["quarantined_records"] == 1


def test_server_errors_never_quarantine(tmp_path, server):
    """5xx, 429 and 401 are the server's or the token's state, not the record's: never set aside."""
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put(frame_records(1)[0])
        bad = settings_for(server, max_identical_refusals=1)
        worker = SyncWorker(outbox, SyncSettings(**{**bad.__dict__, "token": "vdt_wrong"}))
        for _ in range(4):
            worker.sync_once()
        worker.close()
        assert (outbox.stats().pending_records, outbox.stats().quarantined_records) == (1, 0)
