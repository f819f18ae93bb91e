"""Ingest through real HTTP: idempotent replay, validation errors, gzip, count bins."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

from voirie.records import CountBin
from voirie.lab.synth.records import frames_along

from .conftest import STREET


def test_replayed_batch_changes_nothing_and_says_so(live):
    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=0.8, seed=1)
    first = live.ingest(auth, frames, "batch-1")
    assert first.status_code == 200
    assert first.json()["accepted"] == [f.record_id for f in frames] and not first.json()["replayed"]
    before = live.sql("SELECT COUNT(*), (SELECT COUNT(*) FROM detections) FROM frames")
    received = live.sql("SELECT received_at FROM frames ORDER BY record_id")
    again = live.ingest(auth, frames, "batch-1")
    assert again.status_code == 200
    assert again.json() == {"batch_id": "batch-1", "accepted": [], "duplicates": [f.record_id for f in frames],
                            "replayed": True}
    assert live.sql("SELECT COUNT(*), (SELECT COUNT(*) FROM detections) FROM frames") == before
    assert live.sql("SELECT received_at FROM frames ORDER BY record_id") == received
    assert before[0][1] == sum(len(f.detections) for f in frames)
    # The same records under a new batch id (outbox re-sent after a crash): all duplicates.
    other = live.ingest(auth, frames[:5] + frames_along(STREET, survey_id="s2")[:2], "batch-2").json()
    assert len(other["duplicates"]) == 5 and len(other["accepted"]) == 2 and not other["replayed"]


def test_validation_error_names_record_index_and_field_and_stores_nothing(live):
    auth = live.register("car-1")
    records = [f.to_dict() for f in frames_along(STREET)[:3]]
    records[2]["fix"]["lat"] = 123.0
    body = {"batch_id": "b", "device_id": "car-1", "records": [{"kind": "frame_record", "record": r} for r in records]}
    answer = live.client.post("/api/v1/ingest", json=body, headers=auth)
    assert answer.status_code == 422
    assert {"index": 2, "field": "fix.lat"}.items() <= answer.json()["detail"][0].items()
    assert live.sql("SELECT COUNT(*) FROM frames") == [(0,)]
    assert live.sql("SELECT COUNT(*) FROM ingest_batches") == [(0,)]


def test_malformed_bodies_get_clear_4xx(live):
    auth = {**live.register("car-1"), "Content-Type": "application/json"}
    cases = [
        (b"{not json", {}, 400, "not valid JSON"),
        (b"[1, 2]", {}, 422, '"field":"body"'),
        (b"\x1f\x8bnope", {"Content-Encoding": "gzip"}, 400, "gzip"),
        (json.dumps({"batch_id": "b", "records": []}).encode(), {}, 422, "device_id"),
        (json.dumps({"batch_id": "b", "device_id": "car-1", "records": [{"kind": "selfie", "record": {}}]}).encode(),
         {}, 422, '{"index":0,"field":"kind"'),
    ]
    for body, headers, status, needle in cases:
        answer = live.client.post("/api/v1/ingest", content=body, headers={**auth, **headers})
        assert answer.status_code == status, answer.text
        assert needle in answer.text


def test_gzip_batch_with_count_bins_lands_in_count_bins_table(live):
    auth = live.register("pole-7")
    start = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
    bins = [CountBin(record_id=CountBin.make_id("pole-7", "cam", "l1", "in", name, start), device_id="pole-7",
                     camera_id="cam", line_id="l1", direction="in", class_name=name, bin_start_utc=start,
                     count=n, mean_speed_kmh=31.5) for name, n in (("car", 41), ("bicycle", 6))]
    body = {"batch_id": "c1", "device_id": "pole-7", "records": [{"kind": "count_bin", "record": b.to_dict()} for b in bins]}
    answer = live.client.post("/api/v1/ingest", content=gzip.compress(json.dumps(body).encode()),
                              headers={**auth, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status_code == 200 and len(answer.json()["accepted"]) == 2
    columns = live.columns("count_bins")
    assert set(columns) == set(CountBin.model_fields) - {"schema_version"} | {"received_at"}
    assert sorted(live.sql("SELECT class_name, count, status FROM count_bins")) == [("bicycle", 6, "ok"), ("car", 41, "ok")]


def test_concurrent_replays_store_each_record_once(live):
    from concurrent.futures import ThreadPoolExecutor

    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=0.5, seed=2)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: live.ingest(auth, frames, "same-batch"), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    accepted = [rid for a in answers for rid in a.json()["accepted"]]
    assert sorted(accepted) == sorted(f.record_id for f in frames)  # each stored exactly once
    assert live.sql("SELECT COUNT(*) FROM frames") == [(len(frames),)]
