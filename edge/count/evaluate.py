"""Compare the counter with hand counts: ``voirie count eval --video FILE --truth FILE.csv``.

The truth CSV has a header ``class,direction,count`` and one row per class and direction
(directions as named in the config's lines). Errors are signed and relative, per class
summed over directions: ``(counted - truth) / truth``; a class with no truth is reported
with its false counts instead.
"""

from __future__ import annotations

import csv
import logging
import time
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
from rich.progress import Progress

from voirie.edge.count.config import CLASSES, CountConfig
from voirie.edge.count.detectors import CountDetector
from voirie.edge.count.pipeline import Counter
from voirie.edge.count.sources import SourceSpec, frame_rate_of, open_source

logger = logging.getLogger(__name__)
EVAL_START = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)  # a Monday morning: bins are realistic


class TruthError(ValueError):
    """The hand-count CSV is malformed: names the file, the line and what was wrong."""


def read_truth(path: Path) -> Tally:
    """``{(class, direction): count}`` from a ``class,direction,count`` CSV."""
    path = Path(path)
    if not path.is_file():
        raise TruthError(f"truth file not found: {path}")
    truth: Tally = Tally()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or set(reader.fieldnames) != {"class", "direction", "count"}:
            raise TruthError(f"{path}: header must be class,direction,count; got {reader.fieldnames}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if row["class"] not in CLASSES:
                raise TruthError(f"{where}: unknown class {row['class']!r}; expected one of {CLASSES}")
            try:
                count = int(row["count"])
            except (TypeError, ValueError):
                raise TruthError(f"{where}: count must be an integer, got {row['count']!r}") from None
            if count < 0 or not row["direction"]:
                raise TruthError(f"{where}: count must be >= 0 and direction non-empty, got {row}")
            truth[(row["class"], row["direction"])] += count
    return truth


@dataclass(frozen=True)
class EvalResult:
    """Counts, errors and speed of one evaluation run."""

    counted: Tally
    truth: Tally
    per_class_error: dict[str, float]
    false_counts: dict[str, int]
    fps: float
    frames: int


def per_class_error(counted: Tally, truth: Tally) -> tuple[dict[str, float], dict[str, int]]:
    """Signed relative error per class with truth > 0, and counts of classes with no truth."""
    errors, false_counts = {}, {}
    for name in CLASSES:
        c = sum(n for (k, _), n in counted.items() if k == name)
        t = sum(n for (k, _), n in truth.items() if k == name)
        if t > 0:
            errors[name] = round((c - t) / t, 4)
        elif c > 0:
            false_counts[name] = c
    return errors, false_counts


def count_video(video: Path, config: CountConfig, detector: CountDetector | None = None,
                show_progress: bool = True) -> tuple[Tally, float, int]:
    """Count a whole video file: ``({(class, direction): n}, frames per second, frames)``."""
    spec = SourceSpec(str(video), config.camera_id, EVAL_START)
    counter = Counter(config, detector=detector, frame_rate=frame_rate_of(spec))
    capture = spec.opener()
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # for the progress bar only
    capture.release()
    started, frames = time.perf_counter(), 0
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task(f"counting {Path(video).name}", total=total or None)
        for frame in open_source(spec):
            counter.process(frame)
            frames += 1
            progress.advance(task)
    counter.finish()  # crossings still waiting for their track's vote
    elapsed = time.perf_counter() - started
    counted: Tally = Tally()
    for directions in counter.totals().values():
        for direction, per_class in directions.items():
            for name, n in per_class.items():
                counted[(name, direction)] += n
    return counted, frames / max(elapsed, 1e-9), frames


def evaluate(video: Path, truth_csv: Path, config: CountConfig, detector: CountDetector | None = None,
             show_progress: bool = True) -> EvalResult:
    """Count ``video`` and compare with the hand counts in ``truth_csv``."""
    truth = read_truth(truth_csv)
    counted, fps, frames = count_video(video, config, detector, show_progress)
    errors, false_counts = per_class_error(counted, truth)
    return EvalResult(counted, truth, errors, false_counts, round(fps, 1), frames)
