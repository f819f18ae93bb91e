"""Fleet from the agent: heartbeats reach the server; a model the server offers is installed,
verified and run by the survey pipeline (at once, or from the next start)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from voirie.models.registry import ZOO_DIR

ADMIN = {"Authorization": "Bearer agent-test-admin-key-0123456789"}
DEVICE = "car-fleet"


def _offer_zoo_model(live_server, version: str) -> str:
    """Upload the shipped damage model as a new version and offer it to DEVICE; returns its sha256."""
    manifest = json.loads((ZOO_DIR / "damage-default" / "manifest.json").read_text())
    variant = manifest["default_variant"]
    entry = manifest["files"][variant]
    manifest.update(version=version, files={variant: entry}, aliases=[])
    client = live_server.client
    answer = client.post("/api/v1/models", json={"manifest": manifest}, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    data = (ZOO_DIR / "damage-default" / entry["file"]).read_bytes()
    answer = client.put(f"/api/v1/models/{manifest['name']}/{version}/file", content=data,
                        headers={**ADMIN, "Content-Type": "application/octet-stream"})
    assert answer.status_code == 200, answer.text
    answer = client.post(f"/api/v1/models/{manifest['name']}/{version}/offers", json={"device_ids": [DEVICE]},
                         headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return entry["sha256"]


def test_heartbeat_and_model_rollout(tmp_path: Path, live_server, drive_files) -> None:
    video, track = drive_files
    (tmp_path / "token").write_text(live_server.register(DEVICE))
    sha256 = _offer_zoo_model(live_server, "9.9.9-fleet")
    config = tmp_path / "edge.toml"
    config.write_text(f'mode = "survey"\ndevice_id = "{DEVICE}"\nstate_dir = "state"\n'
                      f'[server]\nurl = "{live_server.url}"\ntoken_file = "token"\npoll_s = 0.2\nheartbeat_s = 5\n'
                      f'[survey]\nvideo = "{video}"\ntrack = "{track}"\nmodel = "default"\n')
    runs = []
    for _ in range(2):  # the offer is applied during the first run; the second starts on it
        done = subprocess.run([sys.executable, "-m", "voirie.edge.cli", "run", "--config", str(config),
                               "--until-drained"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads((tmp_path / "state" / "status.json").read_text()))
    assert runs[0]["last_heartbeat"] is not None
    assert runs[1]["model"]["rolled_out"] and runs[1]["model"]["sha256"] == sha256
    assert runs[1]["model"]["model_version"] == "9.9.9-fleet"
    device = next(d for d in live_server.client.get("/api/v1/devices", headers=ADMIN).json()
                  if d["device_id"] == DEVICE)
    assert device["last_heartbeat_at"] and device["mode"] == "survey" and not device["stale"]
    assert any(m["sha256"] == sha256 for m in device["models"])
    offers = live_server.client.get("/api/v1/models/offers", headers=ADMIN).json()
    assert [o["status"] for o in offers if o["device_id"] == DEVICE] == ["applied"]
