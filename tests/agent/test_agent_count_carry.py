"""Counting, live: the open bin survives a restart (saved state restored), and never twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from voirie.edge.count.bins import BinAggregator, BinKey
from voirie.edge.agent.count import restore_open_bins, save_open_bins

KEYS = [BinKey("main", "in", "car"), BinKey("main", "out", "car")]
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)


def _watch(bins: BinAggregator, start_s: int, stop_s: int, cars_in: int) -> list:
    closed = []
    for s in range(start_s, stop_s):
        closed += bins.observe(T0 + timedelta(seconds=s))
        if s - start_s < cars_in:
            bins.add(KEYS[0], T0 + timedelta(seconds=s), 30.0)
    return closed


def test_open_bin_is_restored_after_a_restart_in_the_same_bin() -> None:
    first = BinAggregator("pole", "cam", KEYS, bin_seconds=900, max_frame_gap_s=2)
    assert _watch(first, 0, 400, cars_in=7) == []
    carry = json.loads(json.dumps(save_open_bins(first)))  # what state.json holds
    second = BinAggregator("pole", "cam", KEYS, bin_seconds=900, max_frame_gap_s=2)
    assert restore_open_bins(second, carry, T0 + timedelta(seconds=430))
    closed = _watch(second, 430, 905, cars_in=5)
    car_in = next(b for b in closed if b.direction == "in")
    assert car_in.count == 12 and car_in.status == "ok"  # both runs' cars, one record
    assert len(closed) == 2 and len({b.record_id for b in closed}) == 2


def test_a_long_outage_reports_no_data_and_stale_state_is_dropped() -> None:
    first = BinAggregator("pole", "cam", KEYS, bin_seconds=900, max_frame_gap_s=2)
    _watch(first, 0, 100, cars_in=3)
    carry = save_open_bins(first)
    second = BinAggregator("pole", "cam", KEYS, bin_seconds=900, max_frame_gap_s=2)
    assert restore_open_bins(second, carry, T0 + timedelta(hours=2))
    closed = _watch(second, 7200, 7201, cars_in=0)
    # the saved bin (watched 99 of 900 s) and the bins while off are not "ok" zero counts
    assert [b.status for b in closed if b.direction == "in"] == ["no_data"] * 8
    stale = BinAggregator("pole", "cam", KEYS, bin_seconds=900, max_frame_gap_s=2)
    assert not restore_open_bins(stale, carry, T0 + timedelta(days=2))
    assert not restore_open_bins(stale, None, T0)
