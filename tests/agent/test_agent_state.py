"""Resume state: sequences never repeat across crashes; the status file is always whole."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from voirie.edge.agent.state import AgentState, StateError, write_json_atomic


def test_sequences_never_repeat_across_simulated_crashes(tmp_path: Path) -> None:
    issued: list[int] = []
    for run in range(5):
        state = AgentState(tmp_path, block=7)  # a new process: nothing in memory survives
        issued += [state.next_sequence() for _ in range(run * 5 + 3)]
        del state  # "kill -9": no shutdown hook runs
    assert len(issued) == len(set(issued))
    assert issued == sorted(issued)
    # the gap after each crash is at most one block
    assert max(b - a for a, b in zip(issued, issued[1:])) <= 7


def test_survey_id_persists_within_a_day_and_rotates_the_next(tmp_path: Path) -> None:
    morning = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
    first = AgentState(tmp_path).survey_id(None, morning)
    assert AgentState(tmp_path).survey_id(None, morning.replace(hour=15)) == first
    assert AgentState(tmp_path).survey_id(None, morning.replace(day=3)) != first
    assert AgentState(tmp_path).survey_id("fixed-id", morning) == "fixed-id"


def test_corrupt_state_is_refused_not_reset(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(StateError, match="state.json"):
        AgentState(tmp_path)


def test_atomic_json_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    write_json_atomic(path, {"n": 0})
    stop, seen, bad = threading.Event(), [], []

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(json.loads(path.read_text())["n"])
            except ValueError as error:
                bad.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(1, 300):
        write_json_atomic(path, {"n": n, "pad": "x" * 5000})
    stop.set()
    reader.join()
    assert not bad and seen and seen == sorted(seen)
    assert not list(tmp_path.glob(".*tmp"))
