"""The survey loop, once: ``run_survey(feed, pipeline, hooks)`` for the CLI and the agent, replay and live.

    feed.frames() ──frame──▶ FrameMatcher ◀──marks── feed.take_marks()
                                  │ (mark, frame)
                                  ▼
                   SurveyPipeline.process ──record──▶ its sink (folder or outbox)

What the callers do differently is a hook (``SurveyHooks``), never a copy of the loop:
when to stop, what to report after each frame (a progress bar, the agent's status), a
model switch between frames, and the sequence numbers of live frames. The sink is the
pipeline's writer. ``survey_video`` and ``survey_live`` are the loop writing to a folder
(``voirie survey``, the demo); the agent writes to its outbox (``voirie.edge.agent.survey``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from voirie.capture.trigger import FrameMatcher, TriggerMark
from voirie.edge.survey.feeds import LiveFeed, MarkMaker, ReplayFeed
from voirie.edge.survey.pipeline import (Anonymizes, DetectsDamage, SurveyConfig, SurveyPipeline, SurveyResult,
                                         SurveyStats, default_survey_id)
from voirie.edge.survey.writer import SurveyWriter
from voirie.records import Frame

logger = logging.getLogger(__name__)


class SurveyFeed(Protocol):
    """What ``run_survey`` reads: ``ReplayFeed`` or ``LiveFeed``."""

    marker: MarkMaker
    matcher: FrameMatcher[Frame]
    dropped: int

    def frames(self) -> Iterator[Frame | None]: ...

    def take_marks(self) -> list[TriggerMark]: ...

    def finish(self, ended: bool) -> list[TriggerMark] | None: ...


def _never() -> bool:
    return False


def _ignore(_: object) -> None:
    return None


@dataclass(frozen=True)
class SurveyHooks:
    """How a caller steers the one loop; every hook is optional."""

    # Asked after every frame; True ends the run (the frame in hand is finished first).
    should_stop: Callable[[], bool] = _never
    # After every frame read, decoded or not: progress bar, status file.
    on_frame: Callable[[SurveyStats], None] = _ignore
    # Before a decoded frame is matched: the agent swaps in a rolled-out damage model here.
    before_frame: Callable[[SurveyPipeline], None] = _ignore
    # Live agent: a camera's own counter restarts at 0, so sequences come from its resume state.
    next_sequence: Callable[[], int] | None = None


def run_survey(feed: SurveyFeed, pipeline: SurveyPipeline, hooks: SurveyHooks = SurveyHooks()) -> SurveyStats:
    """Match the feed's frames to its marks and process each pair until the feed ends or a stop.

    At the end the matcher is flushed with the marks the feed still knows (live: gpsd
    caught up with the last frame), so a stop between two marks loses no photo; a stopped
    replay leaves its pending marks to the rerun (same frames, same ids). Photos still on
    the pipeline's finish thread are written before it returns, whatever the end.
    """
    clock, ended = _RunClock(pipeline.stats), False
    try:
        ended = _follow(feed, pipeline, hooks, clock)
    except KeyboardInterrupt:
        logger.info("survey stopped by the operator")
    finally:
        try:
            _finish(feed, pipeline, ended)
        finally:
            pipeline.drain()
        clock.tick()
    return pipeline.stats


class _RunClock:
    """Keeps the run's wall and CPU seconds in its stats, so hooks see CPU s/km while it runs."""

    def __init__(self, stats: SurveyStats) -> None:
        self.stats, self.started, self.cpu_started = stats, time.perf_counter(), time.process_time()

    def tick(self) -> None:
        self.stats.elapsed_s = time.perf_counter() - self.started
        self.stats.cpu_s = time.process_time() - self.cpu_started


