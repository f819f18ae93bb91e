"""Sync test fixtures: records made fast, a real server (thread or process) on 127.0.0.1,
and the exactly-once check against the server's SQLite file."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

from .sync_records import START, count_bins, frame_records, jpeg_bytes  # noqa: F401 - re-exported for the tests

ADMIN_KEY = "sync-admin-key-0123456789abcdef"
HERE = Path(__file__).resolve().parent


@dataclass
class Server:
    """A voirie server on 127.0.0.1 with one registered device."""

    url: str
    data_dir: Path
    device_id: str
    token: str

    def stored_ids(self, table: str = "frames") -> list[str]:
        """Record ids really stored (read from the SQLite file, duplicates kept)."""
        with sqlite3.connect(self.data_dir / "voirie.sqlite3") as conn:
            return [row[0] for row in conn.execute(f"SELECT record_id FROM {table}")]

    def sql(self, query: str) -> list[tuple]:
        with sqlite3.connect(self.data_dir / "voirie.sqlite3") as conn:
            return conn.execute(query).fetchall()


def register_device(url: str, device_id: str) -> str:
    """Register ``device_id`` with the bootstrap admin key; returns its token."""
    answer = httpx.post(f"{url}/api/v1/devices", json={"device_id": device_id},
                        headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    answer.raise_for_status()
    return answer.json()["token"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real uvicorn server in a thread over a real SQLite file, device ``car-1``."""
    settings = Settings(data_dir=tmp_path / "server", bootstrap_admin_key=ADMIN_KEY)
    with ServerThread(create_app(settings)) as thread:
        token = register_device(thread.url, "car-1")
        yield Server(url=thread.url, data_dir=settings.data_dir, device_id="car-1", token=token)


def free_port() -> int:
    """A port free now (the server process binds it right after; fine on loopback)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """``voirie serve`` as its own process, so a test can kill -9 it and start it again."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir, self.port = data_dir, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        env = {**os.environ, "VOIRIE_DATA_DIR": str(self.data_dir), "VOIRIE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
        env.pop("DATABASE_URL", None)
        self.process = subprocess.Popen([sys.executable, "-m", "voirie.cli", "serve", "--port", str(self.port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/v1/map-config", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"voirie serve exited with {self.process.returncode}")
            time.sleep(0.1)
        raise RuntimeError(f"voirie serve did not answer on {self.url} within {timeout_s} s")

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def exactly_once(accepted_ids: set[str], stored: list[str]) -> dict[str, int]:
    """Compare what the device accepted with what the server stored: lost, duplicated, extra."""
    lost = len(accepted_ids - set(stored))
    duplicated = len(stored) - len(set(stored))
    extra = len(set(stored) - accepted_ids)
    return {"accepted_by_device": len(accepted_ids), "on_server": len(stored), "lost": lost,
            "duplicated": duplicated, "unexpected": extra}


_FIGURES: list[str] = []


@pytest.fixture
def report(record_property):  # noqa: ANN001, ANN201 - pytest fixture
    """Record a test's figures: printed at once (seen with -s), stored in the junit XML
    (``record_property``) and repeated in the terminal summary, which shows without -s."""

    def emit(name: str, **figures: object) -> None:
        for key, value in figures.items():
            record_property(f"{name}.{key}", value)
        line = f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
        _FIGURES.append(line)
        print(f"\n[sync figures] {line}")

    return emit


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest hook
    """The figures of the sync fault tests, whatever the capture mode."""
    if _FIGURES:
        terminalreporter.section("sync figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
