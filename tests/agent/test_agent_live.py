"""Live survey across restarts: a real gpsd (gpsfake) and an MJPEG camera on 127.0.0.1; the
agent is stopped and started again mid-drive, and the survey goes on with new record ids."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest


# gpsd-py3 0.3 calls the deprecated logger.warn when gpsd has no device yet.
pytestmark = pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")


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
