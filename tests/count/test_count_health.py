import numpy as np

from voirie.edge.count.config import HealthConfig
from voirie.edge.count.health import StreamHealth, light_mode


def noisy(rng, base=(120, 90, 60)):
    image = np.empty((180, 320, 3), np.uint8)
    image[:] = base
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)


def test_identical_frames_become_frozen_after_the_delay():
    rng = np.random.default_rng(1)
    health = StreamHealth(HealthConfig(frozen_after_s=2.0))
    frame = noisy(rng)
    states = [health.check(frame, t * 0.5).frozen for t in range(8)]  # same picture for 3.5 s
    assert states == [False] * 5 + [True] * 3
    assert health.check(noisy(rng), 4.0).frozen is False  # live again


def test_live_noise_is_never_frozen():
    rng = np.random.default_rng(2)
    health = StreamHealth(HealthConfig(frozen_after_s=1.0))
    assert not any(health.check(noisy(rng), t * 0.5).frozen for t in range(20))


def test_light_modes_and_switch():
    rng = np.random.default_rng(3)
    assert light_mode(noisy(rng))[0] == "day"
    assert light_mode(noisy(rng, (25, 20, 15)))[0] == "night"
    assert light_mode(noisy(rng, (70, 70, 70)))[0] == "ir"
    health = StreamHealth(HealthConfig(mode_confirm_s=1.0))
    assert not health.check(noisy(rng), 0.0).mode_changed
    ir = health.check(noisy(rng, (40, 40, 40)), 0.1)  # into IR: at once
    assert ir.mode == "ir" and ir.mode_changed and ir.gain > 1.0
    assert StreamHealth.apply_gain(np.full((2, 2, 3), 40, np.uint8), ir.gain).mean() > 40
    day = [health.check(noisy(rng), 0.2 + 0.1 * i) for i in range(12)]
    assert [h.mode_changed for h in day].index(True) == 10  # out of IR: once colour held for 1 s
    assert day[10].mode == "day" and health.mode_changes == 2


def test_a_short_burst_of_colour_in_a_grey_scene_is_not_a_light_switch():
    rng = np.random.default_rng(4)
    health = StreamHealth(HealthConfig())  # a grey car park: near-monochrome, read as "ir"
    frames = [noisy(rng, (70, 70, 70)) if not 10 <= i < 25 else noisy(rng) for i in range(40)]  # 1.5 s of colour
    modes = [health.check(frame, 0.1 * i) for i, frame in enumerate(frames)]
    assert health.mode_changes == 0 and {m.mode for m in modes} == {"ir"}
