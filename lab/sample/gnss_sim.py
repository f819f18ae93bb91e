"""Simulated drives: fixes a receiver would report along a known path, with known truth.

Used by the trigger tests, the gpsfake test and the sample-drive generator: a drive is a
list of legs (hold a speed or accelerate, optionally turning), sampled at ``rate_hz``.
Position jitter and Doppler-speed noise are seeded, so a simulated drive is repeatable.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from geographiclib.geodesic import Geodesic

from voirie.records import FixMode, GeoFix


@dataclass(frozen=True)
class Leg:
    """``duration_s`` of driving from ``speed_mps`` to ``end_speed_mps`` (linear), turning ``turn_deg``."""

    duration_s: float
    speed_mps: float
    end_speed_mps: float | None = None
    turn_deg: float = 0.0  # total heading change over the leg, + clockwise

    def speed_at(self, t: float) -> float:
        end = self.speed_mps if self.end_speed_mps is None else self.end_speed_mps
        return self.speed_mps + (end - self.speed_mps) * (t / self.duration_s)


@dataclass
class SimulatedDrive:
    """The reported fixes and, for each, the true distance driven so far (metres)."""

    fixes: list[GeoFix] = field(default_factory=list)
    odometer_m: list[float] = field(default_factory=list)
    true_positions: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Receiver:
    """How the simulated receiver reports: rate, noise and which fields it fills."""

    rate_hz: float = 10.0
    jitter_m: float = 0.0  # 1-sigma per axis, white
    speed_noise_mps: float = 0.0  # 1-sigma, reported speed clipped at 0
    eph_m: float | None = None
    report_speed: bool = True
    seed: int = 0


def simulate_drive(start: tuple[float, float], start_time: datetime, heading_deg: float, legs: Sequence[Leg], receiver: Receiver = Receiver()) -> SimulatedDrive:
    """Sample ``legs`` from ``start`` (lat, lon) at ``receiver.rate_hz``; first fix at ``start_time``."""
    rng = random.Random(receiver.seed)
    drive = SimulatedDrive()
    lat, lon, heading, odometer, drive_time = start[0], start[1], heading_deg, 0.0, 0.0
    first_speed = legs[0].speed_at(0.0) if legs else 0.0
    _report(drive, rng, receiver, lat, lon, start_time, first_speed, heading, odometer)
    for leg in legs:
        steps = max(1, round(leg.duration_s * receiver.rate_hz))
        for k in range(steps):
            tick = leg.duration_s / steps
            v0, v1 = leg.speed_at(k * tick), leg.speed_at((k + 1) * tick)
            turn = leg.turn_deg / steps
            moved = (v0 + v1) / 2.0 * tick
            # Chord of the arc: half the turn before the step, half after.
            out = Geodesic.WGS84.Direct(lat, lon, heading + turn / 2.0, moved)
            lat, lon, heading, odometer = out["lat2"], out["lon2"], (heading + turn) % 360.0, odometer + moved
            drive_time += tick
            _report(drive, rng, receiver, lat, lon, start_time + timedelta(seconds=drive_time), v1, heading, odometer)
    return drive


def _report(drive: SimulatedDrive, rng: random.Random, receiver: Receiver, lat: float, lon: float, when: datetime, speed: float, heading: float, odometer: float) -> None:
    shown = (lat, lon)
    if receiver.jitter_m > 0:
        north, east = rng.gauss(0.0, receiver.jitter_m), rng.gauss(0.0, receiver.jitter_m)
        out = Geodesic.WGS84.Direct(lat, lon, math.degrees(math.atan2(east, north)), math.hypot(north, east))
        shown = (out["lat2"], out["lon2"])
    reported_speed = max(0.0, speed + rng.gauss(0.0, receiver.speed_noise_mps)) if receiver.speed_noise_mps else speed
    drive.fixes.append(
        GeoFix(
            lat=shown[0],
            lon=shown[1],
            time_utc=when,
            mode=FixMode.FIX_3D,
            alt_m=100.0,
            speed_mps=reported_speed if receiver.report_speed else None,
            heading_deg=heading % 360.0 if receiver.report_speed else None,
            eph_m=receiver.eph_m,
        )
    )
    drive.odometer_m.append(odometer)
    drive.true_positions.append((lat, lon))
