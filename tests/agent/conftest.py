"""Agent test fixtures: a real voirie server on 127.0.0.1 with a registered device, recorded
drives and clips, and an RTSP camera (GStreamer's RTSP server) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from voirie.capture.gnss import read_track, write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.edge.count.synth import make_scene, render_video, scene_config
from voirie.lab.sample.drive import make_sample_drive, odometer_at
from voirie.records import GeoFix
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


RTSP_CAMERA = Path(__file__).with_name("rtsp_camera.py")
STANDING_S = 5.0  # the live drive starts with the car standing this long
# PyGObject and gst-rtsp-server are Debian packages: the system interpreter has them, the venv not.
_GST_CHECK = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"


def _gst_python() -> str | None:
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and subprocess.run([candidate, "-c", _GST_CHECK], capture_output=True).returncode == 0:
            return candidate
    return None


@dataclass
class RtspCamera:
    """A running ``rtsp_camera.py``: its URL, an event set when a client starts the stream,
    and the wall-clock time it started."""

    url: str
    process: subprocess.Popen
    playing: threading.Event
    started_utc: list[datetime]


def _follow(camera: RtspCamera, log: list[str]) -> None:
    for line in camera.process.stdout:
        log.append(line)
        if line.startswith("ready "):
            camera.url = line.split()[1]
        elif line.strip() == "playing":
            camera.started_utc.append(datetime.now(timezone.utc))
            camera.playing.set()


@pytest.fixture
def rtsp_camera() -> Iterator[Callable[[Path], RtspCamera]]:
    """Start GStreamer's RTSP server on 127.0.0.1 for an MJPEG AVI; stopped after the test."""
    python = _gst_python()
    if python is None:
        pytest.skip("gst-rtsp-server not installed (Debian packages python3-gi, gir1.2-gst-rtsp-server-1.0, "
                    "gstreamer1.0-plugins-base, gstreamer1.0-plugins-good)")
    started: list[subprocess.Popen] = []

    def start(video: Path) -> RtspCamera:
        process = subprocess.Popen([python, str(RTSP_CAMERA), str(video)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        started.append(process)
        camera, log = RtspCamera("", process, threading.Event(), []), []
        threading.Thread(target=_follow, args=(camera, log), daemon=True).start()
        deadline = time.monotonic() + 20
        while not camera.url and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not camera.url:
            raise RuntimeError(f"rtsp_camera.py did not start: {''.join(log)[-2000:]}")
        return camera

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def _write_mjpeg(frames: Iterator[np.ndarray], path: Path, fps: float, size: tuple[int, int]) -> Path:
    # RTP/JPEG (RFC 2435) carries sizes in 8-pixel blocks: keep both sides multiples of 8.
    if size[0] % 8 or size[1] % 8:
        raise ValueError(f"frame size must be a multiple of 8 pixels for RTP/JPEG, got {size}")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def live_drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[GeoFix], float]:
    """The sample drive (24 s, a stop at a junction) as a 640x360, 10 f/s MJPEG clip for the
    RTSP camera, with the car standing for the first 5 s and 3 s of its last picture after
    the track ends; the track's fixes (standing 5 s too) and the distance driven (metres,
    without the receiver's noise)."""
    folder = tmp_path_factory.mktemp("live_drive")
    drive = make_sample_drive(folder / "sample")
    source = cv2.VideoCapture(str(drive.video))
    pictures = []
    while (read := source.read())[0]:
        pictures.append(read[1])
    source.release()
    fps, step = 10.0, drive.fps / 10.0
    picked = [cv2.resize(pictures[int(i * step)], (640, 360), interpolation=cv2.INTER_AREA)
              for i in range(int(len(pictures) / step))]
    # A camera delivers its first frames late (FFmpeg probes the stream on opening): the
    # car waits while it does, so no mark falls before the first frame.
    standing = int(STANDING_S * fps)
    clip = _write_mjpeg(iter(picked[:1] * standing + picked + picked[-1:] * int(3 * fps)), folder / "drive.avi",
                        fps, (640, 360))
    fixes = list(read_track(drive.nmea))
    first = fixes[0].model_copy(update={"speed_mps": 0.0})
    waiting = [first.model_copy(update={"time_utc": first.time_utc - timedelta(seconds=(standing - i) / fps)})
               for i in range(standing)]
    return clip, waiting + fixes, odometer_at((fixes[-1].time_utc - fixes[0].time_utc).total_seconds())


@pytest.fixture(scope="session")
def live_pole_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Counter]:
    """A 640x360, 10 f/s pole-camera clip: road users cross the line in the first 30 s, then
    45 s of empty street (so one 1-minute bin holds every crossing); its counting config
    (1-minute bins) and the true counts per (class, direction)."""
    folder = tmp_path_factory.mktemp("live_pole")
    scene = make_scene(duration_s=30, width=640, height=360, fps=10.0, per_class=1)
    clip = render_video(dataclasses.replace(scene, duration_s=75), folder / "pole.avi")
    return clip, scene_config(scene, bin_seconds=60), scene.truth()
