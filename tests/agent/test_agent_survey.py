"""Survey mode end to end: a recorded drive → anonymizer → outbox → a real server, evidence included;
a restarted replay adds nothing (same ids); the dry run reports each check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DEVICE = "car-e2e"


def _config(folder: Path, video: Path, track: Path, url: str | None, token: str | None) -> Path:
    server = f'[server]\nurl = "{url}"\ntoken_file = "token"\npoll_s = 0.2\n' if url else ""
    if token:
        (folder / "token").write_text(token)
    path = folder / "edge.toml"
    path.write_text(f'mode = "survey"\ndevice_id = "{DEVICE}"\nstate_dir = "state"\n{server}'
                    f'[logging]\nformat = "json"\n[health]\nstatus_interval_s = 0.2\n'
                    f'[survey]\nvideo = "{video}"\ntrack = "{track}"\nmodel = "none"\n')
    return path


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voirie.edge.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_survey_replay_reaches_the_server_once_with_evidence(tmp_path: Path, live_server, drive_files) -> None:
    drive = drive_files
    token = live_server.register(DEVICE)
    config = _config(tmp_path, *drive, live_server.url, token)
    first = _run("run", "--config", str(config), "--until-drained")
    assert first.returncode == 0, first.stderr[-2000:]
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    rows = live_server.sql("SELECT record_id, has_evidence, image_file FROM frames WHERE device_id = ?", (DEVICE,))
    assert len(rows) == status["records_queued"] == status["survey"]["photos"] >= 15
    assert all(has_evidence and image_file.startswith("images/") for _, has_evidence, image_file in rows)
    assert status["outbox"]["pending_records"] == 0 and status["state"] == "stopped"
    assert status["last_sync"]["accepted"] >= 1 and status["records_synced"] == len(rows)
    assert status["last_fix"]["lat"] and status["last_heartbeat"] is not None
    survey = status["survey"]  # what sizes a box: photos and CPU seconds per km
    assert 0.06 <= survey["km"] <= 0.08 and 225 <= survey["photos_per_km"] <= 275 and survey["cpu_s_per_km"] > 0
    # No calibration configured: the anonymizer says which horizon it placed its bands by.
    horizons = status["survey"]["anonymizer_horizon"]
    assert sum(horizons.values()) == status["survey"]["photos"] and set(horizons) <= {"estimated", "whole_frame"}
    assert horizons.get("whole_frame", 0) >= 1  # nothing assumed for the first photos
    assert status["anonymizer_horizon"] in ("estimated", "whole_frame")
    assert token not in first.stderr  # JSON logs, never the token
    assert all(json.loads(line)["level"] for line in first.stderr.splitlines() if line.startswith("{"))
    second = _run("run", "--config", str(config), "--until-drained")  # a restart replays the same drive
    assert second.returncode == 0, second.stderr[-2000:]
    again = live_server.sql("SELECT record_id FROM frames WHERE device_id = ?", (DEVICE,))
    assert sorted(again) == sorted((r[0],) for r in rows)  # same ids: nothing new, nothing twice


def test_validate_config_reports_each_check(tmp_path: Path, drive_files) -> None:
    drive = drive_files
    config = _config(tmp_path, *drive, None, None)
    ok = _run("run", "--config", str(config), "--validate-config")
    assert ok.returncode == 0, ok.stdout
    for line in ("ok   config", "ok   outbox", "ok   anonymizer", "ok   video", "ok   gnss", "warn token",
                 "warn damage model"):
        assert line in ok.stdout, ok.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text(config.read_text().replace(str(drive[0]), str(tmp_path / "missing.mp4")))
    bad = _run("run", "--config", str(broken), "--validate-config")
    assert bad.returncode == 1 and "FAIL video" in bad.stdout and "missing.mp4" in bad.stdout
    broken.write_text(config.read_text().replace('mode = "survey"', 'mode = "surveys"'))
    refused = _run("run", "--config", str(broken), "--validate-config")
    assert refused.returncode == 1 and "FAIL config" in refused.stdout and "mode:" in refused.stdout


def test_a_missing_source_exits_1_and_says_why_in_the_status(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('mode = "counting"\ndevice_id = "pole-1"\nstate_dir = "state"\n[counting]\n'
                      f'source = "{tmp_path / "gone.avi"}"\n[counting.counter]\npixels_per_metre = 20.0\n'
                      '[[counting.counter.lines]]\nid = "main"\nstart = [10.0, 0.0]\nend = [10.0, 90.0]\n')
    done = _run("run", "--config", str(config), timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["state"] == "stopped" and "gone.avi" in status["last_error"]["message"]
