"""Heartbeats through a real server: round trip, history, clock skew, stale flag, device scope."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from voirie.edge.fleet.client import DeviceStatus, FleetClient, FleetError
from voirie.records import Heartbeat, ModelStatus


def _status(**overrides: object) -> DeviceStatus:
    fields = dict(disk_free_bytes=12_345_678, queue_depth=42, pending_evidence=7, mode="survey",
                  oldest_pending_utc=datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc),
                  last_fix_utc=datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc),
                  models=(ModelStatus(model_id="damage-default", version="0.2.0", sha256="a" * 64),))
    return DeviceStatus(**{**fields, **overrides})


def test_heartbeat_round_trip_is_listed_for_admins(fleet, tmp_path):
    token = fleet.register("car-1")
    fleet.register("pole-7")  # registered, never heard from
    with FleetClient(fleet.url, "car-1", token) as client:
        reply = client.heartbeat(_status())
    assert reply.offer is None
    assert abs(reply.skew_s) < 5
    listed = fleet.devices()
    car = listed["car-1"]
    assert car["queue_depth"] == 42 and car["disk_free_bytes"] == 12_345_678 and car["mode"] == "survey"
    assert car["models"][0]["sha256"] == "a" * 64
    assert car["software_version"] and car["stale"] is False
    assert datetime.fromisoformat(car["last_fix_utc"]) == datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
    assert listed["pole-7"]["stale"] is True and listed["pole-7"]["last_heartbeat_at"] is None
    # Devices and viewers may not read the fleet.
    assert fleet.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_collect_reads_outbox_stats_and_disk(tmp_path):
    class Stats:
        pending_records, pending_evidence = 5, 2
        oldest_pending_utc = datetime(2026, 1, 1, tzinfo=timezone.utc)

    status = DeviceStatus.collect(tmp_path, outbox_stats=Stats(), model_dir=tmp_path / "models", mode="count")
    assert status.queue_depth == 5 and status.pending_evidence == 2 and status.mode == "count"
    assert status.disk_free_bytes > 0 and status.models == ()


def test_clock_skew_is_device_minus_server(fleet):
    token = fleet.register("car-1")
    ahead = Heartbeat(device_id="car-1", software_version="0.1.0", disk_free_bytes=1,
                      time_utc=datetime.now(timezone.utc) + timedelta(minutes=10))
    answer = fleet.client.post("/api/v1/heartbeat", content=ahead.to_json(),
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert 595 < answer.json()["skew_s"] < 601
    assert 595 < fleet.devices()["car-1"]["skew_s"] < 601
    history = fleet.client.get("/api/v1/devices/car-1/heartbeats", headers=fleet.admin).json()
    assert len(history) == 1 and 595 < history[0]["skew_s"] < 601


def test_history_is_bounded_and_newest_first(start_fleet):
    fleet = start_fleet(heartbeat_history=3)
    token = fleet.register("car-1")
    with FleetClient(fleet.url, "car-1", token) as client:
        for depth in range(5):
            client.heartbeat(_status(queue_depth=depth))
    history = fleet.client.get("/api/v1/devices/car-1/heartbeats", headers=fleet.admin).json()
    assert [h["heartbeat"]["queue_depth"] for h in history] == [4, 3, 2]


def test_stale_flag_after_threshold(start_fleet):
    fleet = start_fleet(heartbeat_stale_s=0.5)
    token = fleet.register("car-1")
    with FleetClient(fleet.url, "car-1", token) as client:
        client.heartbeat(_status())
        assert fleet.devices()["car-1"]["stale"] is False
        time.sleep(0.8)
        assert fleet.devices()["car-1"]["stale"] is True
        client.heartbeat(_status())
    assert fleet.devices()["car-1"]["stale"] is False


def test_device_cannot_send_heartbeat_for_another(fleet):
    token_a = fleet.register("car-a")
    fleet.register("car-b")
    with FleetClient(fleet.url, "car-b", token_a) as impostor, pytest.raises(FleetError) as refused:
        impostor.heartbeat(_status())
    assert refused.value.status == 403 and "car-a" in str(refused.value)
    assert fleet.devices()["car-b"]["last_heartbeat_at"] is None
    with FleetClient(fleet.url, "car-a", "vdt_not-a-real-token-at-all", timeout_s=5) as stranger:
        with pytest.raises(FleetError) as unknown:
            stranger.heartbeat(_status())
    assert unknown.value.status == 401


def test_heartbeat_unreachable_server_raises_fleet_error():
    with FleetClient("http://127.0.0.1:9", "car-1", "vdt_x", timeout_s=2) as client, pytest.raises(FleetError) as err:
        client.heartbeat(_status())
    assert err.value.status is None
