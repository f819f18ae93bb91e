"""Camera sources through OpenCV: a video file, a V4L2 device, an RTSP stream.

* ``VideoFileSource`` replays a file as fast as the consumer reads it, never dropping.
  It can ``grab()`` a frame (advance, no decode) and ``retrieve()`` it only when needed,
  which is most of the survey's speed: ~1 frame in 10 is used at 4 m spacing.
* ``LiveSource`` (device index or URL) reads on a thread into a bounded queue that drops
  the *oldest* frame when full and counts it, so a slow anonymizer never stalls capture.

Every frame gets a monotonic time, a UTC time, a sequence number and the camera id.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2

from voirie.records import Frame

logger = logging.getLogger(__name__)


class CameraError(ValueError):
    """A camera or video could not be opened or read: names the source."""


@dataclass(frozen=True)
class FrameStamp:
    """A grabbed but not yet decoded frame: when it was taken and its number."""

    sequence: int
    monotonic_s: float
    time_utc: datetime


class VideoFileSource:
    """Frames of a video file; UTC time = ``start_utc`` + the frame's position in the file.

    ``decoder_threads``: FFmpeg's decoding threads, 0 = its default (one per core). A reader
    that decodes on a thread of its own beside other work does best with 1 (less CPU a frame).
    """

    def __init__(self, path: str | Path, start_utc: datetime, camera_id: str = "cam0", *,
                 decoder_threads: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CameraError(f"video file {self.path} does not exist or is not a file")
        if start_utc.tzinfo is None:
            raise ValueError("start_utc must be timezone-aware (UTC)")
        if not 0 <= decoder_threads <= 64:
            raise ValueError(f"decoder_threads must be within [0, 64], got {decoder_threads}")
        self.start_utc, self.camera_id = start_utc.astimezone(timezone.utc), camera_id
        threads = [cv2.CAP_PROP_N_THREADS, decoder_threads] if decoder_threads else []
        self._capture = cv2.VideoCapture(str(self.path), cv2.CAP_ANY, threads)
        fps = self._capture.get(cv2.CAP_PROP_FPS) if self._capture.isOpened() else 0.0
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)) if self._capture.isOpened() else 0
        if not self._capture.isOpened() or not fps or fps <= 0 or width <= 0:
            self._capture.release()
            raise CameraError(f"video file {self.path} cannot be decoded (corrupt or not a video OpenCV can read)")
        self.fps = float(fps)
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.read = 0
        self._next = 0

    def grab(self) -> FrameStamp | None:
        """Advance one frame without decoding it; None at the end of the file."""
        if not self._capture.grab():
            if self._next == 0:
                raise CameraError(f"video file {self.path} has no readable frame (corrupt?)")
            return None
        offset = self._next / self.fps
        stamp = FrameStamp(self._next, offset, self.start_utc + timedelta(seconds=offset))
        self._next += 1
        self.read += 1
        return stamp

    def retrieve(self, stamp: FrameStamp) -> Frame | None:
        """Decode the frame just grabbed; None (logged) when that one frame is damaged."""
        ok, pixels = self._capture.retrieve()
        if not ok or pixels is None:
            logger.warning("%s: frame %d could not be decoded; skipped", self.path, stamp.sequence)
            return None
        return Frame(pixels=pixels, monotonic_s=stamp.monotonic_s, time_utc=stamp.time_utc,
                     camera_id=self.camera_id, sequence=stamp.sequence)

    def frames(self) -> Iterator[Frame]:
        """Every frame, decoded, in order."""
        while (stamp := self.grab()) is not None:
            frame = self.retrieve(stamp)
            if frame is not None:
                yield frame

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveSource:
    """A V4L2 device (``int`` index) or a stream URL (RTSP/HTTP) read on its own thread.

    ``queue_size`` frames are buffered; when the consumer falls behind, the oldest frame
    is dropped (``dropped`` counts them): the newest picture is the useful one.
    """

    def __init__(self, source: int | str, camera_id: str = "cam0", queue_size: int = 8, open_timeout_s: float = 10.0) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.source, self.camera_id = source, camera_id
        if isinstance(source, int):
            self._capture = cv2.VideoCapture(source, cv2.CAP_V4L2)
        else:  # a dead RTSP server must not hang the survey start
            self._capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG,
                                             [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000)])
        if not self._capture.isOpened():
            raise CameraError(f"camera {source!r} could not be opened")
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self.read = self.dropped = self.failed_reads = 0
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sequence = 0
        while not self._stop.is_set():
            ok, pixels = self._capture.read()
            if not ok or pixels is None:
                self.failed_reads += 1
                if self.failed_reads > 50:  # the stream is gone, not hiccuping
                    logger.error("camera %r: no frame in 50 reads; stopping", self.source)
                    break
                time.sleep(0.02)
                continue
            self.failed_reads = 0
            frame = Frame(pixels=pixels, monotonic_s=time.monotonic(), time_utc=datetime.now(timezone.utc),
                          camera_id=self.camera_id, sequence=sequence)
            sequence += 1
            self.read += 1
            self._put(frame)
        self._stop.set()

    def _put(self, frame: Frame) -> None:
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # drop the oldest, never block the camera
                    self.dropped += 1
                except queue.Empty:
                    pass

    def frames(self, timeout_s: float = 5.0) -> Iterator[Frame]:
        """Frames as they come, until ``close()`` or the stream ends."""
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                yield self._queue.get(timeout=timeout_s)
            except queue.Empty:
                if self._stop.is_set():
                    return
                logger.warning("camera %r: no frame for %.0f s", self.source, timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._capture.release()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_camera(source: str | int, camera_id: str = "cam0", **options) -> LiveSource:
    """A live source from a CLI value: digits are a V4L2 index, anything else a URL/device path."""
    if isinstance(source, str) and source.isdigit():
        source = int(source)
    return LiveSource(source, camera_id=camera_id, **options)
