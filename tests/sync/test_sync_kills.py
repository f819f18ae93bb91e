"""kill -9 of the server during ingest, and of a writer+sync process: afterwards every
record the device accepted is on the server exactly once and both SQLite files are sound."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

from voirie.edge.sync.outbox import Outbox
from voirie.edge.sync.worker import SyncSettings, SyncWorker

from .conftest import ServerProcess, exactly_once, frame_records, jpeg_bytes, register_device
from .sync_records import run_sync_child


def wait_until(condition, timeout_s: float) -> bool:  # noqa: ANN001 - a callable
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def server_checks(data_dir: Path) -> dict[str, object]:
    """Per-batch atomicity and file integrity, read from the server's SQLite file."""
    with sqlite3.connect(data_dir / "voirie.sqlite3") as conn:
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
            "frames": conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0],
            "batch_accepted_sum": conn.execute("SELECT COALESCE(SUM(accepted), 0) FROM ingest_batches").fetchone()[0],
            "detections": conn.execute("SELECT COUNT(*) FROM detections").fetchone()[0],
        }


def test_kill_9_of_server_during_ingest_loses_and_duplicates_nothing(tmp_path, report):
    rng = random.Random(3)
    server = ServerProcess(tmp_path / "server").start()
    token = register_device(server.url, "car-1")
    records = frame_records(3000)
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.put_many([(r, jpeg_bytes(2_000, seed=i) if i % 100 == 0 else None) for i, r in enumerate(records)])
    settings = SyncSettings(server_url=server.url, device_id="car-1", token=token, batch_records=200,
                            timeout_s=5, backoff_initial_s=0.05, backoff_max_s=0.5, idle_poll_s=0.05)
    worker, stop = SyncWorker(outbox, settings), threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    started, kills_mid_drain = time.perf_counter(), 0
    try:
        thread.start()
        for _ in range(3):
            before = server_checks(server.data_dir)["frames"]
            wait_until(lambda: server_checks(server.data_dir)["frames"] > before, 20)  # ingest under way
            time.sleep(rng.uniform(0.0, 0.2))
            kills_mid_drain += outbox.stats().pending_records > 0
            server.kill()
            server.start()
        drained = wait_until(lambda: outbox.stats().pending_records == outbox.stats().pending_evidence == 0, 90)
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    drain_s = time.perf_counter() - started
    checks = server_checks(server.data_dir)
    figures = exactly_once({r.record_id for r in records}, [row[0] for row in sqlite3.connect(
        server.data_dir / "voirie.sqlite3").execute("SELECT record_id FROM frames")])
    report("server_kill_9", **figures, kills=3, kills_mid_drain=kills_mid_drain,
           replayed_batches=worker.replayed_batches, drain_s=round(drain_s, 1))
    assert drained and outbox.integrity_check() == "ok"
    outbox.close()
    assert figures["lost"] == figures["duplicated"] == figures["unexpected"] == 0
    assert kills_mid_drain >= 2
    # Each stored batch is whole: rows == the sum of what the batches accepted, one detection each.
    assert checks == {"integrity": "ok", "frames": 3000, "batch_accepted_sum": 3000, "detections": 3000}


def test_kill_9_of_writer_and_sync_process_keeps_outbox_sound_and_exactly_once(tmp_path, server, report):
    rng, outbox_path = random.Random(5), tmp_path / "o.sqlite3"
    sequence_of = {r.record_id: r.sequence for r in frame_records(20_000)}
    acknowledged: set[str] = set()
    first, kills, integrity = 0, 0, []
    for _ in range(4):
        printed = [rid for rid in run_sync_child(outbox_path, server.url, server.token, first, 600, rng.uniform(0.05, 0.8))
                   if rid in sequence_of]
        kills += 1
        acknowledged.update(printed)
        # The pipeline restarts a few frames back: replays must be no-ops.
        first = max([first] + [sequence_of[rid] - 5 for rid in printed])
        with sqlite3.connect(outbox_path) as conn:
            integrity.append(conn.execute("PRAGMA integrity_check").fetchone()[0])
    final = run_sync_child(outbox_path, server.url, server.token, first, 600, None)
    acknowledged.update(rid for rid in final if rid in sequence_of)
    figures = exactly_once(acknowledged, server.stored_ids())
    report("writer_sync_kill_9", **figures, kills=kills)
    assert final[-1] == "DRAINED" and integrity == ["ok"] * kills
    assert figures["lost"] == figures["duplicated"] == 0
    assert set(server.stored_ids()) <= set(sequence_of)  # put but killed before printing: allowed, once
    with Outbox(outbox_path) as outbox:
        stats = outbox.stats()
    assert stats.pending_records == stats.pending_evidence == 0
