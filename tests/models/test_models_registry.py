"""Registry: manifests, checksum refusal, user drop-in registration through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voirie.cli import app
from voirie.models import ModelError, load_detector
from voirie.models import registry


@pytest.fixture()
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "user-models"
    monkeypatch.setenv("VOIRIE_MODELS_DIR", str(folder))
    return folder


def _register(damage_onnx: Path, *extra: str) -> object:
    return CliRunner().invoke(app, ["models", "register", str(damage_onnx), "--name", "city-cracks",
                                    "--version", "2026.1", "--license", "CC-BY-4.0", *extra])


def test_register_then_load_by_name(damage_onnx: Path, user_dir: Path) -> None:
    outcome = _register(damage_onnx)
    assert outcome.exit_code == 0, outcome.output
    manifest = registry.read_manifest(user_dir / "city-cracks" / "manifest.json")
    assert manifest.classes == ("crack", "pothole") and manifest.input_size == (64, 64)
    detector = load_detector("city-cracks")
    assert (detector.model_id, detector.model_version) == ("city-cracks", "2026.1")
    assert detector.options.confidence == 0.25  # the manifest's recommendation...
    assert load_detector("city-cracks", confidence=0.6).options.confidence == 0.6  # ...unless the caller says
    listed = CliRunner().invoke(app, ["models", "list"])
    assert "city-cracks" in listed.output
    info = CliRunner().invoke(app, ["models", "info", "city-cracks"])
    assert json.loads(info.output)["license"] == "CC-BY-4.0"
    assert _register(damage_onnx).exit_code == 2  # same name twice needs --overwrite
    assert _register(damage_onnx, "--overwrite").exit_code == 0


def test_tampered_model_is_refused(damage_onnx: Path, user_dir: Path) -> None:
    assert _register(damage_onnx).exit_code == 0
    stored = user_dir / "city-cracks" / damage_onnx.name
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="refusing it"):
        load_detector("city-cracks")
    with pytest.raises(ModelError, match="refusing it"):
        load_detector(stored)  # by path, the manifest beside it still applies
    verify = CliRunner().invoke(app, ["models", "verify", "city-cracks"])
    assert verify.exit_code == 1 and "FAILED" in verify.output


def test_register_refuses_a_non_detector(tmp_path: Path, user_dir: Path) -> None:
    from .conftest import build_onnx
    import numpy as np

    classifier = build_onnx(tmp_path / "resnet.onnx", np.zeros((1, 1000), np.float32))
    outcome = CliRunner().invoke(app, ["models", "register", str(classifier), "--name", "oops"])
    assert outcome.exit_code == 2 and "classification model" in outcome.output
    assert not (user_dir / "oops").exists()


def test_bad_manifest_is_named(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"name": "x"}')
    with pytest.raises(ModelError, match="not a valid voirie model manifest"):
        registry.read_manifest(tmp_path / "manifest.json")


def test_shipped_models_verify(repo_root: Path) -> None:
    """Every model shipped in models/zoo matches its manifest (catches a half-committed update)."""
    shipped = [(m, f) for m, f in registry.list_manifests() if f.parent == registry.ZOO_DIR]
    if not shipped:
        pytest.skip("no model shipped in models/zoo yet")
    for manifest, folder in shipped:
        for variant in manifest.files:
            assert registry.verify_file(manifest, folder, variant).is_file()
        assert (folder / "MODEL_CARD.md").is_file()
