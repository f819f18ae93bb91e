"""Sync test fixtures: records made fast, a real server (thread or process) on 127.0.0.1,
and the exactly-once check against the server's SQLite file."""

from __future__ import annotations

import io
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from PIL import Image

from voirie.records import CountBin, Detection, FrameRecord, GeoFix
from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

ADMIN_KEY = "sync-admin-key-0123456789abcdef"
HERE = Path(__file__).resolve().parent
START = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


def frame_records(count: int, *, device_id: str = "car-1", survey_id: str = "day-1", first: int = 0,
                  start: datetime = START, evidence: bool = True) -> list[FrameRecord]:
    """``count`` frames 4 m apart (0.5 s at 30 km/h) along a line, each with one detection."""
    records = []
    for sequence in range(first, first + count):
        when = start + timedelta(seconds=0.5 * sequence)
        fix = GeoFix(lat=48.85 + sequence * 3.6e-5, lon=2.35, time_utc=when, speed_mps=8.3, heading_deg=0.0)
        crack = Detection(class_name="longitudinal_crack", confidence=0.61, box_xyxy=(100.0, 400.0, 300.0, 460.0))
        records.append(FrameRecord(
            record_id=FrameRecord.make_id(device_id, survey_id, "front", sequence), device_id=device_id,
            survey_id=survey_id, camera_id="front", sequence=sequence, time_utc=when, fix=fix,
            image_width=1280, image_height=720, detections=(crack,), model_id="rdd", model_version="1",
            anonymizer="centerface@1+plates@1", image_file=f"front_{sequence:06d}.jpg" if evidence else None))
    return records


def count_bins(count: int, *, device_id: str = "pole-1") -> list[CountBin]:
    """``count`` consecutive 15-minute car bins."""
    starts = [START + timedelta(minutes=15 * i) for i in range(count)]
    return [CountBin(record_id=CountBin.make_id(device_id, "cam", "l1", "in", "car", s), device_id=device_id,
                     camera_id="cam", line_id="l1", direction="in", class_name="car", bin_start_utc=s, count=i)
            for i, s in enumerate(starts)]


def jpeg_bytes(size: int = 8_000, seed: int = 0) -> bytes:
    """A real JPEG of about ``size`` bytes (noise compresses badly, so size is predictable)."""
    import numpy as np

    side = max(16, int((2.0 * size) ** 0.5))  # ~1 byte per noise pixel at quality 90
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side // 2, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


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
