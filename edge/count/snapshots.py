"""Opt-in debug snapshots: one anonymized picture per bin, to check where the lines are.

Off by default (only aggregates leave a counting camera). When on, every picture goes
through ``voirie.anonymize.Anonymizer`` first; a frame that cannot be anonymized is
dropped and counted, never written (privacy fails closed).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path

from voirie.anonymize.jpeg import write_jpeg
from voirie.records import AnonymizedFrame, Frame

logger = logging.getLogger(__name__)


class SnapshotError(ValueError):
    """Debug snapshots were asked for but cannot be taken safely."""


def default_anonymizer() -> Callable[[Frame], AnonymizedFrame]:
    """The project's anonymizer (faces and plates); ``SnapshotError`` when it is not installed."""
    try:
        from voirie.anonymize import Anonymizer
    except ImportError as error:
        raise SnapshotError(f"debug_snapshot needs the anonymize stage ({error}); turn it off") from None
    return Anonymizer.default()


class SnapshotWriter:
    """Writes at most one anonymized JPEG per bin into ``out_dir``."""

    def __init__(self, out_dir: Path, bin_seconds: int,
                 anonymizer: Callable[[Frame], AnonymizedFrame] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.bin_seconds = bin_seconds
        self.anonymizer = anonymizer if anonymizer is not None else default_anonymizer()
        self.written: list[Path] = []
        self.dropped = 0
        self._last_bin: int | None = None

    def offer(self, frame: Frame) -> Path | None:
        """Keep ``frame`` (anonymized) if its bin has no snapshot yet; returns the file written."""
        current = math.floor(frame.time_utc.timestamp() / self.bin_seconds)
        if current == self._last_bin:
            return None
        # The anonymizer masks in place: give it a copy, the counter still reads the frame.
        copy = dataclasses.replace(frame, pixels=frame.pixels.copy())
        try:
            anonymized = self.anonymizer(copy)
        except ValueError as error:  # AnonymizationError is a ValueError
            self.dropped += 1
            logger.warning("snapshot dropped, not anonymized: %s", error)
            return None
        if not isinstance(anonymized, AnonymizedFrame):
            self.dropped += 1
            logger.warning("snapshot dropped: the anonymizer returned %s", type(anonymized).__name__)
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"snapshot-{frame.camera_id}-{frame.time_utc:%Y%m%dT%H%M%SZ}.jpg"
        write_jpeg(anonymized, path, quality=85)
        self._last_bin = current
        self.written.append(path)
        return path
