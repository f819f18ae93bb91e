"""What the agent keeps across restarts and power loss, besides the outbox.

``state.json`` holds the current survey id and a *reserved* sequence range. Before a
live survey uses sequence numbers it reserves a block of them on disk (written to a
temporary file, fsynced, renamed, directory fsynced); after a crash or a power cut the
next run starts after the whole reserved block. So a frame's record id
(``uuid5(device, survey, camera, sequence)``) never repeats, even if the last frames
before the crash were never written -- at the price of a gap of at most one block in
the sequence numbers, which the server does not mind.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"


class StateError(ValueError):
    """``state.json`` is unreadable in a way the agent must not guess around."""


def write_json_atomic(path: Path, data: Any, *, durable: bool = False) -> None:
    """Write JSON so a reader (or a reboot) sees the old file or the new one, never half of one.

    ``durable`` also fsyncs the file and its folder: the rename itself then survives a
    power cut (needed for the resume state; the status file can do without).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=str)
        handle.write("\n")
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@dataclass
class _Persisted:
    survey_id: str | None = None
    survey_day: str | None = None
    sequence_reserved: int = 0  # every sequence below this may have been used
    runs: int = 0
    count_carry: dict | None = None  # counting: the open bin at the last save (see agent.count)


class AgentState:
    """The resume state in ``<state_dir>/state.json`` (one agent process per folder)."""

    def __init__(self, state_dir: Path, block: int = 1000) -> None:
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.path = Path(state_dir) / STATE_FILE
        self.block = block
        self._lock = threading.Lock()
        self._data = self._load()
        self._next: int | None = None

    def _load(self) -> _Persisted:
        if not self.path.exists():
            return _Persisted()
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return _Persisted(**{k: raw[k] for k in _Persisted.__dataclass_fields__ if k in raw})
        except (ValueError, TypeError) as error:
            # The file is only ever replaced atomically, so this is corruption or a hand
            # edit: refuse rather than restart the sequences at 0 (which would collide).
            raise StateError(f"{self.path} is not a valid agent state file ({error}); "
                             "fix or remove it after checking the outbox") from None

    def _save(self) -> None:
        write_json_atomic(self.path, self._data.__dict__, durable=True)

    @property
    def runs(self) -> int:
        return self._data.runs

    def start_run(self) -> int:
        """Count this start (shown in the status file); returns the run number."""
        with self._lock:
            self._data.runs += 1
            self._save()
            return self._data.runs

    def survey_id(self, configured: str | None, now: datetime) -> str:
        """The configured id, else the persisted one of today (UTC), else a new one for today."""
        if configured:
            return configured
        day = now.astimezone(timezone.utc).strftime("%Y%m%d")
        with self._lock:
            if self._data.survey_id is None or self._data.survey_day != day:
                self._data.survey_id = "survey-" + now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                self._data.survey_day = day
                self._save()
            return self._data.survey_id

    def carry(self) -> dict | None:
        """The counting mode's saved open bin, if any."""
        return self._data.count_carry

    def save_carry(self, carry: dict | None) -> None:
        """Persist the counting mode's open bin (durably: it is restored after a power cut)."""
        with self._lock:
            self._data.count_carry = carry
            self._save()

    def next_sequence(self) -> int:
        """A sequence number never handed out before by any run using this state folder."""
        with self._lock:
            if self._next is None:
                self._next = self._data.sequence_reserved  # skip whatever the last run reserved
            if self._next >= self._data.sequence_reserved:
                self._data.sequence_reserved = self._next + self.block
                self._save()  # reserved on disk before any of the block is used
            value = self._next
            self._next += 1
            return value
