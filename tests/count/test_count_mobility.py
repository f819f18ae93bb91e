from datetime import datetime, timedelta, timezone

import pytest

from voirie.records import CountBin
from voirie.server import mobility

MONDAY = datetime(2026, 5, 4, tzinfo=timezone.utc)  # a Monday


def a_bin(start: datetime, cls: str, count: int, direction: str = "eastbound", status: str = "ok") -> CountBin:
    return CountBin(record_id=CountBin.make_id("d", "cam", "main", direction, cls, start), device_id="d",
                    camera_id="cam", line_id="main", direction=direction, class_name=cls, bin_start_utc=start,
                    count=count if status == "ok" else 0, status=status)


def week(car_per_bin=lambda t: 10, bike_per_bin=lambda t: 2, gap_hours=()) -> list[CountBin]:
    bins = []
    for q in range(7 * 96):
        start = MONDAY + timedelta(minutes=15 * q)
        status = "no_data" if start.hour in gap_hours and start.weekday() == 0 else "ok"
        bins += [a_bin(start, "car", car_per_bin(start), status=status),
                 a_bin(start, "bicycle", bike_per_bin(start), status=status)]
    return bins


def test_hourly_profile_peak_and_weekday_weekend():
    rush = lambda t: 40 if (t.hour == 8 and t.weekday() < 5) else 10  # noqa: E731
    bins = week(car_per_bin=rush)
    profiles = mobility.weekday_weekend_profiles(bins, classes=["car"])
    assert profiles["weekday"][8] == 160.0 and profiles["weekday"][9] == 40.0 and profiles["weekend"][8] == 40.0
    assert mobility.peak_hour(bins, days="weekday", classes=["car"]) == (8, 160.0)
    # In Paris (UTC+2 in May) the same rush hour is at 10:00 local.
    assert mobility.peak_hour(bins, tz="Europe/Paris", days="weekday", classes=["car"])[0] == 10


def test_gaps_are_left_out_not_read_as_zero():
    bins = week(gap_hours=range(0, 12))  # Monday morning camera down
    totals = {(t.day.isoformat(), t.class_name): t for t in mobility.daily_totals(bins)}
    monday, tuesday = totals[("2026-05-04", "car")], totals[("2026-05-05", "car")]
    assert (monday.count, monday.coverage) == (480, 0.5) and (tuesday.count, tuesday.coverage) == (960, 1.0)
    assert mobility.hourly_profile(bins, classes=["car"])[3] == 40.0  # rate over watched hours only


def test_bike_share_and_before_after_comparison():
    lane_open = MONDAY + timedelta(days=3)
    bins = week(bike_per_bin=lambda t: 2 if t < lane_open else 4)
    assert mobility.bike_share(bins) == pytest.approx((3 * 96 * 2 + 4 * 96 * 4) / (7 * 96 * 10 + 3 * 96 * 2 + 4 * 96 * 4), abs=1e-4)
    rows = {c.class_name: c for c in mobility.compare_periods(
        bins, (MONDAY, lane_open), (lane_open, MONDAY + timedelta(days=7)))}
    assert rows["bicycle"].before_per_day == 192.0 and rows["bicycle"].after_per_day == 384.0
    assert rows["bicycle"].change == 1.0 and rows["car"].change == 0.0


def test_csv_export_and_telraam_report_keep_gaps():
    bins = [a_bin(MONDAY, "car", 3), a_bin(MONDAY, "car", 5, "westbound"), a_bin(MONDAY, "bicycle", 1),
            a_bin(MONDAY + timedelta(minutes=15), "car", 0, status="no_data")]
    text = mobility.to_csv(bins)
    assert text.splitlines()[0].startswith("record_id,device_id") and len(text.splitlines()) == 5
    assert "no_data" in text
    first, second = mobility.telraam_report(bins)
    assert (first["car"], first["car_lft"], first["car_rgt"], first["bike"], first["heavy"]) == (8, 3, 5, 1, 0)
    assert first["uptime"] == 1.0 and first["interval"] == "quarterly" and first["date"] == "2026-05-04T00:00:00Z"
    assert second["uptime"] == 0.0 and second["car"] is None


def test_rows_with_naive_times_are_read_as_utc():
    row = a_bin(MONDAY, "car", 3).model_dump() | {"bin_start_utc": datetime(2026, 5, 4, 0, 0), "received_at": None}
    assert mobility.row_to_bin(row).bin_start_utc == MONDAY
