"""Install profiles from the wheel built from this tree, each in a fresh virtual environment:
``[edge]`` (no server packages there) surveys a recorded drive with the damage and anonymizer
models that ship inside the wheel and counts a rendered pole-camera clip with ``trackers``'
ByteTrack, every package with its declared dependencies (``pip check`` clean, one OpenCV:
``opencv-python``); ``[server]`` (no OpenCV, no ONNX Runtime) serves the map page."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.capture.gnss import write_nmea
from voirie.edge.count.sources import read_bins
from voirie.edge.count.synth import make_scene, render_video, scene_config
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive

ROOT = Path(__file__).resolve().parents[1]
SKIP_IN_COPY = shutil.ignore_patterns(".git", ".venv", "data", "build", "dist", "*.egg-info", "__pycache__",
                                      ".pytest_cache")


def _check(command: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    # Run outside the tree: from its root, ``python -c`` would import the source folders instead.
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tempfile.gettempdir())
    assert done.returncode == 0, f"{command[:4]}…\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the tree (a build writes build/ and *.egg-info beside the sources)."""
    folder = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, folder / "source", ignore=SKIP_IN_COPY)
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder / "dist"), str(folder / "source")])
    return next((folder / "dist").glob("voirie-*.whl"))


def _venv_with(wheel: Path, profile: str, folder: Path) -> Path:
    venv = folder / f"{profile}-venv"
    _check([sys.executable, "-m", "venv", str(venv)])
    _check([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[{profile}]"])
    return venv


def _absent(venv: Path, modules: tuple[str, ...]) -> list[str]:
    script = f"import importlib.util as u; print([m for m in {modules!r} if u.find_spec(m) is None])"
    return eval(_check([str(venv / "bin" / "python"), "-c", script]).stdout)  # noqa: S307 - our own list


def _drive(folder: Path) -> tuple[Path, Path]:
    """10 s at 8 m/s (20 photos at 4 m): a textured video at 10 f/s and its NMEA track."""
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    simulated = simulate_drive((47.2595, -0.0780), start, 90.0, [Leg(10.0, 8.0)], Receiver(rate_hz=10.0))
    write_nmea(simulated.fixes, folder / "drive.nmea")
    writer = cv2.VideoWriter(str(folder / "drive.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 192))
    rng = np.random.default_rng(5)
    for _ in range(100):
        writer.write(np.clip(rng.normal(120, 35, (192, 320, 3)), 0, 255).astype(np.uint8))
    writer.release()
    return folder / "drive.mp4", folder / "drive.nmea"


def _distributions(venv: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed version of each distribution in the venv (None: not installed)."""
    script = ("import importlib.metadata as m, json, sys\n"
              "def v(n):\n    try:\n        return m.version(n)\n    except m.PackageNotFoundError:\n        return None\n"
              "print(json.dumps({n: v(n) for n in sys.argv[1:]}))")
    return json.loads(_check([str(venv / "bin" / "python"), "-c", script, *names]).stdout)


def _count_config(scene, path: Path) -> Path:
    """The scene's counting config as TOML (the background detector, one line)."""
    config = scene_config(scene)
    line = config["lines"][0]
    path.write_text(f'camera_id = "{config["camera_id"]}"\npixels_per_metre = {config["pixels_per_metre"]}\n'
                    '[detector]\ntype = "background"\n'
                    f'[[lines]]\nid = "{line["id"]}"\nstart = {line["start"]}\nend = {line["end"]}\n'
                    f'directions = {json.dumps(line["directions"])}\nhysteresis = {line["hysteresis"]}\n'
                    f'min_travel = {line["min_travel"]}\n')
    return path


def _installed_mb(venv: Path) -> float:
    site = next(venv.glob("lib/python*/site-packages"))
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6


@pytest.mark.slow
def test_edge_profile_in_a_fresh_venv_surveys_a_replay_without_server_packages(tmp_path: Path, wheel: Path) -> None:
    venv = _venv_with(wheel, "edge", tmp_path)
    server_side = ("fastapi", "sqlalchemy", "highspy", "uvicorn", "torch")
    assert _absent(venv, server_side) == list(server_side)
    video, track = _drive(tmp_path)
    _check([str(venv / "bin" / "voirie"), "survey", "--video", str(video), "--track", str(track),
            "--out", str(tmp_path / "out"), "--no-progress"])
    records = [json.loads(line) for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    assert len(records) >= 15 and all(r["model_id"] == "damage-default" for r in records)
    assert all(r["anonymizer"] for r in records)
    # Every dependency with its own declared dependencies, and one OpenCV wheel owning cv2.
    _check([str(venv / "bin" / "python"), "-m", "pip", "check"])
    installed = _distributions(venv, ("opencv-python", "opencv-python-headless", "trackers"))
    assert installed["opencv-python"] and installed["trackers"] and installed["opencv-python-headless"] is None
    # Counting starts and counts with trackers' ByteTrack: every crossing of a rendered clip.
    scene = make_scene(duration_s=24.0, width=480, height=270, fps=12.5, seed=5, per_class=1)
    clip = render_video(scene, tmp_path / "clip.avi")
    config = _count_config(scene, tmp_path / "cam.toml")
    _check([str(venv / "bin" / "voirie"), "count", "--source", str(clip), "--config", str(config),
            "--out", str(tmp_path / "bins")])
    bins = [b for path in (tmp_path / "bins").glob("*.jsonl") for b in read_bins(path)]
    assert sum(b.count for b in bins) == sum(scene.truth().values()) > 0
    print(f"voirie[edge] installed: {_installed_mb(venv):.0f} MB in site-packages ({installed})")


@pytest.mark.slow
def test_server_profile_in_a_fresh_venv_serves_the_map_page_without_edge_packages(tmp_path: Path, wheel: Path) -> None:
    venv = _venv_with(wheel, "server", tmp_path)
    edge_side = ("cv2", "onnxruntime", "supervision", "gpsd")
    assert _absent(venv, edge_side) == list(edge_side)
    script = ("import pathlib, sys; from fastapi.testclient import TestClient\n"
              "from voirie.server.core.config import Settings; from voirie.server.main import create_app\n"
              "app = create_app(Settings(data_dir=pathlib.Path(sys.argv[1]), bootstrap_admin_key='k' * 32))\n"
              "with TestClient(app) as client:\n"
              "    print([client.get(path).status_code for path in ('/', '/static/app.js', '/vendor/maplibre-gl.js')])")
    answer = _check([str(venv / "bin" / "python"), "-c", script, str(tmp_path / "data")])
    assert answer.stdout.strip().splitlines()[-1] == "[200, 200, 200]", answer.stdout
    print(f"voirie[server] installed: {_installed_mb(venv):.0f} MB in site-packages")
