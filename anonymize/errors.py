"""The one error the anonymizer raises: the frame could not be anonymized and must be dropped."""

from __future__ import annotations


class AnonymizationError(ValueError):
    """A frame could not be anonymized (model missing or altered, detector error, timeout, bad pixels).

    Privacy fails closed: whoever catches this drops the frame and counts it; the pixels are
    never written or sent.
    """
