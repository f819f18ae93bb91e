"""Face and plate detectors run at once on two threads: same boxes, and still fail-closed."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
import pytest

from voirie.anonymize import AnonymizationError, Anonymizer, AnonymizerOptions, BlurMasker
from voirie.anonymize.anonymizer import horizon_for
from voirie.anonymize.detectors import CLASS_NAMES
from voirie.anonymize.stage import StageCounts, anonymize_frames
from voirie.lab.synth.anonymize import render_plate
from voirie.records import Detections, Frame


def _frame(pixels: np.ndarray) -> Frame:
    return Frame(pixels=pixels, monotonic_s=0.0, time_utc=datetime.now(timezone.utc), camera_id="cam", sequence=0)


class _Box:
    """Returns one fixed box after ``delay_s``; records the thread it ran on."""

    model_id = "box@test"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s, self.threads = delay_s, []

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay_s)
        return Detections(xyxy=np.array([[10, 10, 30, 30]], np.float32), confidence=np.ones(1, np.float32),
                          class_id=np.zeros(1, np.int64), class_names=CLASS_NAMES)


class _Raising:
    model_id = "raising@test"

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections:
        raise RuntimeError("simulated detector crash")


def test_detectors_run_on_worker_threads_at_once() -> None:
    first, second = _Box(0.3), _Box(0.3)
    anonymizer = Anonymizer([first, second], BlurMasker())
    started = time.perf_counter()
    found = anonymizer.detect(np.zeros((64, 64, 3), np.uint8))
    elapsed = time.perf_counter() - started
    assert len(found) == 2
    assert first.threads[0] != second.threads[0] != threading.get_ident()
    assert elapsed < 0.55  # one after the other would take 0.6 s


def test_one_failing_detector_drops_the_frame_unmasked() -> None:
    pixels = np.full((64, 64, 3), 200, np.uint8)
    pixels[20:40, 20:40] = 0
    before = pixels.copy()
    counts = StageCounts()
    out = list(anonymize_frames([_frame(pixels)], Anonymizer([_Box(0.05), _Raising()], BlurMasker()), counts))
    assert out == [] and (counts.dropped, counts.anonymized) == (1, 0)
    assert "raising@test failed" in next(iter(counts.reasons))
    assert np.array_equal(pixels, before)  # nothing was masked half-way and passed on


def test_a_stuck_detector_times_out_the_frame() -> None:
    anonymizer = Anonymizer([_Box(0.0), _Box(1.0)], BlurMasker(), AnonymizerOptions(timeout_s=0.2))
    started = time.perf_counter()
    with pytest.raises(AnonymizationError, match="limit"):
        anonymizer(_frame(np.zeros((64, 64, 3), np.uint8)))
    assert time.perf_counter() - started < 0.8  # the frame is given up at the limit, not when the detector returns


def test_concurrent_and_sequential_find_the_same_boxes(anonymizer: Anonymizer) -> None:
    image = np.full((720, 1280, 3), 95, np.uint8)
    plate = render_plate(np.random.default_rng(3), 160)
    image[420 : 420 + plate.shape[0], 600:760] = plate
    # The same horizon source (estimated, so far the whole frame): the same windows, one after the other.
    one_thread = replace(anonymizer.options, workers=1)
    sequential = Anonymizer(anonymizer.detectors, anonymizer.masker, one_thread, horizon_for(one_thread))
    assert anonymizer.options.workers == 2
    together, alone = anonymizer.detect(image), sequential.detect(image)
    assert len(together) >= 1
    assert np.array_equal(together.xyxy, alone.xyxy) and np.array_equal(together.class_id, alone.class_id)
    sequential.close()
    with pytest.raises(AnonymizationError, match="failed"):
        Anonymizer([_Box(), _Raising()], BlurMasker(), AnonymizerOptions(workers=1)).detect(image)
