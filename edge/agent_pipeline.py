"""Builds and runs the configured mode's pipeline (the agent's main thread)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from voirie.edge.agent_config import AgentConfig
from voirie.edge.agent_health import AgentStatus
from voirie.edge.agent_state import AgentState

logger = logging.getLogger(__name__)


def load_survey_models(config: AgentConfig) -> tuple[Any, Any]:
    """The anonymizer (required: privacy fails closed) and the damage detector (optional)."""
    from voirie.anonymize import Anonymizer, AnonymizerOptions
    from voirie.edge.survey_cli import load_damage_detector

    s = config.survey
    anonymizer = Anonymizer.default(AnonymizerOptions(timeout_s=s.anonymize_timeout_s))
    detector = load_damage_detector(s.model)
    return anonymizer, detector


def model_summary(detector: Any) -> dict | None:
    """The damage model as the status file shows it."""
    if detector is None:
        return None
    return {"model_id": detector.model_id, "model_version": detector.model_version, "path": str(detector.path)}


def run_mode(config: AgentConfig, sink: Any, status: AgentStatus, state: AgentState, stop: threading.Event) -> None:
    """Run survey or counting until the source ends or ``stop`` is set."""
    if config.mode == "counting":
        from voirie.edge.agent_count import run_counting

        stats = run_counting(config, sink.put_many, status, state, stop)
        logger.info("counting ended: %s", stats)
        return
    from voirie.edge.agent_survey import OutboxWriter, run_live, run_replay

    anonymizer, detector = load_survey_models(config)
    status.update(model=model_summary(detector), anonymizer=anonymizer.name)
    writer = OutboxWriter(sink.put, status, evidence=config.outbox.evidence, jpeg_quality=config.outbox.jpeg_quality)
    parts = (writer, anonymizer, detector)
    if config.survey.live:
        stats = run_live(config, parts, status, state, stop)
    else:
        stats = run_replay(config, parts, status, stop)
    logger.info("survey ended: %d photos queued, %d dropped (anonymization failed)",
                stats.written, stats.anonymization_dropped)
