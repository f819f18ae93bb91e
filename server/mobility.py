"""Mobility views over counted bins: profiles, peak hour, bike share, daily totals, before/after.

Pure functions over ``CountBin`` records (or database rows with the same fields). Only
bins with status "ok" carry information: "no_data" bins are gaps (camera down) and are
left out of every rate, so a day with a 3-hour outage is not reported as a quiet day.
Rates are per hour of *watched* time, so periods with different uptime compare fairly.
Hours and days are local to ``tz`` (the municipality's time zone), as mobility teams
read them.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from voirie.records import CountBin
from voirie.server.csvsafe import SafeDictWriter

logger = logging.getLogger(__name__)

VEHICLES = ("car", "truck_bus", "motorcycle", "bicycle")  # bike share's denominator: no pedestrians
TELRAAM_NAMES = {"car": "car", "truck_bus": "heavy", "bicycle": "bike", "pedestrian": "pedestrian",
                 "motorcycle": "motorcycle"}
CSV_FIELDS = ("record_id", "device_id", "camera_id", "line_id", "direction", "class_name", "bin_start_utc",
              "bin_seconds", "count", "mean_speed_kmh", "status")
DayKind = Literal["all", "weekday", "weekend"]


def row_to_bin(row: CountBin | Mapping[str, Any]) -> CountBin:
    """A ``CountBin`` from a record or a ``count_bins`` row (naive times are UTC, as SQLite returns them)."""
    if isinstance(row, CountBin):
        return row
    values = {k: row[k] for k in CSV_FIELDS if k in row}
    start = values.get("bin_start_utc")
    if isinstance(start, str):
        start = datetime.fromisoformat(start)
    if isinstance(start, datetime) and start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    values["bin_start_utc"] = start
    return CountBin.model_validate(values)


def _ok(bins: Iterable[CountBin | Mapping[str, Any]], classes: Iterable[str] | None = None) -> list[CountBin]:
    wanted = set(classes) if classes is not None else None
    out = [row_to_bin(b) for b in bins]
    return [b for b in out if b.status == "ok" and (wanted is None or b.class_name in wanted)]


def _watched_hours(bins: list[CountBin], key) -> dict[Any, float]:
    # A bin is one watched slot however many (line, direction, class) records share it.
    slots = {(key(b), b.camera_id, b.bin_start_utc, b.bin_seconds) for b in bins}
    hours: dict[Any, float] = defaultdict(float)
    for k, _, _, seconds in slots:
        hours[k] += seconds / 3600
    return hours


def _local(b: CountBin, tz: str) -> datetime:
    return b.bin_start_utc.astimezone(ZoneInfo(tz))


def hourly_profile(bins: Iterable[CountBin | Mapping[str, Any]], tz: str = "UTC", days: DayKind = "all",
                   classes: Iterable[str] | None = None) -> dict[int, float]:
    """Mean crossings per hour for each local hour of day (0-23) with data."""
    ok = [b for b in _ok(bins, classes) if days == "all" or (_local(b, tz).weekday() >= 5) == (days == "weekend")]
    counts: dict[int, int] = defaultdict(int)
    for b in ok:
        counts[_local(b, tz).hour] += b.count
    hours = _watched_hours(ok, lambda b: _local(b, tz).hour)
    return {h: round(counts[h] / hours[h], 2) for h in sorted(hours) if hours[h] > 0}


def weekday_weekend_profiles(bins: Iterable[CountBin | Mapping[str, Any]], tz: str = "UTC",
                             classes: Iterable[str] | None = None) -> dict[str, dict[int, float]]:
    """``{"weekday": profile, "weekend": profile}`` (see ``hourly_profile``)."""
    rows = [row_to_bin(b) for b in bins]
    return {kind: hourly_profile(rows, tz, kind, classes) for kind in ("weekday", "weekend")}


def peak_hour(bins: Iterable[CountBin | Mapping[str, Any]], tz: str = "UTC", days: DayKind = "weekday",
              classes: Iterable[str] | None = None) -> tuple[int, float] | None:
    """(local hour, crossings per hour) of the busiest hour of the profile; None without data."""
    profile = hourly_profile(bins, tz, days, classes)
    if not profile:
        return None
    hour = max(profile, key=lambda h: (profile[h], -h))
    return hour, profile[hour]


def bike_share(bins: Iterable[CountBin | Mapping[str, Any]]) -> float | None:
    """Bicycles / (cars + trucks/buses + motorcycles + bicycles); None when nothing was counted."""
    ok = _ok(bins, VEHICLES)
    total = sum(b.count for b in ok)
    return round(sum(b.count for b in ok if b.class_name == "bicycle") / total, 4) if total else None


@dataclass(frozen=True)
class DailyTotal:
    """Crossings of one class on one local day, with the share of the day watched."""

    day: date
    class_name: str
    count: int
    coverage: float  # 1.0: watched all day; less: a total to read with care


def daily_totals(bins: Iterable[CountBin | Mapping[str, Any]], tz: str = "UTC",
                 classes: Iterable[str] | None = None) -> list[DailyTotal]:
    """Per local day and class: total crossings and the share of the day watched."""
    ok = _ok(bins, classes)
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for b in ok:
        counts[(_local(b, tz).date(), b.class_name)] += b.count
    hours = _watched_hours(ok, lambda b: _local(b, tz).date())
    return [DailyTotal(day, name, n, round(min(1.0, hours[day] / 24), 3))
            for (day, name), n in sorted(counts.items())]


@dataclass(frozen=True)
class PeriodChange:
    """One class's traffic before and after (e.g. a new cycle lane), per watched day."""

    class_name: str
    before_per_day: float
    after_per_day: float
    change: float | None  # relative, signed; None when there was nothing before
    before_hours: float
    after_hours: float


