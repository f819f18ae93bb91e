"""A rider tracked apart from the bicycle for a whole crossing is still one bicycle, and a
pedestrian crossing elsewhere is still a pedestrian (detections replayed as a model gave them)."""

from datetime import datetime, timedelta, timezone

import numpy as np

from voirie.edge.count.config import CLASSES, parse_config
from voirie.edge.count.pipeline import Counter
from voirie.records import Detections, Frame

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


class ReplayDetector:
    """Recorded detections, one list of (box, class name, score) per frame."""

    def __init__(self, frames: list[list[tuple[tuple[float, ...], str, float]]]) -> None:
        self.frames = iter(frames)

    def detect(self, pixels: np.ndarray) -> Detections:
        found = next(self.frames)
        if not found:
            return Detections.empty(CLASSES)
        return Detections(xyxy=np.array([box for box, _, _ in found], np.float32),
                          confidence=np.array([score for _, _, score in found], np.float32),
                          class_id=np.array([CLASSES.index(name) for _, name, _ in found], np.int64),
                          class_names=CLASSES)

    def reset(self) -> None:
        """Nothing to forget."""


def _scene(frames: int = 40) -> list:
    """A cyclist riding right whose person box sits just off the bicycle's (so the per-frame
    rider test fails: two tracks), and a pedestrian walking left lower down, crossing at the same time."""
    out = []
    for i in range(frames):
        x = 60 + 10 * i
        out.append([((x, 150, x + 60, 200), "bicycle", 0.8), ((x - 30, 80, x + 10, 200), "pedestrian", 0.8),
                    ((520 - 10 * i, 300, 560 - 10 * i, 420), "pedestrian", 0.8)])
    return out


def test_a_rider_tracked_apart_is_not_also_a_pedestrian():
    config = parse_config({"bin_seconds": 60, "lines": [{"id": "l", "start": [250, 0], "end": [250, 480],
                                                         "directions": ["east", "west"]}]})
    scene = _scene()
    counter = Counter(config, detector=ReplayDetector(scene), frame_rate=10.0)
    rng = np.random.default_rng(0)
    for i in range(len(scene)):
        pixels = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        counter.process(Frame(pixels=pixels, monotonic_s=i * 0.1, time_utc=T0 + timedelta(seconds=i * 0.1),
                              camera_id="c", sequence=i))
    counter.finish()
    assert counter.totals()["l"] == {"east": {"bicycle": 1}, "west": {"pedestrian": 1}}
    assert counter.stats.riders == 1
