"""The stage boundary: frames in, anonymized frames out, failures dropped and counted.

``anonymize_frames`` is what a pipeline loops over; the frames it yields are written by
``anonymize.jpeg`` (the project's one JPEG writer), which accepts nothing but an
``AnonymizedFrame``, so raw pixels cannot be written by mistake.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from voirie.anonymize.anonymizer import Anonymizer
from voirie.anonymize.errors import AnonymizationError
from voirie.records import AnonymizedFrame, Frame

logger = logging.getLogger(__name__)


@dataclass
class StageCounts:
    """How many frames went through and how many were dropped, by reason."""

    anonymized: int = 0
    dropped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def anonymize_frames(frames: Iterable[Frame], anonymizer: Anonymizer, counts: StageCounts) -> Iterator[AnonymizedFrame]:
    """Yield each frame anonymized; a frame that cannot be is dropped, counted and logged."""
    for frame in frames:
        try:
            anonymized = anonymizer(frame)
        except AnonymizationError as error:
            counts.dropped += 1
            counts.reasons[str(error).split(":")[0][:80]] += 1
            logger.warning("frame %s/%d dropped, not anonymized: %s", frame.camera_id, frame.sequence, error)
            continue
        counts.anonymized += 1
        yield anonymized

