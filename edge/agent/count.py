"""Counting mode of the agent: ``edge/count/pipeline.py`` feeding the outbox.

Bins are committed to the outbox as they close (``put_many``: one transaction per batch
of closed bins). A ``CountBin``'s id is deterministic (device, camera, line, direction,
class, bin start), so two reports of the same bin would be one record and the second
would be ignored. Hence the rule for the *open* bin when the agent stops before the
source ended (SIGTERM, reboot, crash):

* it is never reported as it stands (it would shadow the complete bin of the next run);
* live, its counts and watched time are saved in the resume state (at stop, and every
  ``save_every_s`` while running, so a power cut loses seconds, not the bin) and the next
  run restores them when it starts within the same bin; otherwise the bin closes with
  what was saved, its coverage telling how much of it was watched;
* a video file is replayed from its start with the same times, so the restarted run
  produces the same ids and the same counts (the outbox ignores what it holds).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from voirie.edge.agent.config import AgentConfig
from voirie.edge.agent.health import AgentStatus
from voirie.edge.agent.state import AgentState
from voirie.edge.count.bins import BinAggregator, BinKey, _Bin
from voirie.edge.count.pipeline import Counter, CounterStats, run_counter
from voirie.edge.count.sources import SourceError, SourceSpec, frame_rate_of, open_source
from voirie.records import CountBin, Frame

logger = logging.getLogger(__name__)


def save_open_bins(bins: BinAggregator) -> dict | None:
    """The aggregator's bins not yet emitted (plain JSON), or None before the first frame."""
    if bins._run_start is None:  # noqa: SLF001 - the aggregator has no public snapshot API
        return None
    return {
        "bin_seconds": bins.bin_seconds, "run_start": bins._run_start, "next_emit": bins._next_emit,
        "bins": {str(start): {
            "observed_s": data.observed_s,
            "counts": [[k.line_id, k.direction, k.class_name, n] for k, n in data.counts.items()],
            "speeds": [[k.line_id, k.direction, k.class_name, v] for k, v in data.speeds.items()],
        } for start, data in bins._bins.items()},
    }


def restore_open_bins(bins: BinAggregator, carry: dict | None, now: datetime, max_age_s: float = 86_400) -> bool:
    """Put saved open bins back (before the first frame); True when restored.

    Bins that closed while the agent was down are restored too: they are then reported
    with the time that was watched (usually "no_data" for the hours the box was off).
    Past ``max_age_s`` the saved state is stale and discarded, with a warning.
    """
    if not carry or carry.get("bin_seconds") != bins.bin_seconds or bins._run_start is not None:  # noqa: SLF001
        return False
    if now.timestamp() - carry["next_emit"] > max_age_s:
        logger.warning("saved open count bin from %s is older than %.0f s: discarded",
                       datetime.fromtimestamp(carry["next_emit"], timezone.utc).isoformat(), max_age_s)
        return False
    for start, saved in carry["bins"].items():
        data = _Bin(observed_s=float(saved["observed_s"]))
        for line_id, direction, class_name, n in saved["counts"]:
            if (key := BinKey(line_id, direction, class_name)) in bins.keys:
                data.counts[key] = int(n)
        for line_id, direction, class_name, speeds in saved["speeds"]:
            if (key := BinKey(line_id, direction, class_name)) in bins.keys:
                data.speeds[key] = [float(v) for v in speeds]
        bins._bins[int(start)] = data  # noqa: SLF001
    bins._run_start, bins._next_emit = float(carry["run_start"]), int(carry["next_emit"])  # noqa: SLF001
    return True


class CountSink:
    """Hands closed bins to the outbox; drops the open bins a stop would report half-counted."""

    def __init__(self, put_many: Callable[[list[CountBin]], None], stop: threading.Event) -> None:
        self.put_many, self.stop = put_many, stop
        self.last_frame_s: float | None = None
        self.withheld = 0

    def __call__(self, bins: list[CountBin]) -> None:
        if self.stop.is_set() and self.last_frame_s is not None:
            complete = [b for b in bins if b.bin_start_utc.timestamp() + b.bin_seconds <= self.last_frame_s]
            self.withheld += len(bins) - len(complete)
            bins = complete
        if bins:
            self.put_many(bins)


def run_counting(config: AgentConfig, put_many: Callable[[list[CountBin]], None], status: AgentStatus,
                 state: AgentState, stop: threading.Event, save_every_s: float = 5.0) -> CounterStats:
    """Count the configured source into the outbox until the file ends or ``stop``."""
    c = config.counting
    count_config = c.count_config(config.device_id)
    spec = SourceSpec(c.source, count_config.camera_id, c.start_utc)
    if not spec.live and not Path(spec.target).is_file():
        # run_counter logs a failing source and goes on (right for a camera that drops);
        # a video file that is not there is a configuration error: exit 1 and say so.
        raise SourceError(f"counting.source: video file not found: {spec.target}")
    counter = Counter(count_config, frame_rate=frame_rate_of(spec))
    if spec.live and restore_open_bins(counter.bins, state.carry(), datetime.now(timezone.utc)):
        logger.info("restored the open count bin saved by the previous run")
    sink = CountSink(put_many, stop)
    saved = {"at": time.monotonic(), "final": False}

    def frames() -> Iterator[Frame]:
        for frame in open_source(spec):
            sink.last_frame_s = frame.time_utc.timestamp()
            status.add(frames_processed=1)
            yield frame
            if spec.live and time.monotonic() - saved["at"] > save_every_s:
                state.save_carry(save_open_bins(counter.bins))  # a power cut loses seconds, not the bin
                saved["at"] = time.monotonic()

    def should_stop() -> bool:
        # Called after each frame and before the counter's final flush: the open bin is
        # saved here, while the aggregator still holds it.
        if stop.is_set() and spec.live and not saved["final"]:
            state.save_carry(save_open_bins(counter.bins))
            saved["final"] = True
        return stop.is_set()

    stats = run_counter(counter, frames, sink, live=spec.live, should_stop=should_stop)
    if spec.live and not saved["final"]:
        state.save_carry(None)  # the source ended by itself: everything was reported
    if sink.withheld:
        logger.info("%d CountBins of the open bin withheld at stop (%s)", sink.withheld,
                    "saved for the next run" if spec.live else "a replay recounts them")
    return stats
