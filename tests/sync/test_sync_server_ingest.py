"""Server ingest guarantees the sync relies on: one transaction per batch, replays say so."""

from __future__ import annotations

import sqlite3

import httpx

from voirie.edge.sync.outbox import Outbox
from voirie.edge.sync.worker import SyncSettings, SyncWorker

from .conftest import frame_records


def post(server, batch_id: str, records) -> httpx.Response:  # noqa: ANN001
    body = {"batch_id": batch_id, "device_id": "car-1",
            "records": [{"kind": "frame_record", "record": r.to_dict()} for r in records]}
    return httpx.post(f"{server.url}/api/v1/ingest", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {server.token}"})


def test_failure_at_the_last_row_stores_nothing_of_the_batch(tmp_path, server):
    records = frame_records(300)
    # A real SQLite failure on the very last detection row (as a full disk would give).
    with sqlite3.connect(server.data_dir / "voirie.sqlite3") as conn:
        conn.execute(f"CREATE TRIGGER fail_late BEFORE INSERT ON detections WHEN NEW.record_id = "
                     f"'{records[-1].record_id}' BEGIN SELECT RAISE(ABORT, 'simulated disk full'); END")
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, None) for r in records])
        worker = SyncWorker(outbox, SyncSettings(server_url=server.url, device_id="car-1", token=server.token,
                                                          backoff_initial_s=0.01))
        failed = worker.sync_once()
        assert failed.failed_batches == 1 and outbox.stats().pending_records == 300
        assert server.sql("SELECT (SELECT COUNT(*) FROM frames), (SELECT COUNT(*) FROM detections), "
                          "(SELECT COUNT(*) FROM ingest_batches)") == [(0, 0, 0)]
        with sqlite3.connect(server.data_dir / "voirie.sqlite3") as conn:
            conn.execute("DROP TRIGGER fail_late")
        # The next passes (the first may meet the connection the 500 left closed) store it all.
        accepted = sum(worker.sync_once().accepted for _ in range(3))
    assert accepted == 300 and sorted(server.stored_ids()) == sorted(r.record_id for r in records)


def test_replay_says_so_but_a_reused_id_with_new_records_is_no_replay(server):
    records = frame_records(20)
    assert post(server, "b-1", records[:10]).json()["replayed"] is False
    again = post(server, "b-1", records[:10]).json()
    assert again["replayed"] is True and again["accepted"] == [] and len(again["duplicates"]) == 10
    reused = post(server, "b-1", records).json()
    assert reused["replayed"] is False and len(reused["accepted"]) == 10
    assert len(server.stored_ids()) == 20
