"""Agent test fixtures: a real voirie server on 127.0.0.1 with a registered device."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from voirie.capture.gnss import write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.edge.count.synth import make_scene, render_video, scene_config
from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

ADMIN_KEY = "agent-test-admin-key-0123456789"
DRIVE_START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


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


def _make_clip(folder: Path, duration_s: float) -> tuple[Path, dict]:
    """A synthetic pole-camera clip at 1 frame/s (192x108) and its counting config:
    10 counting lines and 1-minute bins, so 100 CountBins per minute of clip."""
    scene = make_scene(duration_s=duration_s, width=192, height=108, fps=1.0, per_class=2)
    video = render_video(scene, folder / "pole.avi")
    config = scene_config(scene, bin_seconds=60)
    line = config["lines"][0]
    config["lines"] = [{**line, "id": f"l{i}", "start": [40.0 + 12 * i, line["start"][1]],
                        "end": [40.0 + 12 * i, line["end"][1]]} for i in range(10)]
    return video, config


@pytest.fixture(scope="session")
def pole_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """10 minutes of clip: 1000 CountBins."""
    return _make_clip(tmp_path_factory.mktemp("pole_clip"), 600)


@pytest.fixture(scope="session")
def long_pole_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """15 minutes of clip: 1500 CountBins, long enough to stop the agent in the middle."""
    return _make_clip(tmp_path_factory.mktemp("long_pole_clip"), 900)


@pytest.fixture(scope="session")
def drive_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """10 s at 8 m/s (20 photos at 4 m): a textured 320x192 video at 10 f/s and its NMEA track."""
    folder = tmp_path_factory.mktemp("agent_drive")
    simulated = simulate_drive((47.2595, -0.0780), DRIVE_START, 90.0, [Leg(10.0, 8.0)], Receiver(rate_hz=10.0))
    track = folder / "drive.nmea"
    write_nmea(simulated.fixes, track)
    video = folder / "drive.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 192))
    rng = np.random.default_rng(5)
    for _ in range(100):  # asphalt-like texture: sharp enough for the quality gate
        writer.write(np.clip(rng.normal(120, 35, (192, 320, 3)), 0, 255).astype(np.uint8))
    writer.release()
    return video, track
