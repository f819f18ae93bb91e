"""kill -9 of the edge agent at random points during capture + sync, then drain: every
record the device's outbox accepted is on the server exactly once, with the right counts.

The agent runs in counting mode on a synthetic pole-camera clip at 1 frame/s (a minute
bin every 60 frames, 10 counting lines: 100 CountBins a minute, 1000 in all), syncing to a real
server on 127.0.0.1 in small batches while it counts. 100 kills (``VOIRIE_AGENT_KILLS``)
go through a fork server (``agent_zygote.py``: the real command in its own process,
without re-importing Python each time); three more kill the real ``voirie edge run``
console script. Figures are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter as Tally
from datetime import datetime, timezone
from pathlib import Path

import pytest

from voirie.edge.count.config import parse_config
from voirie.edge.count.pipeline import Counter, run_counter
from voirie.edge.count.sources import SourceSpec, open_source

KILLS = int(os.environ.get("VOIRIE_AGENT_KILLS", "100"))
SEED = int(os.environ.get("VOIRIE_AGENT_SEED", "20260302"))
START = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
DEVICE = "pole-k9"
HERE = Path(__file__).resolve().parent


def expected_bins(video: Path, counter_config: dict) -> dict[str, tuple[int, str]]:
    """What one uninterrupted run reports: record id -> (count, status)."""
    config = parse_config({**counter_config, "device_id": DEVICE})
    counter, bins = Counter(config, frame_rate=1.0), []
    spec = SourceSpec(str(video), config.camera_id, START)
    run_counter(counter, lambda: open_source(spec), bins.extend, live=False)
    return {b.record_id: (b.count, b.status) for b in bins}


def write_config(folder: Path, url: str, token: str, video: Path, counter_config: dict) -> Path:
    (folder / "token").write_text(token)
    (folder / "count.json").write_text(json.dumps(counter_config))
    path = folder / "edge.toml"
    path.write_text(f"""mode = "counting"