def _per_day(ok: list[CountBin], name: str, hours: float) -> float:
    return round(sum(b.count for b in ok if b.class_name == name) / hours * 24, 1) if hours else 0.0


def compare_periods(bins: Iterable[CountBin | Mapping[str, Any]], before: tuple[datetime, datetime],
                    after: tuple[datetime, datetime], classes: Iterable[str] | None = None) -> list[PeriodChange]:
    """Crossings per watched day of each class in two periods ``[start, end)`` and the change."""
    ok = _ok(bins, classes)
    parts = [[b for b in ok if start <= b.bin_start_utc < end] for start, end in (before, after)]
    hours = [sum(_watched_hours(part, lambda b: 0).values()) for part in parts]
    if not all(hours):
        logger.warning("compare_periods: a period has no watched time (before %.1f h, after %.1f h)", *hours)
    names = sorted({b.class_name for b in ok})
    out = []
    for name in names:
        b_rate, a_rate = _per_day(parts[0], name, hours[0]), _per_day(parts[1], name, hours[1])
        change = round((a_rate - b_rate) / b_rate, 4) if b_rate else None
        out.append(PeriodChange(name, b_rate, a_rate, change, round(hours[0], 2), round(hours[1], 2)))
    return out


def to_csv(bins: Iterable[CountBin | Mapping[str, Any]]) -> str:
    """CSV export of bins (every field; gaps kept with status "no_data")."""
    buffer = io.StringIO()
    writer = SafeDictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for b in sorted((row_to_bin(b) for b in bins), key=lambda b: (b.bin_start_utc, b.line_id, b.direction,
                                                                   b.class_name)):
        row = b.model_dump(include=set(CSV_FIELDS))
        row["bin_start_utc"] = b.bin_start_utc.isoformat()
        writer.writerow(row)
    return buffer.getvalue()


def telraam_report(bins: Iterable[CountBin | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One Telraam-shaped record per bin: totals per class, ``_lft``/``_rgt`` per direction, uptime.

    ``lft`` is the alphabetically first direction name of the line, ``rgt`` the other;
    the names themselves are in ``directions``. ``uptime`` is 1 for "ok", 0 for a gap.
    """
    groups: dict[tuple, list[CountBin]] = defaultdict(list)
    for b in (row_to_bin(r) for r in bins):
        groups[(b.bin_start_utc, b.camera_id, b.line_id, b.bin_seconds)].append(b)
    report = []
    for (start, camera, line, seconds), members in sorted(groups.items(), key=lambda kv: kv[0][:3]):
        ok = all(m.status == "ok" for m in members)
        names = sorted({m.direction for m in members})
        entry: dict[str, Any] = {"date": start.isoformat().replace("+00:00", "Z"), "camera_id": camera,
                                 "line_id": line, "interval": "quarterly" if seconds == 900 else f"{seconds}s",
                                 "uptime": 1.0 if ok else 0.0, "directions": {"lft": names[0], "rgt": names[-1]}}
        for cls, key in TELRAAM_NAMES.items():
            of_class = [m for m in members if m.class_name == cls]
            entry[key] = sum(m.count for m in of_class) if ok else None
            for side, direction in (("lft", names[0]), ("rgt", names[-1] if len(names) > 1 else None)):
                entry[f"{key}_{side}"] = sum(m.count for m in of_class if m.direction == direction) if ok else None
        report.append(entry)
    return report
