"""The agent's status file shows photos and CPU seconds per km while a survey runs, not only at its end."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from voirie.anonymize import Anonymizer
from voirie.edge.agent.health import AgentStatus
from voirie.edge.agent.survey import SURVEY_STATUS_EVERY, agent_hooks
from voirie.edge.survey import SurveyConfig, run_survey
from voirie.edge.survey.feeds import ReplayFeed
from voirie.edge.survey.pipeline import SurveyPipeline
from voirie.edge.survey.writer import SurveyWriter
from voirie.lab.sample.drive import make_sample_drive


def test_status_shows_photos_and_cpu_per_km_during_the_run(tmp_path: Path) -> None:
    drive = make_sample_drive()
    status = AgentStatus("survey", "car-status", stall_after_s=60)
    hooks = agent_hooks(status, threading.Event(), lambda pipeline: None)
    seen: list[tuple[int, dict | None]] = []

    def on_frame(stats) -> None:
        hooks.on_frame(stats)
        seen.append((stats.frames_read, status.data.get("survey")))

    config = SurveyConfig(survey_id="status")
    anonymizer = Anonymizer.default()
    with ReplayFeed(drive.video, drive.nmea, config) as feed, SurveyWriter(tmp_path) as writer:
        pipeline = SurveyPipeline(writer, anonymizer, None, config, "status")
        stats = run_survey(feed, pipeline, dataclasses.replace(hooks, on_frame=on_frame))
    anonymizer.close()
    assert all(shown is None for frames, shown in seen if frames < SURVEY_STATUS_EVERY)
    midway = [shown for frames, shown in seen if frames == 4 * SURVEY_STATUS_EVERY][0]
    assert midway is not None and 0 < midway["photos"] < stats.written  # the run was not over yet
    assert 200 <= midway["photos_per_km"] <= 300 and midway["cpu_s_per_km"] > 0 and midway["km"] > 0
