"""DistanceTrigger on simulated drives with known truth: speed, acceleration, stops, gaps, U-turns."""

from __future__ import annotations

import math
from operator import itemgetter
from datetime import datetime, timedelta, timezone

import pytest
from geographiclib.geodesic import Geodesic

from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.capture.gnss import FixFilter
from voirie.capture.trigger import DistanceTrigger, TriggerMark, trigger_marks
from voirie.records import FixMode, GeoFix

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
START = (48.8566, 2.3522)


def run(fixes: list[GeoFix], trigger: DistanceTrigger | None = None) -> tuple[DistanceTrigger, list[TriggerMark]]:
    trigger = trigger or DistanceTrigger()
    marks = [mark for fix in fixes for mark in trigger.update(fix)]
    return trigger, marks


def gaps_between(marks: list[TriggerMark]) -> list[float]:
    g = Geodesic.WGS84
    return [g.Inverse(a.fix.lat, a.fix.lon, b.fix.lat, b.fix.lon)["s12"] for a, b in zip(marks, marks[1:])]


def seconds(mark: TriggerMark) -> float:
    return (mark.time_utc - T0).total_seconds()


def test_constant_speed_90_kmh_gives_6_25_marks_per_second() -> None:
    drive = simulate_drive(START, T0, 30.0, [Leg(60.0, 25.0)])
    trigger, marks = run(drive.fixes)
    assert len(marks) == 375  # 1500 m / 4 m
    assert [m.index for m in marks] == list(range(1, 376))
    assert len(marks) / 60.0 == pytest.approx(6.25)
    assert gaps_between(marks) == pytest.approx([4.0] * 374, abs=0.01)
    # Mark k is reached at t = 4k / 25 s: the interpolated instant is exact on a straight road.
    assert [seconds(m) for m in marks] == pytest.approx([4.0 * m.index / 25.0 for m in marks], abs=1e-3)
    assert all(m.fix.heading_deg == pytest.approx(30.0) and m.fix.speed_mps == pytest.approx(25.0) for m in marks)
    assert trigger.distance_m == pytest.approx(1500.0, rel=1e-6)


@pytest.mark.parametrize("rate_hz", [1.0, 5.0, 10.0])
def test_acceleration_places_marks_at_the_right_instants(rate_hz: float) -> None:
    # 2 -> 22 m/s in 20 s (a = 1 m/s^2): 240 m, mark k where 4k = 2t + t^2 / 2.
    drive = simulate_drive(START, T0, 90.0, [Leg(20.0, 2.0, 22.0)], Receiver(rate_hz=rate_hz))
    _, marks = run(drive.fixes)
    assert len(marks) == 60
    # Uniform acceleration between fixes is what the trigger assumes: exact here.
    tolerance = 0.005
    assert [seconds(m) for m in marks] == pytest.approx([math.sqrt(4.0 + 8.0 * m.index) - 2.0 for m in marks], abs=tolerance)
    intervals = [seconds(b) - seconds(a) for a, b in zip(marks, marks[1:])]
    assert all(later <= earlier + 1e-5 for earlier, later in zip(intervals, intervals[1:]))
    assert gaps_between(marks) == pytest.approx([4.0] * 59, abs=0.01)


def test_stop_with_jitter_makes_no_marks_while_standing() -> None:
    legs = [Leg(10.0, 10.0), Leg(2.0, 10.0, 0.0), Leg(60.0, 0.0), Leg(2.0, 0.0, 10.0), Leg(10.0, 10.0)]
    receiver = Receiver(rate_hz=10.0, jitter_m=0.7, speed_noise_mps=0.3, eph_m=1.7, seed=3)
    drive = simulate_drive(START, T0, 0.0, legs, receiver)
    trigger, marks = run(drive.fixes)
    stop_start, stop_end = 12.0, 72.0
    assert not [m for m in marks if stop_start + 0.2 < seconds(m) < stop_end - 0.2]
    assert trigger.ignored["stationary"] > 500  # most of the 600 fixes at rest
    true_length = drive.odometer_m[-1]  # 220 m
    assert len(marks) == pytest.approx(true_length / 4.0, abs=2)


def test_stop_without_doppler_speed_uses_the_eph_radius() -> None:
    # A GPX-like source: 1 Hz, no speed, positions wandering while parked for 5 minutes.
    legs = [Leg(20.0, 8.0), Leg(300.0, 0.0), Leg(20.0, 8.0)]
    receiver = Receiver(rate_hz=1.0, jitter_m=1.0, eph_m=2.5, report_speed=False, seed=11)
    drive = simulate_drive(START, T0, 45.0, legs, receiver)
    _, marks = run(drive.fixes)
    assert not [m for m in marks if 21.0 < seconds(m) < 319.0]
    assert len(marks) == pytest.approx(320.0 / 4.0, abs=3)


def test_jitter_alone_would_make_marks_without_the_stop_rule() -> None:
    # The same parked jitter with a zero radius and no eph: proves the rule is needed.
    receiver = Receiver(rate_hz=1.0, jitter_m=1.0, report_speed=False, seed=11)
    drive = simulate_drive(START, T0, 45.0, [Leg(300.0, 0.0)], receiver)
    _, marks = run(drive.fixes, DistanceTrigger(min_step_m=1e-6))
    assert len(marks) > 50
    with_eph = [f.model_copy(update={"eph_m": 2.5}) for f in drive.fixes]
    _, marks = run(with_eph, DistanceTrigger(min_step_m=1e-6))
    assert marks == []


