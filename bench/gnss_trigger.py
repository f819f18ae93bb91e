"""Benchmark the GNSS path: NMEA parsing and trigger speed, and 4 m mark accuracy under noise.

Run: ``nice -n 10 .venv/bin/python bench/gnss_trigger.py``. Baselines are measured in the
same run: raw ``pynmea2.parse`` for the reader, and a naive position-only trigger
(no Doppler odometer, no stop rule) for accuracy. The last line is one JSON object.
"""

from __future__ import annotations

import json
from bisect import bisect_left
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pynmea2
from geographiclib.geodesic import Geodesic

from voirie.capture.gnss import FixFilter, read_nmea, write_nmea
from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.capture.trigger import DistanceTrigger, TriggerMark
from voirie.records import GeoFix

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
# A 7.5 min town drive: accelerations, a 60 s stop at lights, a U-turn, 90 km/h stretch.
LEGS = [
    Leg(10, 0, 14), Leg(60, 14), Leg(8, 14, 0), Leg(60, 0), Leg(10, 0, 14), Leg(30, 14, turn_deg=90),
    Leg(6, 6, turn_deg=180), Leg(20, 6, 25), Leg(120, 25), Leg(15, 25, 0), Leg(30, 0), Leg(20, 0, 10), Leg(60, 10, turn_deg=-45),
]


def timed(function, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def run_trigger(fixes: list[GeoFix]) -> list[TriggerMark]:
    trigger = DistanceTrigger()
    return [m for f in fixes for m in trigger.update(f)]


def truth_at(drive, mark: TriggerMark) -> tuple[float, float]:
    """True (lat, lon) of the simulated car at the mark's instant (between two samples)."""
    times = [f.time_utc for f in drive.fixes]
    b = min(max(1, bisect_left(times, mark.time_utc)), len(times) - 1)
    a = b - 1
    share = (mark.time_utc - times[a]) / (times[b] - times[a])
    line = Geodesic.WGS84.InverseLine(*drive.true_positions[a], *drive.true_positions[b])
    where = line.Position(min(1.0, max(0.0, share)) * line.s13)
    return where["lat2"], where["lon2"]


def true_odometer_at(drive, when: datetime) -> float:
    """Metres the simulated car had really driven at ``when``."""
    times = [f.time_utc for f in drive.fixes]
    b = min(max(1, bisect_left(times, when)), len(times) - 1)
    share = min(1.0, max(0.0, (when - times[b - 1]) / (times[b] - times[b - 1])))
    return drive.odometer_m[b - 1] + share * (drive.odometer_m[b] - drive.odometer_m[b - 1])


def accuracy(drive, fixes: list[GeoFix], trigger: DistanceTrigger) -> dict[str, float]:
    fix_filter = FixFilter()
    marks = [m for f in fixes if fix_filter.accept(f) for m in trigger.update(f)]
    expected = drive.odometer_m[-1] / trigger.spacing_m
    errors = sorted(Geodesic.WGS84.Inverse(m.fix.lat, m.fix.lon, *truth_at(drive, m))["s12"] for m in marks)
    # How far along the road each photo is from its nominal k x 4 m point (drift of the odometer).
    along = sorted(abs(true_odometer_at(drive, m.time_utc) - m.distance_m) for m in marks)
    stop_marks = sum(1 for m in marks if 79 < (m.time_utc - T0).total_seconds() < 137)  # inside the 60 s stop (78-138 s)
    return {
        "marks": len(marks),
        "expected_marks": round(expected, 1),
        "count_error_pct": round(100 * (len(marks) - expected) / expected, 2),
        "marks_while_stopped": stop_marks,
        "median_chainage_error_m": round(along[len(along) // 2], 3),
        "max_chainage_error_m": round(along[-1], 3),
        "median_position_error_m": round(errors[len(errors) // 2], 3),
        "p95_position_error_m": round(errors[int(0.95 * len(errors))], 3),
    }


def main() -> None:
    receiver = Receiver(rate_hz=10.0, jitter_m=0.5, speed_noise_mps=0.05, eph_m=1.2, seed=7)
    drive = simulate_drive((45.188, 5.724), T0, 10.0, LEGS, receiver)
    results: dict[str, object] = {"fixes": len(drive.fixes), "drive_m": round(drive.odometer_m[-1], 1)}
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "drive.nmea"
        write_nmea(drive.fixes, log)
        lines = log.read_text().splitlines()
        raw_s = timed(lambda: [pynmea2.parse(line, check=False) for line in lines])
        reader_s = timed(lambda: list(read_nmea(log)))
    chain_s = timed(lambda: run_trigger(drive.fixes))
    results["nmea_reader_fixes_per_s"] = round(len(drive.fixes) / reader_s)
    results["reader_vs_raw_pynmea2"] = round(reader_s / raw_s, 2)
    results["trigger_fixes_per_s"] = round(len(drive.fixes) / chain_s)
    results["trigger_headroom_vs_10hz"] = round(len(drive.fixes) / chain_s / 10.0)
    results["voirie"] = accuracy(drive, drive.fixes, DistanceTrigger())
    no_speed = [f.model_copy(update={"speed_mps": None, "heading_deg": None, "eph_m": None}) for f in drive.fixes]
    results["naive_baseline"] = accuracy(drive, no_speed, DistanceTrigger(min_step_m=1e-6))
    for name in ("nmea_reader_fixes_per_s", "reader_vs_raw_pynmea2", "trigger_fixes_per_s", "trigger_headroom_vs_10hz"):
        print(f"{name:28s} {results[name]}")
    for name in ("voirie", "naive_baseline"):
        print(f"{name:28s} {results[name]}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
