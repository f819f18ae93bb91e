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


def test_a_rolled_out_model_that_cannot_run_is_reported_and_the_configured_one_runs(tmp_path: Path) -> None:
    import hashlib

    import onnx
    from onnx import TensorProto, helper

    from voirie.edge.agent.config import parse_agent_config
    from voirie.edge.agent.fleet import ModelSlot, model_dir
    from voirie.edge.agent.pipeline import load_survey_models
    from voirie.edge.fleet.models import current_model, install_staged, new_staging
    from voirie.models.registry import Manifest, write_manifest

    # A valid ONNX graph, but not a detector: ONNX Runtime loads it, the damage runtime refuses it.
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 32, 32])
    graph = helper.make_graph([helper.make_node("Relu", ["images"], ["output"])], "not-a-detector", [x], [y])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    onnx.checker.check_model(onnx.load_from_string(data))
    config = parse_agent_config({"mode": "survey", "device_id": "car-1", "state_dir": str(tmp_path),
                                 "survey": {"video": "v.mp4", "track": "t.nmea", "model": "default"}})
    staging = new_staging(model_dir(config))
    (staging / "model.onnx").write_bytes(data)
    manifest = Manifest(name="damage-bad", version="1", classes=("crack",), input_size=(32, 32),
                        files={"fp32": {"file": "model.onnx", "sha256": hashlib.sha256(data).hexdigest(),
                                        "bytes": len(data)}}, default_variant="fp32")
    write_manifest(manifest, staging)
    install_staged(model_dir(config), staging, manifest, "offer-1")
    assert current_model(model_dir(config)) is not None
    slot = ModelSlot()
    _, detector = load_survey_models(config, slot)
    assert detector is not None and detector.model_id == "damage-default"
    assert slot.take_failure()  # the heartbeat thread rolls it back and reports it
