"""Health: the status file and the HTTP endpoint tell the same story; stalls turn it 503."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from voirie.edge.agent.health import AgentStatus, HealthServer, StatusWriter


def test_status_file_and_endpoint(tmp_path: Path, monkeypatch) -> None:
    status = AgentStatus("counting", "pole-1", stall_after_s=5.0)
    writer = StatusWriter(status, tmp_path / "status.json", interval_s=0.05).start()
    server = HealthServer(status, 0).start()
    try:
        status.update(state="running")
        status.add(frames_processed=10, records_queued=4)
        time.sleep(0.3)
        on_disk = json.loads((tmp_path / "status.json").read_text())
        assert on_disk["frames_processed"] == 10 and on_disk["records_queued"] == 4 and on_disk["healthy"]
        answer = httpx.get(f"http://127.0.0.1:{server.port}/health")
        assert answer.status_code == 200 and answer.json()["mode"] == "counting"
        status.last_progress -= 10  # no frame for longer than stall_after_s
        assert httpx.get(f"http://127.0.0.1:{server.port}/health").status_code == 503
        assert httpx.get(f"http://127.0.0.1:{server.port}/other").status_code == 404
    finally:
        server.stop()
        writer.stop()
    assert json.loads((tmp_path / "status.json").read_text())["healthy"] is False


def test_watchdog_pings_only_while_healthy(tmp_path: Path, monkeypatch) -> None:
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(1)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    status = AgentStatus("survey", "car-1", stall_after_s=5.0)
    writer = StatusWriter(status, tmp_path / "status.json", interval_s=60)
    status.update(state="running")
    writer.write()
    assert {listener.recv(100), listener.recv(100)} == {b"READY=1", b"WATCHDOG=1"}
    status.last_progress -= 10
    writer.write()
    listener.settimeout(0.2)
    try:
        extra = listener.recv(100)
    except TimeoutError:
        extra = None
    assert extra is None  # stalled: no ping, systemd restarts the service
    listener.close()
