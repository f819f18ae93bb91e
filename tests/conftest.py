"""Shared fixtures. Tests use real parts (ONNX Runtime, SQLite, gpsd, HTTP, Chromium);
a test whose system tool is missing is skipped with the reason, never faked."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.capture.gnss import write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data is real public data for evaluation; the suite must pass without it.
PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin"  # gpsd lives in sbin
SHARED_DATA = Path(os.environ.get("VOIRIE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


class _Camera(BaseHTTPRequestHandler):
    """An MJPEG stream (multipart/x-mixed-replace) at 10 frames/s, like a cheap IP camera."""

    jpeg = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            while True:
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(self.jpeg)
                self.wfile.write(head + self.jpeg + b"\r\n")
                time.sleep(0.1)
        except OSError:
            return

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def camera_url() -> Iterator[str]:
    texture = np.clip(np.random.default_rng(2).normal(120, 35, (192, 320, 3)), 0, 255).astype(np.uint8)
    _Camera.jpeg = cv2.imencode(".jpg", texture)[1].tobytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Camera)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cam.mjpg"
    server.shutdown()
    server.server_close()


@pytest.fixture
def gpsd_port(tmp_path: Path) -> Iterator[int]:
    """gpsfake (and its gpsd) replaying a 60 s drive at 10 Hz whose GPS times are the wall clock.

    Frames are timed by the system clock and marks by GPS time (on a device chrony keeps
    them together): two NMEA sentences per epoch, so one every 0.05 s replays in real time.
    """
    if shutil.which("gpsfake", path=PATH) is None or shutil.which("gpsd", path=PATH) is None:
        pytest.skip("gpsfake/gpsd not installed (Debian packages gpsd and gpsd-clients)")
    start = datetime.now(timezone.utc) + timedelta(seconds=1)
    drive = simulate_drive((47.2595, -0.0780), start, 90.0, [Leg(60.0, 12.0)], Receiver(rate_hz=10.0))
    write_nmea(drive.fixes, tmp_path / "drive.nmea")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (tmp_path / "gpsfake.log").open("wb") as log:
        process = subprocess.Popen(["gpsfake", "-q", "-1", "-n", "-P", str(port), "-c", "0.05",
                                    str(tmp_path / "drive.nmea")], env={**os.environ, "PATH": PATH},
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGINT)  # gpsfake ignores SIGTERM; SIGINT stops it and its gpsd
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
