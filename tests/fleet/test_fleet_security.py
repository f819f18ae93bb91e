"""Security through a real server: rate limits, body caps, device scope, hashed tokens, no secrets in logs."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from voirie.edge.fleet.client import DeviceStatus, FleetClient, FleetError
from voirie.records import CountBin
from voirie.server.core.limits import RateLimiter
from voirie.server.core.logs import redact

from .conftest import manifest_for, tiny_onnx

STATUS = DeviceStatus(disk_free_bytes=1_000)


def _bins(device_id: str, n: int = 2) -> list[dict]:
    start = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
    return [{"kind": "count_bin", "record": CountBin(
        record_id=CountBin.make_id(device_id, "cam", "l1", "in", f"car{i}", start), device_id=device_id,
        camera_id="cam", line_id="l1", direction="in", class_name=f"car{i}", bin_start_utc=start,
        count=3).to_dict()} for i in range(n)]


def test_rate_limit_per_device_answers_429_with_retry_after(start_fleet):
    fleet = start_fleet(device_rate_per_s=0.2, device_rate_burst=3)
    token_a, token_b = fleet.register("car-a"), fleet.register("car-b")
    with FleetClient(fleet.url, "car-a", token_a) as client:
        for _ in range(3):
            client.heartbeat(STATUS)
        with pytest.raises(FleetError) as limited:
            client.heartbeat(STATUS)
    assert limited.value.status == 429 and 1 <= limited.value.retry_after_s <= 5
    # Every device endpoint shares the bucket: ingest is limited too.
    body = {"batch_id": "b1", "device_id": "car-a", "records": _bins("car-a")}
    answer = fleet.client.post("/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token_a}"})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    # Another device is not affected by car-a's retry storm.
    with FleetClient(fleet.url, "car-b", token_b) as other:
        other.heartbeat(STATUS)


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=2, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.take("a") == 0 and limiter.take("a") > 0
    assert limiter.take("b") == 0
    assert RateLimiter.retry_after(0.2) == "1"
    with pytest.raises(ValueError):
        RateLimiter(rate_per_s=0, burst=1)


@pytest.mark.parametrize("path, method, size", [
    ("/api/v1/heartbeat", "POST", 70_000),           # heartbeat cap 64 kB
    ("/api/v1/ingest", "POST", 2_100_000),            # max_body_bytes set to 2 MB below
    ("/api/v1/api-keys", "POST", 1_100_000),          # every other write endpoint: 1 MB
    ("/api/v1/models", "POST", 1_100_000),
])
def test_oversize_bodies_are_refused_with_413(start_fleet, path, method, size):
    fleet = start_fleet(max_body_bytes=2_000_000)
    token = fleet.register("car-a")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answer = fleet.client.request(method, path, content=b"{" + b" " * size + b"}", headers=headers)
    assert answer.status_code == 413, answer.text
    # Chunked (no Content-Length) is counted as it streams and refused the same way.
    chunks = (b" " * 10_000 for _ in range(size // 10_000 + 1))
    answer = fleet.client.request(method, path, content=chunks, headers=headers)
    assert answer.status_code == 413, answer.text


def test_model_upload_cap_and_small_bodies_pass(start_fleet):
    fleet = start_fleet(model_max_bytes=5_000)
    data = tiny_onnx(2.0)
    big = manifest_for(b"x" * 6_000, "1.0.0")
    assert fleet.client.post("/api/v1/models", json={"manifest": big}, headers=fleet.admin).status_code == 413
    answer = fleet.client.put("/api/v1/models/damage-test/1.0.0/file", content=b"x" * 6_000, headers=fleet.admin)
    assert answer.status_code == 413
    fleet.upload_model(data, manifest_for(data, "1.0.1"))  # under the cap: accepted


def test_device_cannot_ingest_as_another_device(fleet):
    token_a = fleet.register("car-a")
    fleet.register("car-b")
    body = {"batch_id": "b1", "device_id": "car-b", "records": _bins("car-b")}
    answer = fleet.client.post("/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token_a}"})
    assert answer.status_code == 403
    body = {"batch_id": "b2", "device_id": "car-a", "records": _bins("car-a") + _bins("car-b", 1)}
    answer = fleet.client.post("/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token_a}"})
    assert answer.status_code == 403


def test_tokens_are_stored_hashed(fleet):
    token = fleet.register("car-a")
    with FleetClient(fleet.url, "car-a", token) as client:
        client.heartbeat(STATUS)
    stored = b"".join(p.read_bytes() for p in fleet.data_dir.glob("voirie.sqlite3*"))
    assert token.encode() not in stored
    assert token.split("_", 1)[1].encode() not in stored


def test_no_token_in_logs(fleet, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)  # everything, httpx and uvicorn included
    token = fleet.register("car-a")
    data = tiny_onnx(2.0)
    fleet.upload_model(data, manifest_for(data, "1.0.0"))
    fleet.offer("damage-test", "1.0.0", ["car-a"])
    with FleetClient(fleet.url, "car-a", token) as client:
        offer = client.heartbeat(STATUS).offer
        client.apply_model_offer(offer, tmp_path / "models")
        client.heartbeat(DeviceStatus(disk_free_bytes=1, queue_depth=1))
    with FleetClient(fleet.url, "car-b", token) as impostor, pytest.raises(FleetError):
        impostor.heartbeat(STATUS)  # 403: logged as a refusal, without the token
    fleet.client.delete("/api/v1/devices/car-a", headers=fleet.admin)
    fleet.client.post("/api/v1/heartbeat", content=b"{}", headers={"Authorization": f"Bearer {token}"})
    # A careless log line that quotes the header is masked too (the safety net).
    logging.getLogger("voirie.server.test").warning("request headers: Authorization: Bearer %s", token)
    logging.getLogger("voirie.server.test").warning("admin key %s", fleet.admin["Authorization"][7:])
    assert len(caplog.records) > 5
    assert token not in caplog.text and token.split("_", 1)[1] not in caplog.text
    assert fleet.admin["Authorization"][7:] not in caplog.text


def test_redact_masks_our_secret_shapes():
    text = "vdt_AbCdEfGhIjKlMnOpQrStUvWx and Bearer whatever-credential-here and vak_0123456789abcdefghij"
    masked = redact(text)
    assert "AbCdEf" not in masked and "whatever" not in masked and "0123456789" not in masked
    assert redact("device car-1 sent 3 records") == "device car-1 sent 3 records"


def test_server_listens_on_loopback_by_default():
    import inspect

    from voirie.server.cli import serve

    assert inspect.signature(serve).parameters["host"].default.default == "127.0.0.1"
