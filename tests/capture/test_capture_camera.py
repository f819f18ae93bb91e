"""Camera sources: file replay without drops, live reading that drops the oldest, clear errors."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.capture.camera import CameraError, LiveSource, VideoFileSource, open_camera

START = datetime(2025, 5, 14, 8, 30, tzinfo=timezone.utc)


def _video(path: Path, frames: int = 60, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 96))
    for i in range(frames):
        image = np.full((96, 160, 3), 40, np.uint8)
        cv2.putText(image, str(i), (10, 70), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        writer.write(image)
    writer.release()
    return path


def test_file_replay_reads_every_frame_with_times(tmp_path: Path) -> None:
    with VideoFileSource(_video(tmp_path / "v.mp4"), START, camera_id="front") as source:
        frames = list(source.frames())
    assert [f.sequence for f in frames] == list(range(60))
    assert frames[25].time_utc == START + timedelta(seconds=1)
    assert frames[0].camera_id == "front" and frames[0].pixels.shape == (96, 160, 3)


def test_grab_without_retrieve_still_counts_and_times(tmp_path: Path) -> None:
    with VideoFileSource(_video(tmp_path / "v.mp4"), START) as source:
        stamps = [source.grab() for _ in range(10)]
        frame = source.retrieve(stamps[-1])
    assert frame.sequence == 9 and frame.monotonic_s == pytest.approx(9 / 25)
    assert source.read == 10


@pytest.mark.parametrize(("threads", "error"), [(1, None), (2, None), (-1, ValueError), (65, ValueError)])
def test_decoder_threads_give_the_same_frames(tmp_path: Path, threads: int, error: type | None) -> None:
    video = _video(tmp_path / "v.mp4")
    if error is not None:
        with pytest.raises(error, match="decoder_threads"):
            VideoFileSource(video, START, decoder_threads=threads)
        return
    with VideoFileSource(video, START) as default, VideoFileSource(video, START, decoder_threads=threads) as chosen:
        pairs = list(zip(default.frames(), chosen.frames(), strict=True))
    assert len(pairs) == 60 and all(np.array_equal(a.pixels, b.pixels) for a, b in pairs)


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 500, b"RIFF\x00\x00\x00\x00AVI " + bytes(4000)])
def test_corrupt_video_names_the_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "broken_drive.mp4"
    bad.write_bytes(content)
    with pytest.raises(CameraError, match="broken_drive.mp4"):
        source = VideoFileSource(bad, START)
        source.grab()


def test_missing_video_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="nowhere.mp4"):
        VideoFileSource(tmp_path / "nowhere.mp4", START)


def test_live_source_drops_oldest_when_consumer_is_slow(tmp_path: Path) -> None:
    # FFmpeg opens a file path like a stream URL: the real reader thread and queue run.
    with LiveSource(str(_video(tmp_path / "v.mp4", frames=120)), queue_size=4) as source:
        time.sleep(1.5)  # the consumer is busy; the reader must not wait for it
        got = list(source.frames(timeout_s=1.0))
    assert source.read == 120
    assert source.dropped > 0 and len(got) + source.dropped == 120
    sequences = [f.sequence for f in got]
    assert sequences == sorted(sequences) and sequences[-1] == 119  # newest kept, order kept


def test_unopenable_camera_is_a_clear_error() -> None:
    with pytest.raises(CameraError, match="could not be opened"):
        open_camera("rtsp://127.0.0.1:9/none", open_timeout_s=1.0)