device_id = "{DEVICE}"
state_dir = "state"
[server]
url = "{url}"
token_file = "token"
batch_records = 40
poll_s = 0.1
backoff_initial_s = 0.1
backoff_max_s = 0.5
timeout_s = 10
[health]
status_interval_s = 0.2
[counting]
source = "{video}"
start_utc = "{START.isoformat()}"
config_file = "count.json"
""")
    return path


class Zygote:
    """The fork server: ``spawn(args)`` starts one agent process and returns its pid."""

    def __init__(self, log: Path) -> None:
        self.process = subprocess.Popen([sys.executable, str(HERE / "agent_zygote.py"), str(log)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def spawn(self, args: list[str]) -> int:
        self.process.stdin.write(" ".join(args) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill9(pid: int, log: Path, wait_s: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pytest.fail(f"agent {pid} exited before it was killed:\n{log.read_text()[-3000:]}")
    deadline = time.monotonic() + wait_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not alive(pid), f"agent {pid} survived SIGKILL"


def phase(status_path: Path, pid: int) -> str:
    """Where the killed agent was, from its last status file."""
    try:
        status = json.loads(status_path.read_text())
    except (OSError, ValueError):
        return "starting"
    if status.get("pid") != pid or status["state"] == "starting":
        return "starting"
    pending = (status.get("outbox") or {}).get("pending_records", 0)
    if status["state"] == "running":
        return "capture+sync" if pending else "capture"
    return "sync after source end"


def outbox_ids(path: Path) -> set[str]:
    """Records the outbox holds now (read between runs, while no agent is alive)."""
    if not path.exists():
        return set()
    with sqlite3.connect(path) as db:
        try:
            return {row[0] for row in db.execute("SELECT record_id FROM records")}
        except sqlite3.OperationalError:  # killed while the outbox was being created
            return set()


def test_kill9_agent_at_random_points_then_drain(tmp_path: Path, live_server, pole_clip) -> None:
    video, counter_config = pole_clip
    expected = expected_bins(video, counter_config)
    config = write_config(tmp_path, live_server.url, live_server.register(DEVICE), video, counter_config)
    state = tmp_path / "state"
    rng, phases, accepted = random.Random(SEED), Tally(), set()
    zygote = Zygote(tmp_path / "agent.log")
    started = time.monotonic()
    try:
        for _ in range(KILLS):
            pid = zygote.spawn(["run", "--config", str(config)])
            time.sleep(rng.uniform(0.02, 0.8))
            phases[phase(state / "status.json", pid)] += 1
            kill9(pid, tmp_path / "agent.log")
            accepted |= outbox_ids(state / "outbox.sqlite3")
        zygote_s = time.monotonic() - started
        real_kills = _kill_the_console_script(config, state, rng, accepted)
        drain_started = time.monotonic()
        pid = zygote.spawn(["run", "--config", str(config), "--until-drained"])
        deadline = time.monotonic() + 90
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        drain_s = time.monotonic() - drain_started
        assert not alive(pid), "the agent did not drain within 90 s"
    finally:
        zygote.close()
    figures = server_figures(live_server, expected, accepted)
    print(f"\nagent kill -9: {KILLS} kills via fork server in {zygote_s:.1f} s + {real_kills} of the console "
          f"script; phases {dict(phases)}")
    print(f"records expected {len(expected)}, seen in the outbox between kills {len(accepted)}, "
          + ", ".join(f"{key} {value}" for key, value in figures.items()) + f"; drain {drain_s:.1f} s")
    assert figures["on the server"] == len(expected)
    assert figures["lost"] == figures["duplicated"] == figures["unexpected"] == figures["wrong counts"] == 0
    assert phases["capture+sync"] + phases["capture"] >= KILLS // 4, phases  # kills really hit the pipeline
    assert not outbox_ids(state / "outbox.sqlite3")


def server_figures(live_server, expected: dict[str, tuple[int, str]], accepted: set[str]) -> dict[str, int]:
    """Compare what the server stores with the uninterrupted run and with what the outbox held."""
    rows = live_server.sql("SELECT record_id, count, status FROM count_bins WHERE device_id = ?", (DEVICE,))
    stored = Tally(row[0] for row in rows)
    sent, resent = live_server.sql("SELECT COALESCE(SUM(accepted), 0) + COALESCE(SUM(duplicates), 0), "
                                   "COALESCE(SUM(duplicates), 0) FROM ingest_batches WHERE device_id = ?",
                                   (DEVICE,))[0]
    return {
        "records sent": sent,
        "on the server": len(stored),
        "lost": len((set(expected) | accepted) - set(stored)),
        "duplicated": sum(n - 1 for n in stored.values()),
        "unexpected": len(set(stored) - set(expected)),
        "wrong counts": sum(1 for rid, count, state in rows if rid in expected and expected[rid] != (count, state)),
        "re-sent and recognised as duplicates": resent,
    }


def _kill_the_console_script(config: Path, state: Path, rng: random.Random, accepted: set[str]) -> int:
    """A few kills of ``voirie edge run`` itself (cold start included): the real entry point."""
    script = Path(sys.executable).with_name("voirie")
    if not script.exists():
        return 0
    kills = 0
    for _ in range(3):
        process = subprocess.Popen([str(script), "edge", "run", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and phase(state / "status.json", process.pid) == "starting":
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        accepted |= outbox_ids(state / "outbox.sqlite3")
        kills += 1
    return kills


def _wait_status(path: Path, pid: int, predicate, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("pid") == pid and predicate(status):
            return status
        time.sleep(0.02)
    raise AssertionError(f"status of {pid} never matched; last: {status}")


def test_sigterm_mid_capture_stops_cleanly_and_the_restart_completes(tmp_path: Path, live_server,
                                                                     long_pole_clip) -> None:
    video, counter_config = long_pole_clip
    expected = expected_bins(video, counter_config)
    config = write_config(tmp_path, live_server.url, live_server.register(DEVICE), video, counter_config)
    status_path = tmp_path / "state" / "status.json"
    process = subprocess.Popen([sys.executable, "-m", "voirie.edge.cli", "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_status(status_path, process.pid, lambda s: s["state"] == "running" and s["records_queued"] > 0, 60)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output[-2000:]
    final = json.loads(status_path.read_text())
    assert final["state"] == "stopped" and 0 < final["frames_processed"] < 900, final
    stored = live_server.sql("SELECT record_id, count, status FROM count_bins WHERE device_id = ?", (DEVICE,))
    queued = stored + [(i, None, None) for i in outbox_ids(tmp_path / "state" / "outbox.sqlite3")]
    # Only complete bins were accepted: the open one was withheld, not reported half-counted.
    assert len({row[0] for row in queued}) == final["records_queued"] < len(expected)
    assert all(expected[rid] == (count, state) for rid, count, state in stored)
    resumed = subprocess.run([sys.executable, "-m", "voirie.edge.cli", "run", "--config", str(config),
                              "--until-drained"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    stored = live_server.sql("SELECT record_id, count, status FROM count_bins WHERE device_id = ?", (DEVICE,))
    assert {rid: (count, state) for rid, count, state in stored} == expected
