"""The default config (shipped detector, lines only) on the shared real clips, against the
hand counts in bench/count_truth/ (skipped when ../shared/data is absent)."""

from collections import Counter
from pathlib import Path

import pytest

from voirie.edge.count.config import load_config
from voirie.edge.count.evaluate import evaluate

TRUTH = Path(__file__).resolve().parents[2] / "bench" / "count_truth"


@pytest.mark.parametrize("clip", ["intel_person-bicycle-car-detection_preview.gif", "bgslibrary_video03.avi"])
def test_default_config_counts_the_cyclist_and_the_lorry_as_such(shared_data, clip):
    video = shared_data / "traffic_videos" / clip
    if not video.exists():
        pytest.skip(f"{clip} not in shared data")
    stem = TRUTH / Path(clip).stem
    result = evaluate(video, stem.with_suffix(".csv"), load_config(stem.with_suffix(".toml")), show_progress=False)
    per_class = Counter()
    for (name, _), n in result.counted.items():
        per_class[name] += n
    if "gif" in clip:  # one car, one cyclist: the cyclist is a bicycle and never also a pedestrian
        assert +per_class == {"car": 1, "bicycle": 1}
        assert result.counted[("bicycle", "right")] == 1 and result.counted[("car", "up")] == 1
    else:  # 26 cars and one box truck, all toward the camera
        assert per_class["truck_bus"] == 1 and abs(per_class["car"] - 26) <= 1
        assert set(per_class) <= {"car", "truck_bus"}
