"""What differs between SQLite and PostgreSQL, pinned on both: 64-bit integers, aware times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from voirie.records import Heartbeat
from voirie.lab.synth.records import frames_along

from .conftest import STREET

TERABYTE = 10**12  # a device's free disk: past PostgreSQL's 32-bit INTEGER


def test_64_bit_values_are_stored_on_every_backend(live):
    auth = live.register("car-1")
    frames = frames_along(STREET, seed=3, first_sequence=2**40)[:2]  # a long-lived device's counter
    assert live.ingest(auth, frames, "big").status_code == 200
    assert sorted(live.sql("SELECT sequence FROM frames")) == [(2**40,), (2**40 + 1,)]
    beat = Heartbeat(device_id="car-1", software_version="1.0", disk_free_bytes=TERABYTE, queue_depth=2**33,
                     time_utc=datetime.now(timezone.utc))
    answer = live.client.post("/api/v1/heartbeat", content=beat.to_json(),
                              headers={**auth, "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    car = {d["device_id"]: d for d in live.client.get("/api/v1/devices", headers=live.admin).json()}["car-1"]
    assert car["disk_free_bytes"] == TERABYTE and car["queue_depth"] == 2**33


def test_an_unknown_key_id_past_32_bits_is_a_404_not_a_500(live):
    assert live.client.delete(f"/api/v1/api-keys/{2**40}", headers=live.admin).status_code == 404


def test_times_come_back_aware_utc_whatever_the_offset_sent(live):
    auth = live.register("car-1")
    paris = timezone(timedelta(hours=2))
    frames = frames_along(STREET, seed=4, start=datetime(2026, 5, 4, 10, 0, tzinfo=paris))[:3]  # 08:00 UTC
    assert live.ingest(auth, frames, "tz").status_code == 200
    features = live.client.get("/api/v1/sections.geojson").json()["features"]
    surveyed = [datetime.fromisoformat(f["properties"]["surveyed_at"]) for f in features
                if f["properties"]["surveyed_at"]]
    assert surveyed and all(t.utcoffset() == timedelta(0) for t in surveyed)
    first, last = min(f.time_utc for f in frames), max(f.time_utc for f in frames)
    assert all(first <= t <= last for t in surveyed) and first.hour == 8


def test_a_nul_character_is_never_a_server_error(live):
    # PostgreSQL text cannot hold NUL (SQLite can): refused with 422 there, taken here.
    on_postgres = live.database_url.startswith("postgresql")
    answer = live.client.get("/api/v1/counts/bins", params={"line_id": "l1\x00"})
    assert answer.status_code == (422 if on_postgres else 200), answer.text
    named = live.client.post("/api/v1/devices", json={"device_id": "car-9", "name": "a\x00b"}, headers=live.admin)
    assert named.status_code == (422 if on_postgres else 201), named.text
