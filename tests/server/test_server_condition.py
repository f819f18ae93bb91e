"""PCI deduct logic, grades and colours, map matching with heading consistency."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString

from voirie.server.condition import (GRADE_COLOURS, corrected_deduct, deduct_value, distress_of, grade_colour,
                                     grade_from_pci, pci_from_quantities)
from voirie.server.matching import SectionIndex


@pytest.mark.parametrize("name, distress", [
    ("D00", "long_trans"), ("transverse_crack", "long_trans"), ("Alligator crack", "alligator"),
    ("D40", "pothole"), ("patch", "patching"), ("manhole", None), ("road_marking_wear", None)])
def test_distress_mapping(name, distress):
    assert distress_of(name) == distress


def test_deduct_curves_rise_with_density_and_stay_in_range():
    for distress in ("alligator", "long_trans", "pothole", "patching", "rutting"):
        values = [deduct_value(distress, d) for d in (0.001, 0.05, 0.5, 5, 50, 100)]
        assert values == sorted(values) and 0 <= values[0] and values[-1] <= 100
    assert deduct_value("long_trans", 0) == 0.0
    assert deduct_value("alligator", 1.0) == 28.0  # a curve point is returned exactly


def test_corrected_deduct_follows_the_d6433_iteration():
    # One deduct: CDV is the deduct itself (q = 1 curve is the identity).
    assert corrected_deduct([40.0]) == pytest.approx(40.0)
    # Two deducts 30 + 20: q=2 → CDV(50) = 37; then [30, 2] q=1 → CDV(32) = 32; max 37.
    assert corrected_deduct([30.0, 20.0]) == pytest.approx(37.0)
    # Deducts at or below 2 do not count toward q; an empty list deducts nothing.
    assert corrected_deduct([1.5, 1.0]) == pytest.approx(2.5)
    assert corrected_deduct([]) == 0.0


def test_pci_and_grade():
    clean = pci_from_quantities({}, 120.0)
    assert (clean.pci, clean.grade) == (100.0, 1.0)
    light = pci_from_quantities({"long_trans": 2.0}, 120.0)
    heavy = pci_from_quantities({"long_trans": 30.0, "alligator": 20.0, "pothole": 3}, 120.0)
    assert 100 > light.pci > heavy.pci >= 0
    assert 1 < light.grade < heavy.grade <= 5
    with pytest.raises(ValueError, match="area"):
        pci_from_quantities({"pothole": 1}, 0)


def test_grade_colour_per_half_step():
    assert grade_from_pci(0) == 5.0 and grade_from_pci(100) == 1.0 and grade_from_pci(50) == 3.0
    assert [grade_colour(g) for g in (1.0, 1.49, 1.5, 2.0, 4.99, 5.0)] == [
        GRADE_COLOURS[0], GRADE_COLOURS[0], GRADE_COLOURS[1], GRADE_COLOURS[2], GRADE_COLOURS[7], GRADE_COLOURS[7]]


def test_matching_nearest_within_tolerance_and_heading_consistent():
    east = LineString([(0, 0), (100, 0)])      # runs east-west
    north = LineString([(50, -50), (50, 50)])  # crosses it north-south
    index = SectionIndex(["east", "north"], [east, north])
    xy = np.array([[48.0, 1.0], [48.0, 1.0], [48.0, 1.0], [10.0, 30.0], [80.0, -3.0]])
    headings = np.array([90.0, 0.0, 270.0, 90.0, np.nan])
    # Near the crossing the heading decides; 30 m away nothing matches; no heading → nearest.
    assert index.match(xy, headings, 15.0, 45.0) == ["east", "north", "east", None, "east"]
    # Heading across both roads (45° off each) with a tight tolerance: unmatched.
    assert index.match(np.array([[48.0, 1.0]]), np.array([45.0]), 15.0, 30.0) == [None]
