from datetime import datetime, timedelta, timezone

import pytest

from voirie.edge.count.bins import BinAggregator, BinKey

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
KEYS = [BinKey("main", "in", "car"), BinKey("main", "out", "car")]


def watch(agg: BinAggregator, start_s: float, stop_s: float, step: float = 0.5) -> list:
    out, t = [], start_s
    while t <= stop_s:
        out += agg.observe(T0 + timedelta(seconds=t))
        t += step
    return out


def test_counts_land_in_their_bins_with_speed():
    agg = BinAggregator("pole-1", "cam-1", KEYS, bin_seconds=900)
    closed = watch(agg, 0, 800)
    agg.add(KEYS[0], T0 + timedelta(seconds=100), 36.0)
    agg.add(KEYS[0], T0 + timedelta(seconds=200), 44.0)
    closed += watch(agg, 800.5, 1000)
    assert [(b.direction, b.count, b.status, b.mean_speed_kmh) for b in closed] == [
        ("in", 2, "ok", 40.0), ("out", 0, "ok", None)]
    assert closed[0].bin_start_utc == T0


def test_a_disconnect_is_no_data_not_zero():
    agg = BinAggregator("pole-1", "cam-1", KEYS, bin_seconds=900, min_coverage=0.5)
    bins = watch(agg, 0, 600, 1.0)
    agg.gap()  # camera lost from 10 min to 50 min
    bins += watch(agg, 3000, 3700, 1.0)
    bins += agg.flush()
    status = {(b.bin_start_utc - T0).total_seconds() // 900: b.status for b in bins}
    assert status == {0: "ok", 1: "no_data", 2: "no_data", 3: "ok", 4: "ok"}
    assert all(b.count == 0 for b in bins if b.status == "no_data")


def test_ids_are_deterministic_and_keys_checked():
    agg = BinAggregator("pole-1", "cam-1", KEYS, bin_seconds=900)
    first = watch(agg, 0, 901)
    again = BinAggregator("pole-1", "cam-1", KEYS, bin_seconds=900)
    assert [b.record_id for b in watch(again, 0, 901)] == [b.record_id for b in first]
    with pytest.raises(ValueError, match="unknown count key"):
        agg.add(BinKey("main", "in", "tractor"), T0)
    with pytest.raises(ValueError):
        BinAggregator("pole-1", "cam-1", KEYS, bin_seconds=7)


def test_would_close_says_when_a_frame_starts_a_new_bin():
    # The counter decides pending crossings' classes before that frame: each lands in its own bin.
    agg = BinAggregator("pole-1", "cam-1", KEYS, bin_seconds=900)
    assert not agg.would_close(T0)  # nothing watched yet
    watch(agg, 0, 899.5)
    assert not agg.would_close(T0 + timedelta(seconds=899.9))
    assert agg.would_close(T0 + timedelta(seconds=900))
    assert len(agg.observe(T0 + timedelta(seconds=900))) == len(KEYS)
