import numpy as np
import pytest

from voirie.edge.count.lines import CountLine


def vertical_line(**kwargs) -> CountLine:
    return CountLine(start=(100, 0), end=(100, 200), directions=("eastbound", "westbound"), **kwargs)


def feed(line: CountLine, tracks: dict[int, list[float]], y: float = 100.0, name: str = "car") -> None:
    steps = max(len(xs) for xs in tracks.values())
    for i in range(steps):
        ids = [tid for tid, xs in tracks.items() if i < len(xs)]
        points = np.array([[tracks[tid][i], y] for tid in ids])
        line.trigger(np.array(ids), points, [name] * len(ids), float(i))


@pytest.mark.parametrize(
    "kwargs",
    [dict(start=(1, 1), end=(1, 1)), dict(start=(0, 0), end=(1, 1), directions=("a", "a")),
     dict(start=(0, 0), end=(1, 1), hysteresis=-1), dict(start=(0, float("nan")), end=(1, 1))],
)
def test_constructor_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        CountLine(**kwargs)


def test_both_directions_are_named_and_counted_once():
    line = vertical_line(hysteresis=5, min_travel=10)
    feed(line, {1: list(range(60, 150, 5)), 2: list(range(150, 60, -5))}, name="bicycle")
    assert line.counts == {"eastbound": {"bicycle": 1}, "westbound": {"bicycle": 1}}
    assert (line.in_count, line.out_count) == (1, 1)


def test_trigger_returns_crossing_masks():
    line = vertical_line(hysteresis=2, min_travel=5)
    line.trigger(np.array([1, 2]), np.array([[90.0, 50], [110.0, 50]]), ["car", "car"], 0.0)
    east, west, events = line.trigger(np.array([1, 2]), np.array([[110.0, 50], [90.0, 50]]), ["car", "car"], 1.0)
    assert east.tolist() == [True, False] and west.tolist() == [False, True]
    assert [e.direction for e in events] == ["eastbound", "westbound"]


def test_vehicle_stopped_on_the_line_counts_once():
    # Drives up, stands on the line jittering by +-4 px (inside the 6 px band) for 100 frames, drives on.
    rng = np.random.default_rng(0)
    xs = list(range(40, 100, 4)) + list(100 + rng.uniform(-4, 4, 100)) + list(range(100, 180, 4))
    line = vertical_line(hysteresis=6, min_travel=15)
    feed(line, {7: xs})
    assert line.counts["eastbound"] == {"car": 1} and line.counts["westbound"] == {}


def test_jitter_across_a_band_without_travel_is_not_counted():
    # Without a band, a box flickering 3 px around the line must still not count (min_travel).
    line = vertical_line(hysteresis=0, min_travel=20)
    feed(line, {3: [97, 103] * 30})
    assert line.in_count == 0 and line.out_count == 0


def test_track_born_on_the_line_counts_in_the_direction_it_leaves():
    line = vertical_line(hysteresis=6, min_travel=15)
    feed(line, {9: [100, 99, 97, 94, 90, 85, 80, 75]}, name="pedestrian")
    assert line.counts["westbound"] == {"pedestrian": 1}


def test_passing_beyond_the_segment_end_is_not_counted():
    line = vertical_line()
    feed(line, {4: list(range(50, 150, 5))}, y=400.0)
    assert line.in_count == 0
