"""The live survey: a camera and gpsd, each on its own thread, until Ctrl-C.

gpsd reads block, so fixes are followed on a thread that turns them into marks; the main
loop takes camera frames (from ``LiveSource``'s bounded, drop-oldest queue), hands the
new marks to the matcher and processes each (mark, frame) it resolves.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

from voirie.capture.camera import open_camera
from voirie.capture.gnss import FixFilter, GpsdSource
from voirie.capture.trigger import DistanceTrigger, FrameMatcher, TriggerMark
from voirie.edge.survey import (Anonymizes, DetectsDamage, SurveyConfig, SurveyPipeline, SurveyResult,
                                SurveyStats, default_survey_id)
from voirie.edge.writer import SurveyWriter
from voirie.records import Frame

logger = logging.getLogger(__name__)


class GnssFollower:
    """Reads gpsd on a daemon thread; ``take()`` returns the marks found since the last call."""

    def __init__(self, host: str, port: int, config: SurveyConfig, stats: SurveyStats) -> None:
        self.fix_filter, self.trigger = FixFilter(config.max_speed_mps), DistanceTrigger(config.spacing_m)
        self.source, self.stats = GpsdSource(host, port), stats
        self._marks: list[TriggerMark] = []
        self.error: ValueError | None = None
        self._lock, self._stop = threading.Lock(), threading.Event()
        threading.Thread(target=self._run, name="gnss", daemon=True).start()

    def _run(self) -> None:
        try:
            self._follow()
        except ValueError as error:  # gpsd unreachable or gone: the main loop reports it
            logger.error("GNSS stopped: %s", error)
            self.error = error

    def _follow(self) -> None:
        for fix in self.source.fixes():
            if self._stop.is_set():
                return
            self.stats.fixes += 1
            if self.fix_filter.accept(fix):
                marks = self.trigger.update(fix)
                with self._lock:
                    self._marks.extend(marks)

    def take(self) -> list[TriggerMark]:
        with self._lock:
            marks, self._marks = self._marks, []
        self.stats.marks += len(marks)
        return marks

    def stop(self) -> None:
        self._stop.set()
        self.stats.fixes_rejected.update(self.fix_filter.rejected)


def survey_live(camera: int | str, out_dir: str | Path, anonymizer: Anonymizes, detector: DetectsDamage | None = None,
                config: SurveyConfig | None = None, *, gpsd_host: str = "127.0.0.1", gpsd_port: int = 2947,
                duration_s: float | None = None) -> SurveyResult:
    """Survey live from a camera and gpsd until Ctrl-C (or ``duration_s``).

    Frame times are the system clock at capture: keep it synchronised (chrony fed by gpsd).
    """
    config = config or SurveyConfig()
    started = time.perf_counter()
    survey_id = config.survey_id or default_survey_id(datetime.now().astimezone())
    stats = SurveyStats()
    gnss = GnssFollower(gpsd_host, gpsd_port, config, stats)
    # Frames wait here until the fix after their mark arrives: keep ~1.5 s, not more (pixels).
    matcher: FrameMatcher[Frame] = FrameMatcher(config.max_offset_s, keep_s=1.5)
    with SurveyWriter(out_dir) as writer, open_camera(camera, config.camera_id) as source:
        pipeline = SurveyPipeline(writer, anonymizer, detector, config, survey_id)
        pipeline.stats = stats
        try:
            for frame in source.frames():
                stats.frames_read += 1
                if gnss.error is not None:
                    raise gnss.error  # no positions: photos already written are kept
                matcher.add_marks(gnss.take())
                for mark, chosen in matcher.offer(frame.time_utc, frame):
                    pipeline.process(mark, chosen)
                if duration_s is not None and time.perf_counter() - started > duration_s:
                    break
        except KeyboardInterrupt:
            logger.info("survey stopped by the operator")
        finally:
            gnss.stop()
            matcher.add_marks(gnss.take())
            for mark, chosen in matcher.flush():
                pipeline.process(mark, chosen)
            stats.frames_decoded, stats.camera_dropped = stats.frames_read, source.dropped
    stats.marks_unmatched = sum(matcher.unmatched.values())
    stats.elapsed_s = time.perf_counter() - started
    return SurveyResult(Path(out_dir), survey_id, config.device_id, stats)
