"""The pipeline's door to the outbox: a full outbox refuses records (counted, logged), never crashes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from voirie.edge.agent.runner import RecordSink
from voirie.edge.agent.health import AgentStatus
from voirie.edge.sync.outbox import Outbox
from voirie.records import CountBin

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)


def _bins(start: int, n: int) -> list[CountBin]:
    out = []
    for i in range(start, start + n):
        when = T0 + timedelta(minutes=15 * i)
        out.append(CountBin(record_id=CountBin.make_id("pole", "cam", "main", "in", "car", when), device_id="pole",
                            camera_id="cam", line_id="main", direction="in", class_name="car",
                            bin_start_utc=when, count=i))
    return out


def test_full_outbox_refuses_new_records_and_keeps_the_accepted_ones(tmp_path: Path) -> None:
    status = AgentStatus("counting", "pole", stall_after_s=60)
    with Outbox(tmp_path / "outbox.sqlite3", disk_budget_bytes=1024**2) as outbox:
        sink = RecordSink(outbox, status)
        for batch in range(40):  # ~500 B per record: far past a 1 MiB budget
            sink.put_many(_bins(batch * 200, 200))
        for record in _bins(10_000, 200):  # single records fill what room is left, then are refused
            sink.put(record)
        accepted = outbox.stats().pending_records
    data = status.snapshot()
    assert 0 < accepted == data["records_queued"] < 8000  # what the status calls queued is in the outbox
    assert data["records_refused"] == 8200 - accepted > 0
    assert "outbox full" in data["last_error"]["message"]
