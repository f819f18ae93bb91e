"""Agent test fixtures: a real voirie server on 127.0.0.1 with a registered device."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

ADMIN_KEY = "agent-test-admin-key-0123456789"


@dataclass
class LiveServer:
    url: str
    database: Path
    client: httpx.Client

    def register(self, device_id: str) -> str:
        """Register a device; returns its token."""
        answer = self.client.post("/api/v1/devices", json={"device_id": device_id},
                                  headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert answer.status_code == 201, answer.text
        return answer.json()["token"]

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Read what is really stored in the server's SQLite file."""
        with sqlite3.connect(self.database) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "server", bootstrap_admin_key=ADMIN_KEY)
    server = ServerThread(create_app(settings)).start()
    client = httpx.Client(base_url=server.url, timeout=30)
    try:
        yield LiveServer(server.url, settings.data_dir / "voirie.sqlite3", client)
    finally:
        client.close()
        server.stop()
