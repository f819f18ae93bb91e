"""FrameMatcher: each 4 m mark gets the camera frame nearest its instant, or none if too far."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from voirie.lab.sample.gnss_sim import Leg, Receiver, simulate_drive
from voirie.capture.trigger import DistanceTrigger, FrameMatcher, TriggerMark
from voirie.records import GeoFix

T0 = datetime(2026, 5, 4, 7, 30, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def mark_at(seconds: float, index: int = 1) -> TriggerMark:
    fix = GeoFix(lat=47.2, lon=-1.55, time_utc=at(seconds), speed_mps=25.0)
    return TriggerMark(index=index, distance_m=4.0 * index, time_utc=at(seconds), fix=fix)


def frame_times(fps: float, duration_s: float, phase_s: float = 0.013) -> list[float]:
    return [phase_s + k / fps for k in range(int(duration_s * fps))]


def live_run(fixes: list[GeoFix], frames: list[float], latency_s: float, matcher: FrameMatcher[int]) -> list[tuple[TriggerMark, int]]:
    """Interleave as on the car: a fix reaches the trigger ``latency_s`` after its instant."""
    trigger, pairs = DistanceTrigger(), []
    events = [((f.time_utc - T0).total_seconds() + latency_s, 0, i) for i, f in enumerate(fixes)]
    events += [(t, 1, i) for i, t in enumerate(frames)]
    for _, kind, i in sorted(events):
        if kind == 0:
            matcher.add_marks(trigger.update(fixes[i]))
        else:
            pairs += matcher.offer(at(frames[i]), i)
    return pairs + matcher.flush()


def test_live_90_kmh_every_mark_gets_its_nearest_frame() -> None:
    fixes = simulate_drive((47.2, -1.55), T0, 80.0, [Leg(20.0, 25.0)], Receiver(rate_hz=10.0)).fixes
    frames = frame_times(30.0, 20.5)
    matcher: FrameMatcher[int] = FrameMatcher()
    pairs = live_run(fixes, frames, latency_s=0.15, matcher=matcher)
    assert len(pairs) == 125 and matcher.unmatched.total() == 0  # 500 m, 6.25 marks/s
    for mark, frame in pairs:
        offset = abs((at(frames[frame]) - mark.time_utc).total_seconds())
        best = min(abs((at(t) - mark.time_utc).total_seconds()) for t in frames)
        assert offset == pytest.approx(best) and offset <= 1 / 60 + 1e-6
    assert len({frame for _, frame in pairs}) == len(pairs)


def test_marks_known_a_second_late_still_match_at_1_hz() -> None:
    fixes = simulate_drive((47.2, -1.55), T0, 80.0, [Leg(10.0, 15.0)], Receiver(rate_hz=1.0)).fixes
    frames = frame_times(25.0, 10.5)
    matcher: FrameMatcher[int] = FrameMatcher()
    pairs = live_run(fixes, frames, latency_s=0.3, matcher=matcher)
    assert len(pairs) == 37 and matcher.unmatched.total() == 0  # 150 m


def test_camera_stall_leaves_marks_unmatched_and_counted() -> None:
    fixes = simulate_drive((47.2, -1.55), T0, 80.0, [Leg(10.0, 20.0)], Receiver(rate_hz=10.0)).fixes
    frames = [t for t in frame_times(30.0, 10.5) if not 4.0 <= t < 5.0]
    matcher: FrameMatcher[int] = FrameMatcher()
    pairs = live_run(fixes, frames, latency_s=0.1, matcher=matcher)
    stalled = [m for m, _ in pairs if 4.1 < (m.time_utc - T0).total_seconds() < 4.9]
    assert stalled == []
    assert matcher.unmatched["no_frame_near"] == pytest.approx(0.8 * 5.0, abs=1)  # 5 marks/s
    assert len(pairs) + matcher.unmatched.total() == 50


def test_frame_beyond_max_offset_is_not_matched() -> None:
    matcher: FrameMatcher[str] = FrameMatcher(max_offset_s=0.1)
    matcher.add_marks([mark_at(1.0, 1), mark_at(2.0, 2)])
    assert matcher.offer(at(0.85), "early") == []
    assert matcher.offer(at(1.15), "late") == []  # both 0.15 s away: mark 1 resolves unmatched
    assert matcher.unmatched["no_frame_near"] == 1
    assert matcher.offer(at(1.95), "close") == []
    assert matcher.offer(at(2.08), "closer?") == [(mark_at(2.0, 2), "close")]


def test_a_frame_serves_one_mark_only() -> None:
    # A 10 f/s camera and marks 0.04 s apart: the second mark takes the next frame if in reach.
    matcher: FrameMatcher[int] = FrameMatcher(max_offset_s=0.08)
    matcher.add_marks([mark_at(1.00, 1), mark_at(1.04, 2), mark_at(1.06, 3)])
    pairs = [p for k in range(9, 13) for p in matcher.offer(at(k / 10), k)]
    assert [(m.index, frame) for m, frame in pairs] == [(1, 10), (2, 11)]
    assert matcher.unmatched["no_frame_near"] == 1  # mark 3: 10 is taken, 11 taken, 9 too far


def test_flush_resolves_marks_after_the_last_frame() -> None:
    matcher: FrameMatcher[int] = FrameMatcher()
    matcher.add_marks([mark_at(0.52, 1), mark_at(3.0, 2)])
    assert matcher.offer(at(0.5), 5) == []  # mark 1 is after this frame: not resolved yet
    assert matcher.flush() == [(mark_at(0.52, 1), 5)]
    assert matcher.unmatched["no_frame_near"] == 1


def test_out_of_order_frame_is_ignored_and_counted() -> None:
    matcher: FrameMatcher[int] = FrameMatcher()
    matcher.add_marks([mark_at(1.0)])
    matcher.offer(at(0.99), 1)
    assert matcher.offer(at(0.5), 2) == []
    assert matcher.unmatched["frame_out_of_order"] == 1
    assert matcher.offer(at(1.02), 3) == [(mark_at(1.0), 1)]


def test_frames_older_than_keep_s_are_forgotten() -> None:
    matcher: FrameMatcher[int] = FrameMatcher(keep_s=1.0)
    for k in range(50):
        matcher.offer(at(k / 10), k)
    matcher.add_marks([mark_at(0.5, 1), mark_at(4.5, 2)])
    assert matcher.offer(at(5.0), 50) == [(mark_at(4.5, 2), 45)]
    assert matcher.unmatched["no_frame_near"] == 1  # mark 1 came 4.5 s late: its frame is gone


@pytest.mark.parametrize(("offset", "keep"), [(0.0, 3.0), (float("nan"), 3.0), (0.1, 0.05)])
def test_bad_settings_are_refused(offset: float, keep: float) -> None:
    with pytest.raises(ValueError):
        FrameMatcher(max_offset_s=offset, keep_s=keep)
