"""Builds and runs the configured mode's pipeline (the agent's main thread)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from voirie.edge.agent.config import AgentConfig
from voirie.edge.agent.fleet import ModelSlot, model_dir
from voirie.edge.agent.health import AgentStatus
from voirie.edge.agent.state import AgentState

logger = logging.getLogger(__name__)


def load_survey_models(config: AgentConfig, slot: ModelSlot | None = None) -> tuple[Any, Any]:
    """The anonymizer (required: privacy fails closed) and the damage detector (optional).

    A model rolled out by the server (current in ``<state_dir>/models``) wins over the
    configured one: the server decided the fleet runs it. One that cannot run is reported
    to the heartbeat thread (which rolls it back) and the configured model runs meanwhile,
    so a bad rollout never stops the survey or sends systemd into a restart loop.
    """
    from voirie.anonymize import Anonymizer
    from voirie.edge.fleet.models import current_model
    from voirie.edge.survey.calibration import anonymizer_options, load_optional
    from voirie.edge.survey.detector import load_damage_detector
    from voirie.models import ModelError

    s = config.survey
    anonymizer = Anonymizer.default(anonymizer_options(load_optional(s.calibration), s.anonymize_timeout_s))
    rolled_out = None
    if s.model.lower() != "none":
        try:
            rolled_out = current_model(model_dir(config))
            if rolled_out is not None:
                return anonymizer, load_damage_detector(str(rolled_out))
        except ModelError as error:
            logger.error("rolled-out model %s cannot run (%s); using %r until it is rolled back",
                         rolled_out, error, s.model)
            if slot is not None:
                slot.failed(str(error))
    return anonymizer, load_damage_detector(s.model)


def model_summary(detector: Any, config: AgentConfig) -> dict | None:
    """The damage model as the status file and the heartbeat show it (with its sha256)."""
    if detector is None:
        return None
    from voirie.models.registry import sha256_file

    path = Path(detector.path)
    rolled_out = model_dir(config).resolve() in path.resolve().parents
    return {"model_id": detector.model_id, "model_version": detector.model_version, "path": str(path),
            "sha256": sha256_file(path), "rolled_out": rolled_out}


class ModelSwitcher:
    """Between two frames, swaps the survey pipeline's detector for a newly rolled-out model."""

    def __init__(self, slot: ModelSlot | None, status: AgentStatus, config: AgentConfig) -> None:
        self.slot, self.status, self.config = slot, status, config

    def __call__(self, pipeline: Any) -> None:
        path = self.slot.take() if self.slot is not None else None
        if path is None:
            return
        from voirie.edge.survey.detector import load_damage_detector
        from voirie.models import ModelError

        try:
            detector = load_damage_detector(str(path))
        except (ModelError, ValueError, OSError) as error:
            logger.error("rolled-out model %s cannot run: %s", path, error)
            self.slot.failed(str(error))  # the heartbeat thread rolls back
            return
        pipeline.detector = detector
        self.status.update(model=model_summary(detector, self.config))
        logger.info("damage model switched to %s %s", detector.model_id, detector.model_version)


def run_mode(config: AgentConfig, sink: Any, status: AgentStatus, state: AgentState, stop: threading.Event,
             slot: ModelSlot | None = None) -> None:
    """Run survey or counting until the source ends or ``stop`` is set."""
    if config.mode == "counting":
        from voirie.edge.agent.count import run_counting

        stats = run_counting(config, sink.put_many, status, state, stop)
        logger.info("counting ended: %s", stats)
        return
    from voirie.edge.agent.survey import OutboxPhotoSink, run_survey_mode, survey_counts

    anonymizer, detector = load_survey_models(config, slot)
    status.update(model=model_summary(detector, config), anonymizer=anonymizer.name)
    photos = OutboxPhotoSink(sink.put, status, evidence=config.outbox.evidence, jpeg_quality=config.outbox.jpeg_quality)
    parts = (photos, anonymizer, detector, ModelSwitcher(slot, status, config))
    stats = run_survey_mode(config, parts, status, state, stop)
    status.update(survey=survey_counts(stats))
    logger.info("survey ended: %d photos queued, %d dropped (anonymization failed)",
                stats.written, stats.anonymization_dropped)

