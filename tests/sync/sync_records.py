"""Records made fast for the sync tests, the child process and the benchmark: frames 4 m
apart with their own (GNSS) time, count bins, and real JPEG evidence of a chosen size."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from voirie.records import CountBin, Detection, FrameRecord, GeoFix

START = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


def frame_records(count: int, *, device_id: str = "car-1", survey_id: str = "day-1", first: int = 0,
                  start: datetime = START, evidence: bool = True) -> list[FrameRecord]:
    """``count`` frames 4 m apart (0.5 s at 30 km/h) along a line, each with one detection."""
    records = []
    for sequence in range(first, first + count):
        when = start + timedelta(seconds=0.5 * sequence)
        fix = GeoFix(lat=48.85 + sequence * 3.6e-5, lon=2.35, time_utc=when, speed_mps=8.3, heading_deg=0.0)
        crack = Detection(class_name="longitudinal_crack", confidence=0.61, box_xyxy=(100.0, 400.0, 300.0, 460.0))
        records.append(FrameRecord(
            record_id=FrameRecord.make_id(device_id, survey_id, "front", sequence), device_id=device_id,
            survey_id=survey_id, camera_id="front", sequence=sequence, time_utc=when, fix=fix,
            image_width=1280, image_height=720, detections=(crack,), model_id="rdd", model_version="1",
            anonymizer="centerface@1+plates@1", image_file=f"front_{sequence:06d}.jpg" if evidence else None))
    return records


def count_bins(count: int, *, device_id: str = "pole-1") -> list[CountBin]:
    """``count`` consecutive 15-minute car bins."""
    starts = [START + timedelta(minutes=15 * i) for i in range(count)]
    return [CountBin(record_id=CountBin.make_id(device_id, "cam", "l1", "in", "car", s), device_id=device_id,
                     camera_id="cam", line_id="l1", direction="in", class_name="car", bin_start_utc=s, count=i)
            for i, s in enumerate(starts)]


def jpeg_bytes(size: int = 8_000, seed: int = 0) -> bytes:
    """A real JPEG of about ``size`` bytes (noise compresses badly, so size is predictable)."""
    side = max(16, int((2.0 * size) ** 0.5))  # ~1 byte per noise pixel at quality 90
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side // 2, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def run_sync_child(outbox: Path, server_url: str, token: str, first: int, count: int,
                   kill_after_s: float | None, timeout_s: float = 120.0) -> list[str]:
    """Run ``sync_child.py`` (write ``count`` records + evidence, sync them); kill -9 it
    ``kill_after_s`` after its first acknowledged id, or let it finish when None. Returns the
    ids it printed: only whole lines count, a half-printed id was never acknowledged."""
    command = [sys.executable, str(Path(__file__).resolve().parent / "sync_child.py"), "--outbox", str(outbox),
               "--server", server_url, "--first", str(first), "--count", str(count), "--evidence-every", "10", "--sync"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "VOIRIE_SYNC_TOKEN": token})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    if kill_after_s is None:
        child.wait(timeout=timeout_s)
    else:
        deadline = time.monotonic() + 60
        while not lines and time.monotonic() < deadline:  # it is writing: now pick the moment
            time.sleep(0.02)
        time.sleep(kill_after_s)
        child.kill()
        child.wait(timeout=30)
    reader.join(timeout=10)
    return [line.strip() for line in lines if line.endswith("\n")]
