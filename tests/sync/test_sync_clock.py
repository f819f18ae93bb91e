"""Clock skew: records keep their own (GNSS) time; order and dedup never use the device
clock. A writer+sync process runs with its system clock years off (libfaketime)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from voirie.edge.sync.outbox import Outbox
from voirie.edge.sync.worker import SyncSettings, SyncWorker

from .conftest import HERE, START, exactly_once, frame_records


def faketime_env(offset: str) -> dict[str, str]:
    """Environment that runs a child under libfaketime with its wall clock shifted by ``offset``."""
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or spec.origin is None:
        pytest.skip("libfaketime (dev extra) is not installed")
    library = Path(spec.origin).parent / "vendor" / "libfaketime" / "src"
    if not (library / "libfaketime.so.1").is_file():
        pytest.skip(f"libfaketime.so.1 not found in {library}")
    return {**os.environ, "LD_LIBRARY_PATH": str(library), "LD_PRELOAD": "libfaketime.so.1",
            "DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1", "FAKETIME": offset}


def stored_times(server) -> dict[str, datetime]:  # noqa: ANN001 - fixture object
    return {rid: datetime.fromisoformat(t).replace(tzinfo=timezone.utc)
            for rid, t in server.sql("SELECT record_id, time_utc FROM frames")}


def run_child(env: dict[str, str], *arguments: str) -> tuple[list[str], datetime]:
    """Run the writer/sync child; its output lines and what it believed the time was."""
    done = subprocess.run([sys.executable, str(HERE / "sync_child.py"), *arguments], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split(), datetime.fromisoformat(done.stdout.split("CLOCK ", 1)[1].split()[0])


def test_device_clock_years_off_changes_nothing_on_the_server(tmp_path, server, report):
    # The pipeline writes with its clock 7 years behind (a box that lost its RTC battery), then
    # the sync runs with the clock 3 years ahead (a bad NTP answer). Two processes, one after
    # the other: under libfaketime two busy threads in one process crawl (it wraps the
    # condition-variable waits the GIL hand-off uses), which would only measure libfaketime.
    outbox = ["--outbox", str(tmp_path / "o.sqlite3"), "--server", server.url]
    token = {"VOIRIE_SYNC_TOKEN": server.token}
    _, writer_clock = run_child({**faketime_env("-7y"), **token}, *outbox, "--count", "300", "--evidence-every", "25")
    lines, sync_clock = run_child({**faketime_env("+3y"), **token}, *outbox, "--count", "0", "--sync")
    now, records = datetime.now(timezone.utc), frame_records(300)
    figures = exactly_once({r.record_id for r in records}, server.stored_ids())
    report("clock_skew", **figures, writer_skew_days=(writer_clock - now).days, sync_skew_days=(sync_clock - now).days)
    assert lines[-1] == "DRAINED"
    assert (writer_clock - now).days < -2500 and (sync_clock - now).days > 1000  # the clocks really were off
    assert figures["lost"] == figures["duplicated"] == figures["unexpected"] == 0
    assert stored_times(server) == {r.record_id: r.time_utc for r in records}  # their own time, untouched
    assert server.sql("SELECT COUNT(*) FROM frames WHERE has_evidence") == [(12,)]


def test_gnss_time_disagreeing_with_order_and_itself_is_kept_as_is(tmp_path, server):
    # GNSS time jumps back (receiver reset) and forward (week rollover); two frames share a time.
    times = [START + timedelta(days=400), START - timedelta(days=9000), START, START]
    records = [r.model_copy(update={"time_utc": t}) for r, t in zip(frame_records(4), times, strict=True)]
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put_many([(r, None) for r in records])
        outbox.put(records[0])  # same id replayed after a restart: no-op whatever its time
        assert outbox.next_batch(10, 1_000_000).record_ids == [r.record_id for r in records]  # insertion order
        assert outbox.stats().oldest_pending_utc == START - timedelta(days=9000)
        settings = SyncSettings(server_url=server.url, device_id="car-1", token=server.token)
        result = SyncWorker(outbox, settings).sync_once()
    assert result.accepted == 4 and result.duplicates == 0
    assert stored_times(server) == {r.record_id: r.time_utc for r in records}
