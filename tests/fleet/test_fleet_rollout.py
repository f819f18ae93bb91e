"""Model rollout end to end: admin upload + offer, device download, checks, atomic swap, roll back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from voirie.edge.fleet.client import DeviceStatus, FleetClient, ModelRefusedError, current_model
from voirie.edge.fleet.models import read_active
from voirie.models import registry

from .conftest import manifest_for, tiny_onnx


def _run(path: Path) -> float:
    """Run the tiny model on ones: returns its scale (proves which version is installed)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(session.run(None, {"images": np.ones((1, 3, 32, 32), np.float32)})[0].mean())


def _offer_for(client: FleetClient, model_dir: Path):
    reply = client.heartbeat(DeviceStatus.collect(model_dir.parent, model_dir=model_dir))
    assert reply.offer is not None
    return reply.offer


def _install(fleet, client, model_dir, version: str, scale: float) -> Path:
    data = tiny_onnx(scale)
    fleet.upload_model(data, manifest_for(data, version))
    fleet.offer("damage-test", version, ["car-1"])
    return client.apply_model_offer(_offer_for(client, model_dir), model_dir)


def _status_of(fleet, version: str) -> dict:
    return next(o for o in fleet.offers() if o["version"] == version)


def test_rollout_applies_reports_and_rolls_back(fleet, tmp_path):
    model_dir = tmp_path / "device" / "models"
    with FleetClient(fleet.url, "car-1", fleet.register("car-1")) as client:
        first = _install(fleet, client, model_dir, "1.0.0", 2.0)
        assert current_model(model_dir) == first and _run(first) == 2.0
        client.heartbeat(DeviceStatus.collect(model_dir.parent, model_dir=model_dir))
        assert _status_of(fleet, "1.0.0")["status"] == "applied"
        assert fleet.devices()["car-1"]["models"][0]["version"] == "1.0.0"

        second = _install(fleet, client, model_dir, "2.0.0", 3.0)
        assert _run(current_model(model_dir)) == 3.0
        # The installed folder is a valid registry model folder (manifest + checksum).
        manifest = registry.read_manifest(second.parent / "manifest.json")
        assert registry.verify_file(manifest, second.parent) == second
        reply = client.heartbeat(DeviceStatus.collect(model_dir.parent, model_dir=model_dir))
        assert reply.offer is None and _status_of(fleet, "2.0.0")["status"] == "applied"

        back = client.roll_back(model_dir)
        assert back == first and current_model(model_dir) == first and _run(back) == 2.0
        assert read_active(model_dir).previous is not None  # 2.0.0 kept: rolling forward stays possible
        reply = client.heartbeat(DeviceStatus.collect(model_dir.parent, model_dir=model_dir))
        assert reply.offer is None, "a rolled-back model must not be offered again"
        assert _status_of(fleet, "2.0.0")["status"] == "rolled_back"


def test_corrupted_download_is_refused_and_old_model_kept(fleet, tmp_path):
    model_dir = tmp_path / "device" / "models"
    with FleetClient(fleet.url, "car-1", fleet.register("car-1")) as client:
        first = _install(fleet, client, model_dir, "1.0.0", 2.0)
        data = tiny_onnx(5.0)
        fleet.upload_model(data, manifest_for(data, "2.0.0"))
        fleet.offer("damage-test", "2.0.0", ["car-1"])
        # Flip one byte of the stored file: storage rot or tampering between server and device.
        stored = next((fleet.data_dir / "models").glob(f"{manifest_for(data, '2.0.0')['files']['fp32']['sha256']}*"))
        corrupt = bytearray(stored.read_bytes())
        corrupt[-1] ^= 0xFF
        stored.write_bytes(bytes(corrupt))
        offer = _offer_for(client, model_dir)
        with pytest.raises(ModelRefusedError, match="sha256"):
            client.apply_model_offer(offer, model_dir)
        assert current_model(model_dir) == first and _run(first) == 2.0
        assert not list((model_dir / "versions").glob(".staging-*")), "no half-installed folder may remain"
        reply = client.heartbeat(DeviceStatus.collect(model_dir.parent, model_dir=model_dir))
    assert reply.offer is None
    refused = _status_of(fleet, "2.0.0")
    assert refused["status"] == "refused" and "sha256" in refused["detail"]


