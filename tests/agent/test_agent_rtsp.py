"""The agent live with real parts: an RTSP camera (GStreamer's RTSP server on 127.0.0.1),
a real gpsd fed the matching track in real time, and a real server on 127.0.0.1.

* Survey: the sample drive streamed over RTSP while gpsd reports its track; photos about
  4 m apart land in the outbox and reach the server with their blurred JPEGs.
* Counting: a pole-camera clip streamed over RTSP; the closed 1-minute bin reaches the
  server with the crossings the clip shows.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from geographiclib.geodesic import Geodesic

pytestmark = [pytest.mark.slow,
              # gpsd-py3 0.3 calls the deprecated logger.warn when gpsd has no device yet.
              pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")]


@pytest.fixture
def start_agent(tmp_path: Path, live_server) -> Iterator[Callable[[str, str, str], subprocess.Popen]]:
    """``start_agent(mode, sections, device)``: ``voirie edge run`` syncing to the live
    server; killed after the test if it still runs (a failed assertion must not leak it)."""
    started: list[subprocess.Popen] = []

    def start(mode: str, body: str, device: str) -> subprocess.Popen:
        (tmp_path / "token").write_text(live_server.register(device))
        config = tmp_path / "edge.toml"
        config.write_text(f'mode = "{mode}"\ndevice_id = "{device}"\nstate_dir = "state"\n[server]\n'
                          f'url = "{live_server.url}"\ntoken_file = "token"\npoll_s = 0.2\n'
                          f'[health]\nstatus_interval_s = 0.2\n{body}')
        with (tmp_path / "agent.log").open("w") as log:  # a file, not a pipe: nobody reads it while it runs
            started.append(subprocess.Popen([sys.executable, "-m", "voirie.edge.cli", "run", "--config", str(config)],
                                            stdout=subprocess.DEVNULL, stderr=log,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"}))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _status(folder: Path) -> dict:
    try:
        return json.loads((folder / "state" / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _log(agent: subprocess.Popen) -> str:
    return Path(agent.args[-1]).with_name("agent.log").read_text(errors="replace")[-3000:]


def _wait(condition, timeout_s: float, agent: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if agent.poll() is not None:
            pytest.fail(f"the agent exited ({agent.returncode}) before {what}:\n{_log(agent)}")
        time.sleep(0.2)
    agent.kill()
    agent.wait()
    pytest.fail(f"timed out waiting for {what}:\n{_log(agent)}")


def _stop(agent: subprocess.Popen) -> None:
    agent.send_signal(signal.SIGTERM)
    try:
        agent.wait(timeout=30)
    except subprocess.TimeoutExpired:
        agent.kill()
        pytest.fail(f"the agent did not stop within 30 s of SIGTERM:\n{_log(agent)}")


def test_live_survey_over_rtsp_and_gpsd_reaches_the_server_every_4_m(
        tmp_path: Path, live_server, rtsp_camera, realtime_gpsd, live_drive, start_agent) -> None:
    clip, fixes, driven_m = live_drive
    camera = rtsp_camera(clip)
    agent = start_agent("survey", f'[survey]\ncamera = "{camera.url}"\ngpsd = "127.0.0.1:{realtime_gpsd.port}"\n'
                        'model = "none"\nspacing_m = 4.0\n', "car-rtsp")
    _wait(camera.playing.is_set, 60, agent, "the agent to open the RTSP stream")
    realtime_gpsd.play(fixes)  # the picture started now: the track starts with it
    assert realtime_gpsd.wait(60), "the NMEA feed did not finish"
    time.sleep(2.0)  # the last marks resolve with the frames after them
    queued = lambda: _status(tmp_path).get("records_queued", 0)  # noqa: E731
    _wait(lambda: queued() > 0 and _status(tmp_path).get("records_synced") == queued()
          and _status(tmp_path).get("outbox", {}).get("pending_evidence") == 0,
          60, agent, "the photos to reach the server")
    _stop(agent)
    rows = live_server.sql("SELECT lat, lon, has_evidence, time_utc FROM frames WHERE device_id = 'car-rtsp' "
                           "ORDER BY time_utc")
    expected = driven_m / 4.0
    spacing = [Geodesic.WGS84.Inverse(a[0], a[1], b[0], b[1])["s12"] for a, b in zip(rows, rows[1:])]
    assert 0.9 * expected <= len(rows) <= 1.1 * expected, (len(rows), expected, spacing, _status(tmp_path))
    assert 3.5 <= statistics.median(spacing) <= 4.5, spacing
    assert all(has_evidence for _, _, has_evidence, _ in rows)
    status = _status(tmp_path)
    assert status["state"] == "stopped" and status["records_synced"] == status["records_queued"] == len(rows)


CROSSINGS_S = 30.0  # every road user of the live pole clip has crossed by then


def _wait_for_a_fresh_minute(startup_s: float = 15.0) -> None:
    """Start so that the clip's crossings all fall in one wall-clock minute (one 1-minute
    bin), with at least half of that minute watched (a bin watched less is "no data")."""
    now = datetime.now(timezone.utc)
    if now.second + now.microsecond / 1e6 > 60.0 - CROSSINGS_S - startup_s:
        time.sleep(60.0 - now.second - now.microsecond / 1e6 + 0.5)


def test_live_counting_over_rtsp_reaches_the_server(tmp_path: Path, live_server, rtsp_camera, live_pole_clip,
                                                    start_agent) -> None:
    clip, counter, truth = live_pole_clip
    camera = rtsp_camera(clip)
    _wait_for_a_fresh_minute()
    inline = "\n".join(f"{key} = {json.dumps(value)}" for key, value in counter.items()
                       if key not in ("detector", "lines"))
    lines = "".join(f"[[counting.counter.lines]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in line.items())
                    for line in counter["lines"])
    body = (f'[counting]\nsource = "{camera.url}"\n[counting.counter]\n{inline}\n'
            f'[counting.counter.detector]\ntype = "background"\n{lines}')
    agent = start_agent("counting", body, "pole-rtsp")
    _wait(camera.playing.is_set, 60, agent, "the agent to open the RTSP stream")
    started = camera.started_utc[0]
    assert started.second + CROSSINGS_S < 60, f"the agent took too long to start: stream at {started:%H:%M:%S}"
    bins = lambda: live_server.sql("SELECT class_name, direction, count, status FROM count_bins "  # noqa: E731
                                   "WHERE device_id = 'pole-rtsp'")
    _wait(lambda: len(bins()) > 0 and _status(tmp_path).get("records_synced") == len(bins()), 100, agent,
          "the first closed bin to reach the server")
    _stop(agent)
    stored = bins()
    counted = Counter({(name, direction): count for name, direction, count, _ in stored if count})
    assert {state for *_, state in stored} == {"ok"}
    assert sum(counted.values()) == sum(truth.values()) and counted == truth, (counted, truth)
