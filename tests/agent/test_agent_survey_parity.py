"""One survey engine: the same recorded drive through ``voirie survey`` and through the agent gives
the same records (ids, positions, detections, anonymizer counts), photo for photo."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from voirie.lab.sample.drive import SampleDrive, make_sample_drive

DEVICE = "car-parity"
FRAMES = 150  # the first 6 s of the sample drive: real road photos, damage, a face


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[SampleDrive, Path]:
    """The sample drive and a video of its first ``FRAMES`` frames (its track unchanged)."""
    folder = tmp_path_factory.mktemp("parity")
    sample = make_sample_drive(folder / "sample")
    capture = cv2.VideoCapture(str(sample.video))
    clip = folder / "clip.mp4"
    writer = None
    for _ in range(FRAMES):
        ok, image = capture.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), sample.fps, image.shape[1::-1])
        writer.write(image)
    writer.release()
    capture.release()
    return sample, clip


def _run(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _cli_records(tmp_path: Path, sample: SampleDrive, clip: Path) -> list[dict]:
    out = tmp_path / "cli"
    _run("voirie.cli", "survey", "--video", str(clip), "--track", str(sample.nmea), "--video-start",
         sample.start_utc.isoformat(), "--out", str(out), "--device-id", DEVICE, "--no-progress",
         "--anonymize-timeout", "60")
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


def _agent_records(tmp_path: Path, sample: SampleDrive, clip: Path) -> list[dict]:
    config = tmp_path / "edge.toml"
    config.write_text(f'mode = "survey"\ndevice_id = "{DEVICE}"\nstate_dir = "state"\n[survey]\n'
                      f'video = "{clip}"\ntrack = "{sample.nmea}"\nvideo_start_utc = "{sample.start_utc.isoformat()}"\n'
                      'model = "default"\nanonymize_timeout_s = 60\n')
    _run("voirie.edge.cli", "run", "--config", str(config), "--until-drained")
    with sqlite3.connect(tmp_path / "state" / "outbox.sqlite3") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT payload FROM records ORDER BY seq")]


def test_cli_and_agent_replays_give_identical_records(tmp_path: Path, drive) -> None:
    sample, clip = drive
    cli, agent = _cli_records(tmp_path, sample, clip), _agent_records(tmp_path, sample, clip)
    assert len(cli) >= 8, len(cli)
    assert any(r["detections"] for r in cli) and all(r["model_id"] for r in cli)  # the default model ran
    assert sum(r["faces_masked"] + r["plates_masked"] for r in cli) >= 1  # the anonymizer found someone
    assert agent == cli