def test_multipath_excursion_while_parked_makes_no_marks() -> None:
    # Doppler says "at rest" while the position wanders 12 m off for 2 s (a reflection).
    fixes = simulate_drive(START, T0, 0.0, [Leg(30.0, 0.0)], Receiver(rate_hz=10.0, jitter_m=0.3, eph_m=1.0, seed=4)).fixes
    g = Geodesic.WGS84
    fixes = [
        f.model_copy(update=dict(zip(("lat", "lon"), itemgetter("lat2", "lon2")(g.Direct(f.lat, f.lon, 90.0, 12.0)))))
        if 100 <= i < 120 else f
        for i, f in enumerate(fixes)
    ]
    trigger, marks = run(fixes)
    assert marks == [] and trigger.speed_trusted


def test_a_speed_field_stuck_at_zero_falls_back_to_positions() -> None:
    drive = simulate_drive(START, T0, 0.0, [Leg(60.0, 10.0)], Receiver(rate_hz=5.0, jitter_m=0.2, eph_m=0.5, seed=8))
    zero_speed = [f.model_copy(update={"speed_mps": 0.0}) for f in drive.fixes]
    trigger, marks = run(zero_speed)
    assert not trigger.speed_trusted
    # While in doubt the anchor stays put, so the first 5 s are measured, not lost.
    assert len(marks) == pytest.approx(600.0 / 4.0, abs=2)
    assert gaps_between(marks) == pytest.approx([4.0] * (len(marks) - 1), abs=1.0)


def drive_with_dropout(gap_s: float) -> list[GeoFix]:
    fixes = simulate_drive(START, T0, 0.0, [Leg(30.0, 20.0)]).fixes
    return [f for f in fixes if not (10.0 < (f.time_utc - T0).total_seconds() < 10.0 + gap_s)]


def test_long_dropout_invents_no_marks_and_leaves_a_hole_in_the_numbering() -> None:
    trigger, marks = run(drive_with_dropout(8.0))
    assert not [m for m in marks if 10.0 < seconds(m) < 18.0]
    assert trigger.gaps == 1
    assert trigger.gap_distance_m == pytest.approx(160.0, abs=1.0)
    indices = [m.index for m in marks]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    missing = set(range(1, indices[-1] + 1)) - set(indices)
    assert len(missing) == pytest.approx(160.0 / 4.0, abs=1)
    # The odometer still reads the driven length, so later marks keep their chainage.
    assert trigger.distance_m == pytest.approx(600.0, abs=0.5)
    assert [m.distance_m for m in marks] == [4.0 * m.index for m in marks]


def test_short_dropout_is_bridged_by_interpolation() -> None:
    trigger, marks = run(drive_with_dropout(2.0))
    assert trigger.gaps == 0
    assert [m.index for m in marks] == list(range(1, 151))
    assert gaps_between(marks) == pytest.approx([4.0] * 149, abs=0.01)


@pytest.mark.parametrize("rate_hz", [1.0, 10.0])
def test_u_turn_keeps_4_m_spacing_and_heading_follows(rate_hz: float) -> None:
    legs = [Leg(12.0, 6.0), Leg(5.0, 6.0, turn_deg=180.0), Leg(12.0, 6.0)]
    drive = simulate_drive(START, T0, 0.0, legs, Receiver(rate_hz=rate_hz))
    _, marks = run(drive.fixes)
    true_length = drive.odometer_m[-1]  # 174 m of road
    # At 1 Hz the odometer follows chords of the arc: a little short, never long.
    assert len(marks) == pytest.approx(true_length / 4.0, abs=1 if rate_hz >= 10 else 2)
    assert all(3.6 <= gap <= 4.01 for gap in gaps_between(marks))
    assert marks[0].fix.heading_deg == pytest.approx(0.0, abs=1.0)
    assert marks[-1].fix.heading_deg == pytest.approx(180.0, abs=1.0)


def test_no_fix_and_repeated_times_are_ignored() -> None:
    fixes = simulate_drive(START, T0, 0.0, [Leg(5.0, 10.0)]).fixes
    bad = fixes[10].model_copy(update={"mode": FixMode.NO_FIX})
    trigger, marks = run([*fixes[:11], bad, fixes[10], *fixes[11:]])
    assert trigger.ignored["no_fix"] == 1
    assert trigger.ignored["time_not_increasing"] == 1
    assert len(marks) == 12  # 50 m


@pytest.mark.parametrize(
    "kwargs",
    [{"spacing_m": 0.0}, {"spacing_m": float("nan")}, {"max_gap_s": -1.0}, {"min_speed_mps": -0.1}, {"min_step_m": 0.0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DistanceTrigger(**kwargs)


def test_trigger_marks_filters_then_triggers() -> None:
    fixes = simulate_drive(START, T0, 0.0, [Leg(10.0, 20.0)]).fixes
    outlier = fixes[50].model_copy(update={"lat": fixes[50].lat + 0.01, "time_utc": fixes[50].time_utc + timedelta(milliseconds=50)})
    fix_filter = FixFilter()
    marks = trigger_marks([*fixes[:51], outlier, *fixes[51:]], fix_filter=fix_filter)
    assert [m.index for m in marks] == list(range(1, 51))
    assert fix_filter.rejected == {"jump": 1}


def test_first_fix_alone_makes_no_mark() -> None:
    fix = GeoFix(lat=START[0], lon=START[1], time_utc=T0 + timedelta(seconds=1), speed_mps=20.0)
    assert DistanceTrigger().update(fix) == []
