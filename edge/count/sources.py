"""Frame sources for counting and where the bins go.

``open_source`` yields ``voirie.records.Frame`` from a video file, a V4L2 index or an
RTSP URL via the capture stage (``voirie.capture.camera``). A video file's frames are
timed from its frame rate (``start_utc`` + position), a live camera's by the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2

from voirie.capture.camera import VideoFileSource, open_camera
from voirie.records import CountBin, Frame

logger = logging.getLogger(__name__)


class SourceError(OSError):
    """A camera or video could not be opened or stopped delivering frames."""


@dataclass(frozen=True)
class SourceSpec:
    """Where frames come from: ``target`` is a path, a device index or a URL."""

    target: str
    camera_id: str = "cam-1"
    start_utc: datetime | None = None

    @property
    def live(self) -> bool:
        """A camera (reconnect when it drops), not a file (stop at its end)."""
        return self.target.isdigit() or "://" in self.target

    def opener(self) -> cv2.VideoCapture:
        """An opened ``cv2.VideoCapture``; ``SourceError`` naming the target when it fails."""
        if not self.live and not Path(self.target).is_file():
            raise SourceError(f"video file not found: {self.target}")
        capture = cv2.VideoCapture(int(self.target) if self.target.isdigit() else self.target)
        if not capture.isOpened():
            raise SourceError(f"cannot open source {self.target!r}")
        return capture


def frame_rate_of(spec: SourceSpec, default: float = 25.0) -> float:
    """The source's frame rate as it declares it, or ``default``."""
    try:
        capture = spec.opener()
    except SourceError:
        return default
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return float(fps) if 1.0 <= fps <= 240.0 else default


def open_source(spec: SourceSpec) -> Iterator[Frame]:
    """Frames of one source until it ends, through the capture stage's camera sources.

    A live source reads on its own thread into a bounded queue (oldest frame dropped when
    the counter falls behind); it ends when the stream is gone, and ``run_counter``
    reopens it with backoff. A file is timed from its frame rate from ``start_utc``.
    """
    if spec.live:
        with open_camera(spec.target, camera_id=spec.camera_id) as camera:
            yield from camera.frames()
        return
    if not Path(spec.target).is_file():
        raise SourceError(f"video file not found: {spec.target}")
    with VideoFileSource(spec.target, spec.start_utc or datetime.now(timezone.utc), spec.camera_id) as video:
        yield from video.frames()


class JsonlSink:
    """Appends CountBins, one JSON line each, to ``count_bins-YYYY-MM-DD.jsonl`` in ``out_dir``."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []
        self.records = 0

    def __call__(self, bins: list[CountBin]) -> None:
        """Write ``bins`` (flushed at once: a crash must not lose a closed bin)."""
        for record in bins:
            path = self.out_dir / f"count_bins-{record.bin_start_utc:%Y-%m-%d}.jsonl"
            with path.open("a", encoding="utf-8") as handle:
                handle.write(record.to_json() + "\n")
            if path not in self.written:
                self.written.append(path)
            self.records += 1


def read_bins(path: Path) -> list[CountBin]:
    """CountBins from a JSONL file (as written by ``JsonlSink``)."""
    return [CountBin.from_json(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
