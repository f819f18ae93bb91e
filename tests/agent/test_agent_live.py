"""Live survey across restarts: a real gpsd (gpsfake) and an MJPEG camera on 127.0.0.1; the
agent is stopped and started again mid-drive, and the survey goes on with new record ids."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
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
from voirie.capture.gnss_sim import Leg, Receiver, simulate_drive

PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin"
# gpsd-py3 0.3 calls the deprecated logger.warn when gpsd has no device yet.
pytestmark = pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")


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


def _queued(outbox: Path) -> list[dict]:
    with sqlite3.connect(outbox) as db:
        return [json.loads(row[0]) for row in db.execute("SELECT payload FROM records ORDER BY seq")]


def _run_until(config: Path, status_path: Path, photos: int, stop_with: signal.Signals) -> dict:
    process = subprocess.Popen([sys.executable, "-m", "voirie.edge.cli", "run", "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline, status = time.monotonic() + 60, {}
    while time.monotonic() < deadline and process.poll() is None:
        try:
            status = json.loads(status_path.read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("pid") == process.pid and status.get("records_queued", 0) >= photos:
            break
        time.sleep(0.05)
    if process.poll() is not None or status.get("records_queued", 0) < photos:
        process.kill()
        pytest.fail(f"no {photos} photos; status {status}\n{process.communicate()[1][-3000:]}")
    process.send_signal(stop_with)
    process.wait(timeout=30)
    return status


def test_live_survey_continues_after_restarts_with_new_ids(tmp_path: Path, camera_url: str, gpsd_port: int) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(f'mode = "survey"\ndevice_id = "car-live"\nstate_dir = "state"\n[health]\n'
                      f'status_interval_s = 0.2\n[survey]\ncamera = "{camera_url}"\ngpsd = "127.0.0.1:{gpsd_port}"\n'
                      f'model = "none"\nspacing_m = 8.0\n')
    status = tmp_path / "state" / "status.json"
    first = _run_until(config, status, 3, signal.SIGKILL)  # power cut
    second = _run_until(config, status, 3, signal.SIGTERM)  # clean stop
    records = _queued(tmp_path / "state" / "outbox.sqlite3")
    ids = [r["record_id"] for r in records]
    assert len(ids) == len(set(ids)) >= 6
    assert len({r["survey_id"] for r in records}) == 1  # the same survey goes on
    first_run = [r["sequence"] for r in records[:first["records_queued"]]]
    later = [r["sequence"] for r in records[first["records_queued"]:]]
    assert later and min(later) >= 5000 > max(first_run)  # after the block the killed run had reserved
    assert second["last_fix"] is not None and json.loads(status.read_text())["state"] == "stopped"
