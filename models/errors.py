"""The one error type of the models stage."""

from __future__ import annotations


class ModelError(ValueError):
    """A model file, manifest or model output is not what voirie expects.

    The message always names the model (file or registry name) and what was expected,
    so an operator can tell a corrupt download from a wrong export.
    """
