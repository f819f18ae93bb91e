"""What a counted object is: labels merged, riders merged into their two-wheeler, size evidence,
and the class voted over a track's whole life."""

import numpy as np
import pytest

from voirie.edge.count.classes import (BICYCLE, CAR, MOTORCYCLE, PEDESTRIAN, TRUCK_BUS, CarScale, ClassVote, Objects,
                                       ground_size_evidence, merge_labels, merge_riders, relative_size_evidence, rides)
from voirie.edge.count.config import CLASSES
from voirie.edge.count.pipeline import ScaleGround


def objects(*rows):
    """Objects from (box, {class: score}) rows."""
    scores = np.zeros((len(rows), len(CLASSES)), np.float32)
    for i, (_, evidence) in enumerate(rows):
        for cls, value in evidence.items():
            scores[i, cls] = value
    return Objects(np.array([box for box, _ in rows], np.float32).reshape(-1, 4), scores)


def test_one_box_under_several_labels_is_one_object_with_evidence_for_each():
    xyxy = np.array([[100, 100, 200, 180], [102, 101, 199, 181], [400, 100, 450, 200]], np.float32)
    found = merge_labels(xyxy, np.array([CAR, TRUCK_BUS, PEDESTRIAN]), np.array([0.5, 0.4, 0.8], np.float32))
    assert len(found.xyxy) == 2
    van = int(np.argmax(found.scores[:, CAR]))
    assert found.scores[van, CAR] == pytest.approx(0.5) and found.scores[van, TRUCK_BUS] == pytest.approx(0.4)
    assert found.confidence()[van] == pytest.approx(1 - 0.5 * 0.6)  # either label may be right


def test_a_person_box_that_is_also_a_bicycle_box_is_one_cyclist():
    xyxy = np.array([[10, 10, 40, 60], [11, 10, 40, 61]], np.float32)
    found = merge_labels(xyxy, np.array([PEDESTRIAN, BICYCLE]), np.array([0.4, 0.2], np.float32))
    assert len(found.xyxy) == 1 and found.scores[0, PEDESTRIAN] == 0
    assert found.best_class()[0] == BICYCLE and found.scores[0, BICYCLE] == pytest.approx(1 - 0.6 * 0.8)


def test_a_vehicle_box_inside_a_bigger_one_is_a_part_of_it():
    xyxy = np.array([[0, 0, 300, 200], [20, 20, 120, 120]], np.float32)  # a lorry and its cab
    found = merge_labels(xyxy, np.array([TRUCK_BUS, CAR]), np.array([0.7, 0.6], np.float32))
    assert len(found.xyxy) == 1 and found.best_class()[0] == TRUCK_BUS


@pytest.mark.parametrize("person, on", [
    ((112, 40, 138, 110), True),   # riding: centred, feet on the pedals, head above
    ((135, 55, 160, 122), True),   # pushing it beside the wheel: counted as the bicycle (our call)
    ((220, 40, 250, 120), False),  # walking past, a metre away
    ((110, 130, 140, 200), False),  # below the bicycle: someone nearer the camera
])
def test_rides(person, on):
    bicycle = np.array([90, 70, 160, 120], np.float32)
    assert rides(np.array(person, np.float32), bicycle) is on


def test_a_rider_becomes_part_of_the_two_wheeler_never_a_pedestrian():
    found = merge_riders(objects(((90, 70, 160, 120), {MOTORCYCLE: 0.3}), ((112, 40, 138, 110), {PEDESTRIAN: 0.6}),
                                 ((300, 40, 330, 120), {PEDESTRIAN: 0.7})))
    assert sorted(found.best_class().tolist()) == [PEDESTRIAN, MOTORCYCLE]
    motorcycle = found.xyxy[found.best_class() == MOTORCYCLE][0]
    assert motorcycle.tolist() == [90, 40, 160, 120]  # the rider's head is in the box
    assert found.scores[found.best_class() == MOTORCYCLE][0, MOTORCYCLE] == pytest.approx(1 - 0.7 * 0.4)


def test_a_cyclist_seen_mostly_as_a_lone_person_is_one_bicycle():
    vote = ClassVote(rider_share=0.3)
    for _ in range(8):  # the bicycle hidden or too small to detect
        vote.add([7], objects(((0, 0, 1, 1), {PEDESTRIAN: 0.4})).scores)
    for _ in range(3):
        vote.add([7], objects(((0, 0, 1, 1), {BICYCLE: 0.6})).scores)
    assert vote.decide(7) == BICYCLE
    vote.add([8], objects(((0, 0, 1, 1), {PEDESTRIAN: 0.8, BICYCLE: 0.1})).scores)
    for _ in range(9):
        vote.add([8], objects(((0, 0, 1, 1), {PEDESTRIAN: 0.8})).scores)
    assert vote.decide(8) == PEDESTRIAN  # a walker passing a parked bicycle for one frame


def test_a_van_does_not_flip_between_car_and_truck():
    vote = ClassVote()
    for frame in range(20):
        car, truck = (0.55, 0.4) if frame % 3 else (0.4, 0.55)  # truck wins one frame in three
        vote.add([3], objects(((0, 0, 1, 1), {CAR: car, TRUCK_BUS: truck})).scores)
    assert vote.decide(3) == CAR
    assert vote.mean_confidence(3) > 0.7
    with pytest.raises(KeyError):
        vote.decide(99)


def test_a_car_sized_motorcycle_hint_does_not_make_a_car_a_two_wheeler():
    vote = ClassVote()
    vote.add([1], objects(((0, 0, 1, 1), {CAR: 0.9, MOTORCYCLE: 0.1})).scores)
    assert vote.decide(1) == CAR


def test_ground_size_moves_car_and_truck_evidence():
    ground = ScaleGround(pixels_per_metre=20.0)  # side-on: box width is the length
    found = ground_size_evidence(objects(((0, 100, 200, 160), {CAR: 0.6, TRUCK_BUS: 0.3}),   # 10 m: a lorry
                                         ((0, 100, 90, 130), {TRUCK_BUS: 0.5, CAR: 0.2}),    # 4.5 m: a pickup
                                         ((0, 100, 130, 135), {TRUCK_BUS: 0.5})), ground)    # 6.5 m: left to labels
    assert found.best_class().tolist() == [TRUCK_BUS, CAR, TRUCK_BUS]
    assert ground_size_evidence(found, None) is found


def test_lorries_are_found_by_size_relative_to_the_scene_s_cars():
    scale = CarScale(min_samples=20)
    rng = np.random.default_rng(1)
    for _ in range(40):  # cars grow with the row of their bottom edge (a flat road seen from above)
        y = rng.uniform(80, 240)
        size = 0.4 * y * rng.uniform(0.95, 1.05)
        scale.learn(objects(((100, y - size, 100 + size, y), {CAR: 0.8})))
    lorry = objects(((100, 80, 200, 180), {CAR: 0.6, TRUCK_BUS: 0.3}), ((100, 133, 189, 222), {CAR: 0.7}))
    assert scale.relative(lorry.xyxy) == pytest.approx([100 / 72, 1.0], abs=0.06)
    found = relative_size_evidence(lorry, scale)
    assert found.best_class().tolist() == [TRUCK_BUS, CAR]
    assert np.isnan(CarScale().relative(lorry.xyxy)).all()  # nothing learnt yet: no opinion


def test_objects_refuse_wrong_shapes():
    with pytest.raises(ValueError, match="scores"):
        Objects(np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32))
