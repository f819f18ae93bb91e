"""GpsdSource against a real gpsd, fed by gpsfake replaying an NMEA log written by write_nmea."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from geographiclib.geodesic import Geodesic
from typer.testing import CliRunner

from voirie.capture.gnss import FixFilter, GnssError, GpsdSource, tpv_to_fix, write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.capture.trigger import DistanceTrigger, TriggerMark
from voirie.cli import app
from voirie.records import GeoFix

# gpsd-py3 0.3 calls the deprecated logger.warn when gpsd has no device yet.
pytestmark = pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")
# gpsd may treat a date before its own build date as a GPS week rollover: use a recent one.
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
# gpsfake lives in gpsd-clients and starts gpsd from /usr/sbin.
PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gpsfake exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"gpsd did not listen on port {port} within {timeout_s} s")


@pytest.fixture
def gpsfake(tmp_path: Path) -> Iterator[Callable[[Path, float], int]]:
    """Start gpsfake (and its gpsd) on a free port for a log; always stopped afterwards."""
    if shutil.which("gpsfake", path=PATH) is None or shutil.which("gpsd", path=PATH) is None:
        pytest.skip("gpsfake/gpsd not installed (Debian packages gpsd and gpsd-clients)")
    started: list[subprocess.Popen[bytes]] = []

    def start(log: Path, cycle_s: float) -> int:
        port = free_port()
        # -n: gpsd reads the fake device at once (without it gpsd opens the device only for
        # a client and flushes what gpsfake wrote before). What plays before the client
        # connects is lost, so the logs below begin with 12 s at rest (about 2.4 s of replay).
        command = ["gpsfake", "-q", "-1", "-n", "-P", str(port), "-c", str(cycle_s), str(log)]
        # Output to a file, not a pipe: a full pipe would block gpsd mid-test.
        errors = tmp_path / f"gpsfake-{port}.log"
        with errors.open("wb") as stream:
            process = subprocess.Popen(
                command, env={**os.environ, "PATH": PATH}, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
            )
        started.append(process)
        wait_for_port(port, process, errors)
        return port

    yield start
    for process in started:  # gpsfake and the gpsd it started share this process group
        if process.poll() is None:
            # gpsfake ignores SIGTERM; on SIGINT it kills its gpsd and exits.
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


WAIT_S = 40.0  # 200 epochs at 5 Hz: about 6 s of replay before the car moves


def test_marks_from_real_gpsd_are_4_m_apart(tmp_path: Path, gpsfake: Callable[[Path, float], int]) -> None:
    # The car waits WAIT_S before moving: gpsfake starts replaying as soon as gpsd is up,
    # so a client that connects late on a loaded machine must still see the start.
    legs = [Leg(WAIT_S, 0.0), Leg(1.0, 0.0, 12.0), Leg(6.0, 12.0), Leg(6.0, 12.0, turn_deg=90.0), Leg(6.0, 12.0, 6.0)]
    drive = simulate_drive((43.6045, 1.444), T0, 200.0, legs, Receiver(rate_hz=5.0, eph_m=1.5))
    log = tmp_path / "drive.nmea"
    write_nmea(drive.fixes, log)
    port = gpsfake(log, 0.01)  # 3 sentences per epoch: about 0.04 s per 0.2 s epoch

    source, fix_filter, trigger = GpsdSource("127.0.0.1", port), FixFilter(), DistanceTrigger()
    fixes, marks = [], []
    for fix in source.fixes(timeout_s=1.5, first_fix_timeout_s=20.0):
        fixes.append(fix)
        if fix_filter.accept(fix):
            marks.extend(trigger.update(fix))

    assert fixes[0].time_utc < T0 + timedelta(seconds=WAIT_S), "gpsd missed the start of the drive"
    # gpsd streams every TPV: no epoch after the first one read is lost.
    assert [f.time_utc for f in fixes] == [f.time_utc for f in drive.fixes if f.time_utc >= fixes[0].time_utc]
    assert fixes[-1].alt_m == pytest.approx(100.0) and fixes[-1].mode == 3
    assert sum(fix_filter.rejected.values()) == 0
    assert len(marks) >= 40
    assert min(m.time_utc for m in marks) > T0 + timedelta(seconds=WAIT_S)  # none while waiting
    spacing = _spacing_along_track(marks)
    assert min(spacing) >= 3.5 and max(spacing) <= 4.5, spacing
    # Each mark is where the simulated car really was at the mark's instant.
    assert max(_error_m(mark, drive.fixes) for mark in marks) < 0.1


def _spacing_along_track(marks: list[TriggerMark]) -> list[float]:
    g = Geodesic.WGS84
    return [g.Inverse(a.fix.lat, a.fix.lon, b.fix.lat, b.fix.lon)["s12"] for a, b in zip(marks, marks[1:])]


def _error_m(mark: TriggerMark, truth: list[GeoFix]) -> float:
    """Distance from the mark to the true position at its instant (interpolated in time)."""
    g = Geodesic.WGS84
    after = next(i for i, f in enumerate(truth) if f.time_utc >= mark.time_utc)
    a, b = truth[after - 1], truth[after]
    share = (mark.time_utc - a.time_utc) / (b.time_utc - a.time_utc)
    line = g.InverseLine(a.lat, a.lon, b.lat, b.lon)
    where = line.Position(share * line.s13)
    return float(g.Inverse(mark.fix.lat, mark.fix.lon, where["lat2"], where["lon2"])["s12"])


def test_watch_command_reports_live_marks(tmp_path: Path, gpsfake: Callable[[Path, float], int]) -> None:
    drive = simulate_drive((43.6045, 1.444), T0, 0.0, [Leg(12.0, 0.0), Leg(2.0, 0.0, 10.0), Leg(7.0, 10.0)], Receiver(rate_hz=5.0))
    log = tmp_path / "short.nmea"
    write_nmea(drive.fixes, log)
    port = gpsfake(log, 0.01)
    result = CliRunner().invoke(app, ["gnss", "watch", "--port", str(port), "--timeout", "3"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = re.search(r"fixes (\d+), rejected (\d+), distance ([\d.]+) m, marks (\d+)", result.output)
    assert summary, result.output
    fixes, rejected, distance, marks = int(summary[1]), int(summary[2]), float(summary[3]), int(summary[4])
    assert fixes >= 20 and rejected == 0
    assert distance == pytest.approx(80.0, abs=0.5) and marks == 20  # the drive starts after 12 s


def test_watch_command_fails_cleanly_without_gpsd() -> None:
    result = CliRunner().invoke(app, ["gnss", "watch", "--port", str(free_port()), "--timeout", "1"])
    assert result.exit_code == 2 and "cannot connect" in result.output


def test_tpv_report_of_gpsd_3_22_to_fix() -> None:
    # A TPV as gpsd 3.22 streams it (altHAE/altMSL split, no eph without DOPs).
    tpv = {
        "class": "TPV", "device": "/dev/pts/1", "mode": 3, "time": "2026-05-04T09:00:00.200Z", "ept": 0.005,
        "lat": 43.600018, "lon": 1.44, "altHAE": 148.2493, "altMSL": 100.0, "alt": 100.0, "track": 359.99,
        "magtrack": 0.8029, "magvar": 0.8, "speed": 10.0, "epx": 3.0, "epy": 4.0,
    }
    fix = tpv_to_fix(tpv)
    assert fix.time_utc == datetime(2026, 5, 4, 9, 0, 0, 200000, tzinfo=timezone.utc)
    assert (fix.lat, fix.lon, fix.alt_m, fix.speed_mps, fix.heading_deg) == (43.600018, 1.44, 100.0, 10.0, 359.99)
    assert fix.eph_m == pytest.approx(5.0) and fix.mode == 3
    assert tpv_to_fix({**tpv, "mode": 2}).alt_m is None
    with pytest.raises(KeyError):
        tpv_to_fix({"class": "TPV", "mode": 1, "time": "2026-05-04T09:00:00Z"})


def test_a_server_that_is_not_gpsd_is_a_clear_error() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.sendall(b'HTTP/1.1 200 OK\r\n\r\n{"class": "NOT_GPSD"}\n')
                time.sleep(0.5)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(GnssError, match=f"127.0.0.1:{port}"):
            next(GpsdSource("127.0.0.1", port).fixes(timeout_s=2.0))
        thread.join(timeout=5)


def test_unreachable_gpsd_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(GnssError, match=f"127.0.0.1:{port}"):
        next(GpsdSource("127.0.0.1", port).fixes(timeout_s=1.0))


@pytest.mark.parametrize("port", [0, -1, 70000])
def test_bad_source_settings_are_refused(port: int) -> None:
    with pytest.raises(ValueError, match="port"):
        GpsdSource("127.0.0.1", port)
