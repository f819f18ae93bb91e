"""The one error type of re-analysis: a bad model name, a bad date, a missing engine."""

from __future__ import annotations


class ReanalyseError(ValueError):
    """Re-analysis cannot start or go on; the message says what was expected and what was found."""
