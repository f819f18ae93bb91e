"""The device's model switch survives kill -9 at any point: a real process installs versions in
a loop and is killed at random moments; the folder always holds one whole, verified model."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime as ort
import pytest

from voirie.edge.fleet.models import ModelRefusedError, current_model, read_active, roll_back
from voirie.models import registry

from .conftest import manifest_for, tiny_onnx

INSTALL_LOOP = """
import json, os, sys
from pathlib import Path
from voirie.edge.fleet import models as fleet_models
from voirie.models import registry
model_dir, sources = Path(sys.argv[1]), json.loads(sys.argv[2])
i = 0
while True:
    data_path, manifest = sources[i % len(sources)]
    staging = fleet_models.new_staging(model_dir)
    fleet_models.write_atomic(staging / "model.onnx", Path(data_path).read_bytes())
    fleet_models.verify_loadable(staging / "model.onnx")
    fleet_models.write_atomic(staging / "manifest.json", json.dumps(manifest).encode())
    fleet_models.install_staged(model_dir, staging, registry.Manifest.model_validate(manifest), f"offer-{i}")
    print(i, flush=True)
    i += 1
"""


def _sources(tmp_path: Path) -> list[tuple[str, dict]]:
    sources = []
    for version, scale in (("1.0.0", 2.0), ("2.0.0", 3.0), ("3.0.0", 4.0)):
        data = tiny_onnx(scale)
        path = tmp_path / f"{version}.onnx"
        path.write_bytes(data)
        sources.append((str(path), manifest_for(data, version)))
    return sources


def test_kill_during_install_always_leaves_one_whole_model(tmp_path):
    model_dir = tmp_path / "models"
    sources = _sources(tmp_path)
    known = {m["files"]["fp32"]["sha256"] for _, m in sources}
    rng = random.Random(8)
    kills = 15
    for _ in range(kills):
        process = subprocess.Popen([sys.executable, "-c", INSTALL_LOOP, str(model_dir), json.dumps(sources)],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline(), "the installer did not complete a first install"
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
        path = current_model(model_dir)
        manifest = registry.read_manifest(path.parent / "manifest.json")
        assert registry.verify_file(manifest, path.parent) == path
        assert hashlib.sha256(path.read_bytes()).hexdigest() in known
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        versions = [p for p in (model_dir / "versions").iterdir() if not p.name.startswith(".staging-")]
        assert len(versions) <= 3  # current, previous, and at most one renamed just before the kill
    print(f"\nkill -9 during model install: {kills} kills, every time one whole verified model was current")


def test_roll_back_needs_a_previous_version(tmp_path):
    with pytest.raises(ModelRefusedError, match="no previous model"):
        roll_back(tmp_path / "empty")
    assert current_model(tmp_path / "empty") is None and read_active(tmp_path / "empty").current is None
