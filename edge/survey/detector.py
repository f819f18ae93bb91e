"""The survey's damage detector from a name: ``default``, ``none``, a registered model or a .onnx path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# One ONNX Runtime thread: in the survey the damage model has a thread of its own beside the
# anonymizer's two workers (pipeline.py, overlap), and that is the parallelism; more intra-op
# threads only add synchronisation on a 2-core box (docs/survey.md, "Speed").
SURVEY_DETECTOR_THREADS = 1


def load_damage_detector(model: str, warn: Callable[[str], object] = logger.warning) -> Any | None:
    """The damage detector for ``model``: None for ``none``; a missing default is a warning, not an error."""
    if model.lower() == "none":
        return None
    from voirie.models import ModelError, load_detector

    try:
        return load_detector(model, threads=SURVEY_DETECTOR_THREADS)
    except ModelError as error:
        if model != "default":
            raise
        # No damage model shipped: photos and records still have value (evidence, later
        # analysis); records then say model_id None = "not analysed".
        warn(f"no damage detector: {error}; surveying without one")
        return None
