"""The outbox on a real SQLite file: idempotent puts, budget policy, refusals, pruning."""

from __future__ import annotations

import sqlite3

import pytest

from voirie.edge.sync.outbox import Outbox, OutboxFullError
from voirie.records import GeoFix

from .conftest import START, count_bins, frame_records, jpeg_bytes


def test_put_is_durable_idempotent_and_ordered_by_insertion(tmp_path):
    records = frame_records(5)
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        assert outbox.put(records[3]) == records[3].record_id
        assert outbox.put_many([(r, None) for r in records]) == [r.record_id for r in records]
        outbox.put(records[3])  # replayed by a restarted pipeline: no-op
        stats = outbox.stats()
        batch = outbox.next_batch(100, 1_000_000)
    assert stats.pending_records == 5 and stats.pending_evidence == 0
    assert stats.oldest_pending_utc == START
    # Insertion order, not record time: record 3 went in first.
    assert batch.record_ids == [records[i].record_id for i in (3, 0, 1, 2, 4)]
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as conn:  # what is really on disk
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone() == (5,)


def test_batches_respect_count_and_bytes_and_batch_id_is_stable(tmp_path):
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, None) for r in frame_records(30)])
        by_count = outbox.next_batch(7, 10_000_000)
        three = sum(len(item) + 1 for item in by_count.items_json[:3])  # items joined by commas
        by_bytes = outbox.next_batch(100, three)
        assert len(by_count.record_ids) == 7 and len(by_bytes.record_ids) == 3
        assert outbox.next_batch(7, 10_000_000).batch_id == by_count.batch_id
        assert outbox.next_batch(100, 10).record_ids == by_count.record_ids[:1]  # never empty when pending
        outbox.acknowledge(by_count.record_ids)
        assert outbox.stats().pending_records == 23
        assert outbox.next_batch(7, 10_000_000).batch_id != by_count.batch_id


def test_evidence_waits_for_its_record_then_is_pruned(tmp_path):
    records = frame_records(3)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, jpeg_bytes(seed=i)) for i, r in enumerate(records)])
        assert outbox.ready_evidence(10) == []
        outbox.acknowledge([records[1].record_id])
        ready = outbox.ready_evidence(10)
        assert [rid for rid, _ in ready] == [records[1].record_id] and ready[0][1] == jpeg_bytes(seed=1)
        outbox.evidence_done(records[1].record_id)
        stats = outbox.stats()
    assert (stats.pending_records, stats.pending_evidence, stats.dropped_evidence) == (2, 2, 0)


def test_over_budget_drops_oldest_evidence_first_and_counts_it(tmp_path):
    budget = 1024**2  # 80 % usable: ~838 kB
    records = frame_records(60)
    with Outbox(tmp_path / "o.sqlite3", disk_budget_bytes=budget) as outbox:
        for i, record in enumerate(records):
            outbox.put(record, jpeg_bytes(20_000, seed=i))
        stats = outbox.stats()
        with sqlite3.connect(tmp_path / "o.sqlite3") as conn:
            kept = [row[0] for row in conn.execute("SELECT record_id FROM evidence ORDER BY seq")]
    assert stats.pending_records == 60  # records are never dropped
    assert stats.dropped_evidence == 60 - len(kept) > 0
    assert kept == [r.record_id for r in records[-len(kept):]]  # the newest evidence survived
    assert stats.bytes_on_disk <= budget


def test_records_alone_over_budget_raise_and_store_nothing_of_that_call(tmp_path):
    with Outbox(tmp_path / "o.sqlite3", disk_budget_bytes=1024**2) as outbox:
        with pytest.raises(OutboxFullError, match="disk budget"):
            for start in range(0, 10_000, 500):
                outbox.put_many([(r, jpeg_bytes(seed=1)) for r in frame_records(500, first=start)])
        stats = outbox.stats()
        assert stats.pending_records == 500  # the first call fits, the second is refused whole
        assert 0 < stats.pending_evidence < 500 and stats.pending_evidence + stats.dropped_evidence == 500
        assert stats.bytes_on_disk <= 1024**2
        assert outbox.integrity_check() == "ok"


@pytest.mark.parametrize(("record", "jpeg", "message"), [
    (GeoFix(lat=1, lon=1, time_utc=START), None, "stores FrameRecord, CountBin"),
    (count_bins(1)[0], b"\xff\xd8\xff\xe0", "evidence belongs to a FrameRecord"),
    (frame_records(1)[0], b"PNG...", "not a JPEG"),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_stored(tmp_path, record, jpeg, message):
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put(frame_records(1, first=9)[0])
        with pytest.raises(ValueError, match=message):
            outbox.put_many([(frame_records(1, first=5)[0], None), (record, jpeg)])
        assert outbox.stats().pending_records == 1


def test_budget_below_minimum_is_refused(tmp_path):
    with pytest.raises(ValueError, match="disk_budget_bytes"):
        Outbox(tmp_path / "o.sqlite3", disk_budget_bytes=1000)


def test_quarantined_record_is_kept_but_no_longer_sent(tmp_path):
    records = frame_records(2)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, None) for r in records])
        outbox.quarantine(records[0].record_id, "HTTP 422: fix.lat")
        assert outbox.next_batch(10, 1_000_000).record_ids == [records[1].record_id]
        assert outbox.stats().quarantined_records == 1
