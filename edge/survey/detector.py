"""The survey's damage detector from a name: ``default``, ``none``, a registered model or a .onnx path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def load_damage_detector(model: str, warn: Callable[[str], object] = logger.warning) -> Any | None:
    """The damage detector for ``model``: None for ``none``; a missing default is a warning, not an error."""
    if model.lower() == "none":
        return None
    from voirie.models import ModelError, load_detector

    try:
        return load_detector(model)
    except ModelError as error:
        if model != "default":
            raise
        # No damage model shipped: photos and records still have value (evidence, later
        # analysis); records then say model_id None = "not analysed".
        warn(f"no damage detector: {error}; surveying without one")
        return None
