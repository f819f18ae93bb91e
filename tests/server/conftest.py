"""Server test fixtures: a real uvicorn server on 127.0.0.1 over a real SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from voirie.records import FrameRecord
from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

ADMIN_KEY = "test-admin-key-0123456789abcdef"
STREET = [(2.3500, 48.8500), (2.3520, 48.8510), (2.3550, 48.8510)]


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    client: httpx.Client

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def register(self, device_id: str) -> dict[str, str]:
        """Register a device; returns its auth header."""
        answer = self.client.post("/api/v1/devices", json={"device_id": device_id}, headers=self.admin)
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def ingest(self, auth: dict[str, str], records: list[FrameRecord], batch_id: str,
               device_id: str | None = None) -> httpx.Response:
        body = {"batch_id": batch_id, "device_id": device_id or records[0].device_id,
                "records": [{"kind": "frame_record", "record": r.to_dict()} for r in records]}
        return self.client.post("/api/v1/ingest", json=body, headers=auth)

    def key(self, role: str) -> dict[str, str]:
        answer = self.client.post("/api/v1/api-keys", json={"name": f"a {role}", "role": role}, headers=self.admin)
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['key']}"}

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Read the real SQLite file directly (what is really stored)."""
        with sqlite3.connect(self.data_dir / "voirie.sqlite3") as conn:
            return conn.execute(query, params).fetchall()


def start_server(tmp_path: Path, **overrides: object) -> tuple[ServerThread, LiveServer]:
    settings = Settings(data_dir=tmp_path / "data", bootstrap_admin_key=ADMIN_KEY, **overrides)
    server = ServerThread(create_app(settings)).start()
    client = httpx.Client(base_url=server.url, timeout=30)
    return server, LiveServer(url=server.url, data_dir=settings.data_dir, client=client)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    server, live = start_server(tmp_path)
    try:
        yield live
    finally:
        live.client.close()
        server.stop()
