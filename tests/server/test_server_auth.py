"""Auth through real HTTP: no anonymous writes, a device writes only its own records."""

from __future__ import annotations

import pytest

from voirie.lab.synth.records import evidence_jpeg, frames_along

from .conftest import STREET


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/v1/devices", {"device_id": "x"}),
    ("POST", "/api/v1/api-keys", {"name": "n", "role": "admin"}),
    ("POST", "/api/v1/ingest", {"batch_id": "b", "device_id": "x", "records": []}),
    ("POST", "/api/v1/recompute", None),
    ("POST", "/api/v1/detections/x:0/review", {"action": "confirm"}),
    ("DELETE", "/api/v1/devices/x", None),
    ("PUT", "/api/v1/network", {"type": "FeatureCollection", "features": []}),
])
def test_anonymous_writes_are_refused(live, method, path, body):
    answer = live.client.request(method, path, json=body)
    assert answer.status_code == 401, (path, answer.text)
    assert answer.headers["www-authenticate"] == "Bearer"


def test_device_cannot_write_as_another_device(live):
    auth_a = live.register("car-a")
    live.register("car-b")
    frames_b = frames_along(STREET, device_id="car-b", damage_rate=0)[:3]
    answer = live.ingest(auth_a, frames_b, "b1", device_id="car-b")
    assert answer.status_code == 403
    assert "car-a" in answer.text
    # Batch says car-a but a record inside claims car-b: refused, nothing stored.
    frames_a = frames_along(STREET, device_id="car-a", damage_rate=0)[:3]
    answer = live.ingest(auth_a, frames_a + frames_b[:1], "b2", device_id="car-a")
    assert answer.status_code == 403
    assert answer.json()["detail"][0]["index"] == 3
    assert live.sql("SELECT COUNT(*) FROM frames") == [(0,)]


def test_device_token_is_not_an_admin_key_and_revocation_works(live):
    auth = live.register("car-a")
    assert live.client.post("/api/v1/devices", json={"device_id": "evil"}, headers=auth).status_code == 401
    viewer = live.key("viewer")
    assert live.client.post("/api/v1/devices", json={"device_id": "evil"}, headers=viewer).status_code == 403
    assert live.client.delete("/api/v1/devices/car-a", headers=live.admin).status_code == 200
    frames = frames_along(STREET, device_id="car-a", damage_rate=0)[:2]
    assert live.ingest(auth, frames, "b1").status_code == 401
    stored = live.sql("SELECT token_hash FROM devices WHERE device_id = 'car-a'")[0][0]
    assert auth["Authorization"].split()[1] not in stored and len(stored) == 64


def test_evidence_only_for_own_records_jpeg_and_size_capped(live):
    auth_a, auth_b = live.register("car-a"), live.register("car-b")
    frame = frames_along(STREET, device_id="car-a", damage_rate=1, seed=3)[0]
    assert live.ingest(auth_a, [frame], "b1").status_code == 200
    jpeg = evidence_jpeg(frame)
    url = f"/api/v1/evidence/{frame.record_id}"
    put = lambda auth, body, kind="image/jpeg": live.client.put(url, content=body,  # noqa: E731
                                                                 headers={**auth, "Content-Type": kind})
    assert put({}, jpeg).status_code == 401
    assert put(auth_b, jpeg).status_code == 403
    assert put(auth_a, b"GIF89a....").status_code == 422
    assert put(auth_a, jpeg, "image/png").status_code == 415
    assert put(auth_a, b"\xff\xd8\xff" + b"0" * 600_000).status_code == 413
    assert put(auth_a, jpeg).status_code == 204
    assert live.client.get(url).status_code == 401  # photos need a viewer key even with public reads
    stored = live.client.get(url, headers=live.key("viewer"))
    assert stored.status_code == 200 and stored.content[:3] == b"\xff\xd8\xff"  # re-encoded, so not byte-equal
    assert live.sql("SELECT has_evidence FROM frames") == [(1,)]
