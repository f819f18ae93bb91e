"""A day of driving with the server down: 20,000 frames with evidence go into an outbox with
a tight disk budget; the oldest evidence is dropped (counted), no record is; when the server
comes back, everything drains exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from voirie.edge.sync.outbox import Outbox
from voirie.edge.sync.worker import SyncSettings, SyncWorker
from voirie.server.core.config import Settings
from voirie.server.core.db import make_engine, make_session_factory
from voirie.server.crud import create_device
from voirie.server.models import Base, DeviceCreate

from .conftest import ServerProcess, exactly_once, frame_records, jpeg_bytes

FRAMES = 20_000
BUDGET = 26_500_000  # the records take ~22.5 MB of pages: only a few hundred thumbnails fit


def register_offline(data_dir: Path, device_id: str) -> str:
    """Register the device straight in the server's database (the server is down)."""
    settings = Settings(data_dir=data_dir)
    engine = make_engine(settings)
    Base.metadata.create_all(engine)
    with make_session_factory(engine)() as session:
        token = create_device(session, DeviceCreate(device_id=device_id)).token
    engine.dispose()
    return token


def drive_one_day(outbox: Outbox) -> int:
    """Put the day's frames as the pipeline does (small transactions); the largest file size seen."""
    jpegs = [jpeg_bytes(2_000, seed=i) for i in range(16)]
    records, largest = frame_records(FRAMES), 0
    for start in range(0, FRAMES, 100):
        outbox.put_many([(r, jpegs[r.sequence % 16]) for r in records[start:start + 100]])
        if start % 1000 == 0:
            largest = max(largest, outbox.bytes_on_disk())
    return max(largest, outbox.bytes_on_disk())


def test_server_down_for_a_day_then_drains_within_budget(tmp_path, report):
    server = ServerProcess(tmp_path / "server")
    token = register_offline(server.data_dir, "car-1")
    outbox = Outbox(tmp_path / "o.sqlite3", disk_budget_bytes=BUDGET)
    settings = SyncSettings(server_url=server.url, device_id="car-1", token=token, batch_records=1000,
                            backoff_initial_s=0.1, backoff_max_s=1.0, idle_poll_s=0.1)
    worker, stop = SyncWorker(outbox, settings), threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()  # it keeps trying, and failing, all day
    started = time.perf_counter()
    largest_on_disk = drive_one_day(outbox)
    day_s, offline = time.perf_counter() - started, outbox.stats()
    try:
        server.start()
        back = time.perf_counter()
        while time.perf_counter() - back < 90 and (outbox.stats().pending_records or outbox.stats().pending_evidence):
            time.sleep(0.1)
        drain_s = time.perf_counter() - back
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    records = frame_records(FRAMES)
    with_evidence = [row[0] for row in server_rows(server.data_dir, "SELECT record_id FROM frames WHERE has_evidence")]
    figures = exactly_once({r.record_id for r in records}, [row[0] for row in server_rows(
        server.data_dir, "SELECT record_id FROM frames")])
    report("offline_day", **figures, generate_s=round(day_s, 1), drain_s=round(drain_s, 1),
           drain_records_per_s=round(FRAMES / drain_s), evidence_kept=offline.pending_evidence,
           evidence_dropped=offline.dropped_evidence, largest_on_disk=largest_on_disk, budget=BUDGET,
           oldest_pending=offline.oldest_pending_utc.isoformat())
    assert offline.pending_records == FRAMES and largest_on_disk <= BUDGET
    assert offline.dropped_evidence > 0 and offline.pending_evidence + offline.dropped_evidence == FRAMES
    assert figures["lost"] == figures["duplicated"] == figures["unexpected"] == 0
    # The evidence that survived is the newest: exactly the last frames of the day.
    assert sorted(with_evidence) == sorted(r.record_id for r in records[-offline.pending_evidence:])
    final = outbox.stats()
    assert final.pending_records == final.pending_evidence == 0 and outbox.integrity_check() == "ok"
    outbox.close()


def server_rows(data_dir: Path, query: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(data_dir / "voirie.sqlite3") as conn:
        return conn.execute(query).fetchall()