def _follow(feed: SurveyFeed, pipeline: SurveyPipeline, hooks: SurveyHooks, clock: _RunClock) -> bool:
    """Process frames; True when the feed ended, False when ``should_stop`` said so."""
    stats = pipeline.stats
    for frame in feed.frames():
        stats.frames_read += 1
        stats.camera_dropped = feed.dropped
        if frame is not None:
            stats.frames_decoded += 1
            _add_marks(feed.take_marks(), feed.matcher, stats)
            hooks.before_frame(pipeline)
            if hooks.next_sequence is not None:
                frame = dataclasses.replace(frame, sequence=hooks.next_sequence())
            for mark, chosen in feed.matcher.offer(frame.time_utc, frame):
                pipeline.process(mark, chosen)
        clock.tick()
        hooks.on_frame(stats)
        if hooks.should_stop():
            return False
    return True


def _finish(feed: SurveyFeed, pipeline: SurveyPipeline, ended: bool) -> None:
    stats = pipeline.stats
    last = feed.finish(ended)
    if last is not None:
        _add_marks(last, feed.matcher, stats)
        for mark, chosen in feed.matcher.flush():
            pipeline.process(mark, chosen)
    stats.fixes = feed.marker.fixes
    stats.fixes_rejected.update(feed.marker.rejected)
    stats.marks_unmatched = sum(feed.matcher.unmatched.values())


def _add_marks(marks: list[TriggerMark], matcher: FrameMatcher, stats: SurveyStats) -> None:
    stats.marks += len(marks)
    matcher.add_marks(marks)


def survey_video(video: str | Path, track: str | Path, out_dir: str | Path, anonymizer: Anonymizes,
                 detector: DetectsDamage | None = None, config: SurveyConfig | None = None, *,
                 video_start_utc: datetime | None = None, progress: bool = True) -> SurveyResult:
    """Survey a recorded drive (a video file and its NMEA/GPX track, same clock) into ``out_dir``.

    The video's first frame is taken at ``video_start_utc`` (default: the track's first fix).
    """
    config = config or SurveyConfig()
    with ReplayFeed(video, track, config, video_start_utc) as feed, SurveyWriter(out_dir) as writer, \
            _progress(progress) as bar:
        survey_id = config.survey_id or default_survey_id(feed.start_utc)
        pipeline = SurveyPipeline(writer, anonymizer, detector, config, survey_id)
        task = bar.add_task("survey", total=feed.frame_count or None, written=0)
        run_survey(feed, pipeline, SurveyHooks(on_frame=lambda s: _show(bar, task, s)))
        bar.update(task, completed=pipeline.stats.frames_read, written=pipeline.stats.written)
    return SurveyResult(Path(out_dir), survey_id, config.device_id, pipeline.stats)


def survey_live(camera: int | str, out_dir: str | Path, anonymizer: Anonymizes, detector: DetectsDamage | None = None,
                config: SurveyConfig | None = None, *, gpsd_host: str = "127.0.0.1", gpsd_port: int = 2947,
                duration_s: float | None = None, should_stop: Callable[[], bool] = _never) -> SurveyResult:
    """Survey live from a camera and gpsd into ``out_dir`` until Ctrl-C, ``duration_s`` or ``should_stop``."""
    config = config or SurveyConfig()
    survey_id = config.survey_id or default_survey_id(datetime.now().astimezone())
    deadline = time.monotonic() + duration_s if duration_s is not None else float("inf")
    with LiveFeed(camera, gpsd_host, gpsd_port, config) as feed, SurveyWriter(out_dir) as writer:
        pipeline = SurveyPipeline(writer, anonymizer, detector, config, survey_id)
        run_survey(feed, pipeline, SurveyHooks(should_stop=lambda: should_stop() or time.monotonic() > deadline))
    return SurveyResult(Path(out_dir), survey_id, config.device_id, pipeline.stats)


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]survey"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[written]} photos"), TimeRemainingColumn(), disable=not enabled)


def _show(bar, task: int, stats: SurveyStats) -> None:
    if stats.frames_read % 10 == 0:  # a redraw per frame would cost more than the frame
        bar.update(task, completed=stats.frames_read, written=stats.written)
