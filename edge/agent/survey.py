"""Survey mode of the agent: the survey engine (``edge/survey/engine.py``) feeding the outbox.

The same loop and ``SurveyPipeline`` as ``voirie survey`` (quality gate → anonymizer,
fail-closed → damage model → ``FrameRecord``) run; only the sink and the hooks differ: an
``OutboxPhotoSink`` commits the blurred JPEG (with its EXIF GPS tags) and the record to the
outbox in one transaction, and the hooks stop on the agent's ``stop`` event, report to the
status file and swap in rolled-out models. Record ids stay deterministic, which is what
makes a restart safe:

* replay (video + track file): a frame's sequence is its index in the file and the
  survey id comes from the track, so a restarted replay produces the same ids and the
  outbox ignores what it already holds (``put`` is idempotent);
* live (camera + gpsd): the camera's own counter restarts at 0 with every start, so each
  frame gets its sequence from ``AgentState.next_sequence()`` (reserved on disk in
  blocks): the survey continues after a power cut with new, never-colliding ids.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from voirie.edge.agent.config import AgentConfig
from voirie.edge.agent.health import AgentStatus
from voirie.edge.agent.state import AgentState
from voirie.edge.survey.calibration import load_optional
from voirie.edge.survey.engine import SurveyHooks, run_survey
from voirie.edge.survey.feeds import LiveFeed, ReplayFeed
from voirie.edge.survey.pipeline import SurveyConfig, SurveyPipeline, SurveyStats, default_survey_id
from voirie.edge.survey.writer import geotagged_jpeg, image_file
from voirie.records import AnonymizedFrame, FrameRecord, GeoFix

logger = logging.getLogger(__name__)


def fix_summary(fix: GeoFix) -> dict:
    """The last fix as the status file shows it."""
    return {"time_utc": fix.time_utc.isoformat(), "lat": round(fix.lat, 7), "lon": round(fix.lon, 7),
            "mode": int(fix.mode), "eph_m": fix.eph_m}


class OutboxPhotoSink:
    """The survey pipeline's sink in the agent: commits each record (and its JPEG) to the outbox."""

    def __init__(self, put: Callable, status: AgentStatus, *, evidence: bool = True, jpeg_quality: int = 85) -> None:
        self.put, self.status = put, status
        self.evidence, self.jpeg_quality = evidence, jpeg_quality
        self.written = 0

    def write(self, anonymized: AnonymizedFrame, record: FrameRecord) -> FrameRecord:
        """Queue the record (and its evidence JPEG); returns the record as queued."""
        jpeg = None
        if self.evidence:
            record = record.model_copy(update={"image_file": image_file(record)})
            jpeg = geotagged_jpeg(anonymized, record, self.jpeg_quality)
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


def fix_reporter(status: AgentStatus) -> Callable[[GeoFix], None]:
    """Shows every live fix in the status (the last fix, even at rest) and the GPS clock offset."""

    def report(fix: GeoFix) -> None:
        # GPS time minus system time: frames are timed by the system clock, marks by GPS,
        # so more than ~1 s here means photos are missed (chrony not running?).
        offset = (fix.time_utc - datetime.now(timezone.utc)).total_seconds()
        status.update(last_fix=fix_summary(fix), gps_clock_offset_s=round(offset, 2))

    return report


# The status file's survey counts are refreshed every this many camera frames (~4 s at 25 f/s).
SURVEY_STATUS_EVERY = 100


def survey_counts(stats: SurveyStats) -> dict:
    """The survey's counts as the status file shows them, during the run and at its end."""
    return {"marks": stats.marks, "photos": stats.written, "anonymization_dropped": stats.anonymization_dropped,
            "quality_rejected": sum(stats.quality_rejected.values()), "detector_failed": stats.detector_failed,
            "anonymizer_horizon": dict(stats.horizon), "km": round(stats.distance_m / 1000, 3),
            "photos_per_km": round(stats.photos_per_km, 1), "cpu_s_per_km": round(stats.cpu_s_per_km, 1)}


def agent_hooks(status: AgentStatus, stop: threading.Event, switch_model: Callable[[SurveyPipeline], None],
                next_sequence: Callable[[], int] | None = None) -> SurveyHooks:
    """The engine's hooks for the agent: its stop event, its status file, model rollout, sequences."""

    def on_frame(stats: SurveyStats) -> None:
        status.add(frames_processed=1)
        if stats.camera_dropped:
            status.update(frames_dropped=stats.camera_dropped)
        if stats.frames_read % SURVEY_STATUS_EVERY == 0:  # a box sized by photos and CPU s per km, live
            status.update(survey=survey_counts(stats))

    return SurveyHooks(should_stop=stop.is_set, on_frame=on_frame, before_frame=switch_model,
                       next_sequence=next_sequence)


def run_survey_mode(config: AgentConfig, parts: tuple, status: AgentStatus, state: AgentState,
                    stop: threading.Event) -> SurveyStats:
    """Survey the configured source (replay or live) until it ends or ``stop``.

    ``parts`` is (sink, anonymizer, detector, model switch).
    """
    sink, anonymizer, detector, switch_model = parts
    s = config.survey
    if s.live:
        survey = survey_config(config, state.survey_id(s.survey_id, datetime.now(timezone.utc)))
        host, port = s.gpsd.rsplit(":", 1)
        feed = LiveFeed(s.camera, host, int(port), survey, on_fix=fix_reporter(status))
        hooks = agent_hooks(status, stop, switch_model, state.next_sequence)
        logger.info("live survey %s (camera %s, gpsd %s)", survey.survey_id, s.camera, s.gpsd)
    else:
        feed = ReplayFeed(s.video, s.track, survey_config(config), s.video_start_utc)
        survey = survey_config(config, s.survey_id or default_survey_id(feed.start_utc))
        hooks = agent_hooks(status, stop, switch_model)
    with feed:
        pipeline = SurveyPipeline(sink, anonymizer, detector, survey, survey.survey_id)
        return run_survey(feed, pipeline, hooks)
