import numpy as np

from voirie.edge.count.synth import SHAPES, make_scene


def test_scene_has_every_class_both_ways_and_no_overlap_in_a_lane():
    scene = make_scene(duration_s=60.0, width=640, height=360, seed=3)
    truth = scene.truth()
    assert {name for name, _ in truth} == set(SHAPES) and {d for _, d in truth} == {"eastbound", "westbound"}
    assert any(actor.stop_s > 0 for actor in scene.actors)  # the stop-and-go case
    gap = 0.5 * scene.pixels_per_metre  # what the detector's closing would merge
    for t in np.arange(0.0, scene.duration_s, 0.2):
        lanes: dict = {}
        for actor in scene.actors:
            half = SHAPES[actor.class_name][0] * scene.pixels_per_metre / 2
            x = scene.anchor_x(actor, t)
            if x + half < 0 or x - half > scene.width:
                continue  # not in the picture (yet, or any more)
            lanes.setdefault((actor.direction, actor.lane), []).append((x - half, x + half))
        for spans in lanes.values():
            spans.sort()
            assert all(b0 > a1 + gap for (_, a1), (b0, _) in zip(spans, spans[1:])), (t, spans)