def test_unloadable_model_is_refused(fleet, tmp_path):
    model_dir = tmp_path / "device" / "models"
    garbage = b"this is not an ONNX protobuf" * 40
    with FleetClient(fleet.url, "car-1", fleet.register("car-1")) as client:
        first = _install(fleet, client, model_dir, "1.0.0", 2.0)
        fleet.upload_model(garbage, manifest_for(garbage, "9.9.9"))
        fleet.offer("damage-test", "9.9.9", None)  # None: every active device
        with pytest.raises(ModelRefusedError, match="ONNX Runtime cannot load"):
            client.apply_model_offer(_offer_for(client, model_dir), model_dir)
        assert current_model(model_dir) == first
        client.heartbeat(DeviceStatus.collect(model_dir.parent, model_dir=model_dir))
    assert _status_of(fleet, "9.9.9")["status"] == "refused"


def test_shipped_zoo_model_rolls_out_and_loads_as_detector(fleet, tmp_path):
    from voirie.models.runtime import DetectorOptions, OnnxDetector

    token = fleet.register("car-1")
    manifest, folder = registry.find_model("default")
    entry = manifest.variant("int8")
    fleet.client.post("/api/v1/models", json={"manifest": manifest.model_dump(mode="json"), "variant": "int8"},
                      headers=fleet.admin).raise_for_status()
    fleet.client.put(f"/api/v1/models/{manifest.name}/{manifest.version}/file",
                     content=(folder / entry.file).read_bytes(),
                     headers={**fleet.admin, "Content-Type": "application/octet-stream"}).raise_for_status()
    fleet.offer(manifest.name, manifest.version, ["car-1"])
    model_dir = tmp_path / "device" / "models"
    with FleetClient(fleet.url, "car-1", token) as client:
        path = client.apply_model_offer(_offer_for(client, model_dir), model_dir)
    detector = OnnxDetector(path, DetectorOptions(warmup=False, threads=1))
    assert detector.class_names == tuple(manifest.classes) and "pothole" in detector.class_names  # as shipped
    assert registry.sha256_file(path) == entry.sha256


def test_server_refuses_upload_that_does_not_match_manifest(fleet):
    data = tiny_onnx(2.0)
    manifest = manifest_for(data, "1.0.0")
    assert fleet.client.post("/api/v1/models", json={"manifest": manifest}, headers=fleet.admin).status_code == 201
    url = "/api/v1/models/damage-test/1.0.0/file"
    headers = {**fleet.admin, "Content-Type": "application/octet-stream"}
    assert fleet.client.put(url, content=data[:-1] + b"\0", headers=headers).status_code == 422
    assert fleet.client.put(url, content=data + b"extra", headers=headers).status_code == 422
    offer = fleet.client.post("/api/v1/models/damage-test/1.0.0/offers", json={}, headers=fleet.admin)
    assert offer.status_code == 409, "a model without a verified file must not be offered"
    bad = dict(manifest, files={"fp32": {"file": "m.onnx", "bytes": 1, "sha256": "nothex"}})
    bad["version"] = "1.0.1"
    assert fleet.client.post("/api/v1/models", json={"manifest": bad}, headers=fleet.admin).status_code == 422
    assert list((fleet.data_dir / "models").iterdir()) == []


def test_offer_file_is_per_device(fleet, tmp_path):
    token_a, token_b = fleet.register("car-a"), fleet.register("car-b")
    data = tiny_onnx(2.0)
    fleet.upload_model(data, manifest_for(data, "1.0.0"))
    offer_id = fleet.offer("damage-test", "1.0.0", ["car-a"])[0]["offer_id"]
    url = f"/api/v1/models/offers/{offer_id}/file"
    assert fleet.client.get(url).status_code == 401
    assert fleet.client.get(url, headers=fleet.admin).status_code == 401  # an API key is not a device token
    assert fleet.client.get(url, headers={"Authorization": f"Bearer {token_b}"}).status_code == 403
    assert fleet.client.get(url, headers={"Authorization": f"Bearer {token_a}"}).content == data
    # car-b may not report on car-a's offer either.
    report = {"offer_id": offer_id, "status": "refused", "detail": "spoofed"}
    heartbeat = {"device_id": "car-b", "software_version": "x", "disk_free_bytes": 1,
                 "time_utc": "2026-11-22T06:00:00Z", "rollout": report}
    answer = fleet.client.post("/api/v1/heartbeat", content=json.dumps(heartbeat),
                               headers={"Authorization": f"Bearer {token_b}", "Content-Type": "application/json"})
    assert answer.status_code == 403
    assert fleet.offers()[0]["status"] == "offered"
