"""Shared fixtures. Tests use real parts (ONNX Runtime, SQLite, gpsd, HTTP, Chromium);
a test whose system tool is missing is skipped with the reason, never faked."""

from __future__ import annotations

import os
import pty
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

from voirie.capture.gnss import nmea_sentences, write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.records import GeoFix

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
    port = _free_port()
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NmeaFeed:
    """A GNSS receiver in real time: NMEA written to a pseudo-terminal that gpsd reads as a
    serial port, each fix when the wall clock reaches its time (gpsfake paces by sleeping
    between sentences and falls seconds behind on a loaded machine; the live tests match
    frames to fixes by wall-clock time, so the feed must keep to the clock)."""

    def __init__(self, terminal: int, port: int) -> None:
        self.terminal, self.port = terminal, port
        self.sent = 0
        self._stop, self._thread = threading.Event(), None

    def play(self, fixes: list[GeoFix], start: datetime | None = None) -> list[GeoFix]:
        """Send ``fixes`` on a thread, shifted so the first is at ``start`` (default now);
        returns the shifted fixes (what gpsd reports)."""
        shift = (start or datetime.now(timezone.utc)) - fixes[0].time_utc
        shifted = [fix.model_copy(update={"time_utc": fix.time_utc + shift}) for fix in fixes]
        self._thread = threading.Thread(target=self._send, args=(shifted,), name="nmea-feed", daemon=True)
        self._thread.start()
        return shifted

    def _send(self, fixes: list[GeoFix]) -> None:
        for fix in fixes:
            if self._stop.wait(max(0.0, (fix.time_utc - datetime.now(timezone.utc)).total_seconds())):
                return
            os.write(self.terminal, "".join(f"{line}\r\n" for line in nmea_sentences(fix)).encode("ascii"))
            self.sent += 1

    def wait(self, timeout_s: float) -> bool:
        """Wait for the whole track to be sent; False on timeout."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self._thread is not None and not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


@pytest.fixture
def realtime_gpsd(tmp_path: Path) -> Iterator[NmeaFeed]:
    """A real gpsd on a free port reading a pty; the test writes the track with ``play``."""
    gpsd = shutil.which("gpsd", path=PATH)
    if gpsd is None:
        pytest.skip("gpsd not installed (Debian package gpsd)")
    terminal, receiver = pty.openpty()
    port = _free_port()
    with (tmp_path / "gpsd.log").open("wb") as log:  # -b: read-only, never reconfigure the "receiver"
        process = subprocess.Popen([gpsd, "-N", "-n", "-b", "-S", str(port), os.ttyname(receiver)],
                                   stdout=log, stderr=subprocess.STDOUT)
    feed = NmeaFeed(terminal, port)
    try:
        _wait_for_port(port, process, tmp_path / "gpsd.log")
        yield feed
    finally:
        feed.stop()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        os.close(terminal)
        os.close(receiver)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gpsd exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"gpsd did not listen on 127.0.0.1:{port} within {timeout_s} s")
