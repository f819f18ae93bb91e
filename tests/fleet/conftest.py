"""Fleet fixtures: a real server on 127.0.0.1 (SQLite file), registered devices, tiny real ONNX models."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import onnx
import pytest
from onnx import TensorProto, helper

from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

ADMIN_KEY = "fleet-admin-key-0123456789abcdef"


@dataclass
class Fleet:
    url: str
    data_dir: Path
    client: httpx.Client

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def register(self, device_id: str) -> str:
        """Register a device; returns its token."""
        answer = self.client.post("/api/v1/devices", json={"device_id": device_id}, headers=self.admin)
        assert answer.status_code == 201, answer.text
        return answer.json()["token"]

    def devices(self) -> dict[str, dict]:
        answer = self.client.get("/api/v1/devices", headers=self.admin)
        assert answer.status_code == 200, answer.text
        return {d["device_id"]: d for d in answer.json()}

    def upload_model(self, data: bytes, manifest: dict) -> None:
        """Declare and upload a model the admin way (manifest, then the file)."""
        answer = self.client.post("/api/v1/models", json={"manifest": manifest}, headers=self.admin)
        assert answer.status_code == 201, answer.text
        answer = self.client.put(f"/api/v1/models/{manifest['name']}/{manifest['version']}/file", content=data,
                                 headers={**self.admin, "Content-Type": "application/octet-stream"})
        assert answer.status_code == 200, answer.text

    def offer(self, name: str, version: str, device_ids: list[str] | None) -> list[dict]:
        answer = self.client.post(f"/api/v1/models/{name}/{version}/offers", json={"device_ids": device_ids},
                                  headers=self.admin)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def offers(self) -> list[dict]:
        return self.client.get("/api/v1/models/offers", headers=self.admin).json()


@pytest.fixture
def start_fleet(tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    """Start a fresh server with settings overrides; stopped at teardown."""
    running: list[tuple[ServerThread, httpx.Client]] = []

    def start(**overrides: object) -> Fleet:
        settings = Settings(data_dir=tmp_path / f"server{len(running)}", bootstrap_admin_key=ADMIN_KEY, **overrides)
        server = ServerThread(create_app(settings)).start()
        client = httpx.Client(base_url=server.url, timeout=30)
        running.append((server, client))
        return Fleet(url=server.url, data_dir=settings.data_dir, client=client)

    yield start
    for server, client in running:
        client.close()
        server.stop()


@pytest.fixture
def fleet(start_fleet: Callable[..., Fleet]) -> Fleet:
    return start_fleet()


def tiny_onnx(scale: float) -> bytes:
    """A real, loadable ONNX graph (y = x * scale on 1×3×32×32); ``scale`` makes versions differ."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 32, 32])
    weight = helper.make_tensor("scale", TensorProto.FLOAT, [1], [scale])
    graph = helper.make_graph([helper.make_node("Mul", ["images", "scale"], ["output"])], "tiny", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def manifest_for(data: bytes, version: str, name: str = "damage-test") -> dict:
    """A registry manifest (``voirie.models.registry.Manifest`` format) listing ``data`` as fp32."""
    return {"name": name, "version": version, "task": "detect", "classes": ["crack", "pothole"],
            "input_size": [32, 32], "files": {"fp32": {"file": "model.onnx", "bytes": len(data),
                                                       "sha256": hashlib.sha256(data).hexdigest()}},
            "default_variant": "fp32"}
