"""Survey mode of the agent: the survey loop of ``edge/survey.py`` feeding the outbox.

The same ``SurveyPipeline`` (quality gate → anonymizer, fail-closed → damage model →
``FrameRecord``) runs, but its writer is an ``OutboxWriter``: the blurred JPEG (with its
EXIF GPS tags) and the record are committed to the outbox in one transaction instead of
being written as files. Record ids stay deterministic, which is what makes a restart safe:

* replay (video + track file): a frame's sequence is its index in the file and the
  survey id comes from the track, so a restarted replay produces the same ids and the
  outbox ignores what it already holds (``put`` is idempotent);
* live (camera + gpsd): the camera's own counter restarts at 0 with every start, so each
  frame gets its sequence from ``AgentState.next_sequence()`` (reserved on disk in
  blocks): the survey continues after a power cut with new, never-colliding ids.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import cv2
from PIL import ExifTags, Image

from voirie.capture.camera import VideoFileSource, open_camera
from voirie.capture.gnss import read_track
from voirie.capture.trigger import FrameMatcher
from voirie.edge.agent_config import AgentConfig
from voirie.edge.agent_health import AgentStatus
from voirie.edge.agent_state import AgentState
from voirie.edge.survey import SurveyConfig, SurveyPipeline, SurveyStats, default_survey_id, track_marks
from voirie.edge.survey_calibration import load_optional
from voirie.edge.survey_live import GnssFollower
from voirie.edge.writer import IMAGES_DIR, gps_ifd
from voirie.records import AnonymizedFrame, Frame, FrameRecord, GeoFix

logger = logging.getLogger(__name__)


def fix_summary(fix: GeoFix) -> dict:
    """The last fix as the status file shows it."""
    return {"time_utc": fix.time_utc.isoformat(), "lat": round(fix.lat, 7), "lon": round(fix.lon, 7),
            "mode": int(fix.mode), "eph_m": fix.eph_m}


def evidence_jpeg(anonymized: AnonymizedFrame, record: FrameRecord, quality: int) -> bytes:
    """The blurred frame as JPEG bytes with the record's position in EXIF GPS tags."""
    if not isinstance(anonymized, AnonymizedFrame):  # raw pixels never leave the pipeline
        raise TypeError(f"only an AnonymizedFrame may be queued, got {type(anonymized).__name__}")
    exif = Image.Exif()
    exif[ExifTags.Base.DateTime] = record.time_utc.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.Software] = f"voirie ({anonymized.anonymizer})"
    exif[ExifTags.Base.GPSInfo] = gps_ifd(record.fix)
    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(anonymized.pixels, cv2.COLOR_BGR2RGB)).save(
        buffer, "JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()


class OutboxWriter:
    """The ``SurveyWriter`` interface, committing to the outbox (``put``) instead of files."""

    def __init__(self, put: Callable, status: AgentStatus, *, evidence: bool = True, jpeg_quality: int = 85) -> None:
        self.put, self.status = put, status
        self.evidence, self.jpeg_quality = evidence, jpeg_quality
        self.written = 0

    def write(self, anonymized: AnonymizedFrame, record: FrameRecord) -> FrameRecord:
        """Queue the record (and its evidence JPEG); returns the record as queued."""
        jpeg = None
        if self.evidence:
            record = record.model_copy(update={"image_file": f"{IMAGES_DIR}/{record.camera_id}_{record.sequence:06d}.jpg"})
            jpeg = evidence_jpeg(anonymized, record, self.jpeg_quality)
        self.put(record, jpeg)
        self.written += 1
        # Which horizon the anonymizer's bands followed (calibrated / estimated / whole_frame):
        # the status file and the heartbeat say it, so an uncalibrated box is visible.
        self.status.update(last_fix=fix_summary(record.fix), anonymizer_horizon=anonymized.horizon)
        return record


def survey_config(config: AgentConfig, survey_id: str | None = None) -> SurveyConfig:
    """The survey loop's settings from the agent config."""
    s = config.survey
    return SurveyConfig(device_id=config.device_id, survey_id=survey_id, camera_id=s.camera_id, spacing_m=s.spacing_m,
                        calibration=load_optional(s.calibration))


def run_replay(config: AgentConfig, pipeline_parts: tuple, status: AgentStatus, stop: threading.Event) -> SurveyStats:
    """Survey a recorded drive until its end or ``stop``; deterministic ids (see module doc)."""
    writer, anonymizer, detector, switch = pipeline_parts
    s, stats = config.survey, SurveyStats()
    fixes = list(read_track(s.track))
    start = s.video_start_utc or fixes[0].time_utc
    survey = survey_config(config, s.survey_id or default_survey_id(start))
    marks = track_marks(fixes, survey, stats)
    matcher: FrameMatcher[Frame] = FrameMatcher(survey.max_offset_s, keep_s=max(1.0, survey.max_offset_s))
    matcher.add_marks(marks)
    pipeline = SurveyPipeline(writer, anonymizer, detector, survey, survey.survey_id)
    pipeline.stats = stats
    with VideoFileSource(s.video, start, s.camera_id) as source:
        window = min(survey.max_offset_s, 0.5 / source.fps + 1e-3)
        offsets = [(m.time_utc - start).total_seconds() for m in marks]
        while not stop.is_set() and (stamp := source.grab()) is not None:
            stats.frames_read += 1
            status.add(frames_processed=1)
            if not any(abs(o - stamp.monotonic_s) <= window for o in _around(offsets, stamp.monotonic_s)):
                continue
            switch(pipeline)
            frame = source.retrieve(stamp)
            for mark, chosen in matcher.offer(frame.time_utc, frame) if frame is not None else ():
                pipeline.process(mark, chosen)
        if not stop.is_set():  # the end of the file, not an interruption: resolve the last marks
            for mark, chosen in matcher.flush():
                pipeline.process(mark, chosen)
    return stats


def _around(offsets: list[float], t: float) -> list[float]:
    from bisect import bisect_left

    i = bisect_left(offsets, t)
    return offsets[max(0, i - 1):i + 1]


class _FollowerWithFix(GnssFollower):
    """``GnssFollower`` that also reports every fix to the status (the last fix, even at rest)."""

    status: AgentStatus | None = None

    def _follow(self) -> None:
        for fix in self.source.fixes():
            if self._stop.is_set():
                return
            self.stats.fixes += 1
            if self.status is not None:
                # GPS time minus system time: frames are timed by the system clock, marks by
                # GPS, so more than ~1 s here means photos are missed (chrony not running?).
                offset = (fix.time_utc - datetime.now(timezone.utc)).total_seconds()
                self.status.update(last_fix=fix_summary(fix), gps_clock_offset_s=round(offset, 2))
            if self.fix_filter.accept(fix):
                marks = self.trigger.update(fix)
                with self._lock:
                    self._marks.extend(marks)


def run_live(config: AgentConfig, pipeline_parts: tuple, status: AgentStatus, state: AgentState,
             stop: threading.Event) -> SurveyStats:
    """Survey from the camera and gpsd until ``stop``; sequences from the resume state."""
    writer, anonymizer, detector, switch = pipeline_parts
    s, stats = config.survey, SurveyStats()
    survey = survey_config(config, state.survey_id(s.survey_id, datetime.now(timezone.utc)))
    host, port = s.gpsd.rsplit(":", 1)
    _FollowerWithFix.status = status
    gnss = _FollowerWithFix(host, int(port), survey, stats)
    matcher: FrameMatcher[Frame] = FrameMatcher(survey.max_offset_s, keep_s=1.5)
    pipeline = SurveyPipeline(writer, anonymizer, detector, survey, survey.survey_id)
    pipeline.stats = stats
    logger.info("live survey %s (camera %s, gpsd %s)", survey.survey_id, s.camera, s.gpsd)
    with open_camera(s.camera, s.camera_id) as source:
        try:
            for frame in source.frames():
                stats.frames_read += 1
                status.add(frames_processed=1)
                status.update(frames_dropped=source.dropped)
                if gnss.error is not None:
                    raise gnss.error
                matcher.add_marks(gnss.take())
                switch(pipeline)
                frame = dataclasses.replace(frame, sequence=state.next_sequence())
                for mark, chosen in matcher.offer(frame.time_utc, frame):
                    pipeline.process(mark, chosen)
                if stop.is_set():
                    break
        finally:
            gnss.stop()
    return stats
