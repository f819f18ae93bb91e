"""Family curves: defaults through their anchors, recalibration recovers known curves."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from voirie.server.planning.deterioration import (DEFAULT_CURVES, FamilyCurve, family_of, fit_curve, recalibrate,
                                                  survey_pairs)
from voirie.server.planning.model import PlanningInputError, Section


def test_default_asphalt_curves_pass_through_their_anchors() -> None:
    local = DEFAULT_CURVES["local/asphalt"]
    assert float(local.pci_at(12.0)) == pytest.approx(70.0, abs=1e-6)
    assert float(local.pci_at(20.0)) == pytest.approx(40.0, abs=1e-6)
    # Main roads carry heavier traffic: they age faster than local streets.
    assert DEFAULT_CURVES["main/asphalt"].pci_at(10.0) < local.pci_at(10.0)
    assert float(local.age_at(local.pci_at(7.5))) == pytest.approx(7.5)


@pytest.mark.parametrize(("a", "b"), [(0.8, 1.5), (2.0, 1.1), (0.3, 2.2)])
def test_fit_recovers_known_curve_from_noisy_pairs(a: float, b: float) -> None:
    truth = FamilyCurve("x", a, b)
    rng = np.random.default_rng(1)
    # Surveys where PCI lies in 20–95, as in a real network (no clipping at 0 or 100).
    gaps = rng.uniform(1, 4, 300)
    ages = rng.uniform(float(truth.age_at(95.0)), float(truth.age_at(20.0)) - gaps)
    before = truth.pci_at(ages) + rng.normal(0, 0.5, 300)
    after = truth.pci_at(ages + gaps) + rng.normal(0, 0.5, 300)
    fitted = fit_curve("x", before, after, gaps)
    assert fitted.b == pytest.approx(b, rel=0.08)
    # Compare the curves where the data lies rather than the correlated coefficients.
    grid = np.linspace(float(truth.age_at(95.0)), float(truth.age_at(20.0)), 9)
    assert np.max(np.abs(fitted.pci_at(grid) - truth.pci_at(grid))) < 2.5
    assert fitted.n_pairs == 300 and fitted.rmse < 1.5


def _history(sections: list[Section], curve: FamilyCurve, seed: int) -> dict[str, list[tuple[date, float]]]:
    rng = np.random.default_rng(seed)
    history = {}
    for s in sections:
        age = rng.uniform(2, 12)
        dates = [date(2020, 5, 1) + timedelta(days=int(365.25 * k)) for k in range(3)]
        history[s.section_id] = [(d, float(curve.pci_at(age + k))) for k, d in enumerate(dates)]
    return history


def test_recalibrate_replaces_only_families_with_history() -> None:
    sections = [Section(f"r{i}", "rue", "residential", 100, 6, 70.0) for i in range(20)]
    sections.append(Section("m1", "avenue", "primary", 100, 9, 60.0))
    truth = FamilyCurve("local/asphalt", 1.6, 1.25)
    curves = recalibrate(sections, _history(sections[:20], truth, 3))
    local = curves["local/asphalt"]
    assert local.n_pairs == 40
    assert local.a == pytest.approx(1.6, rel=0.02) and local.b == pytest.approx(1.25, rel=0.02)
    assert curves["main/asphalt"] is DEFAULT_CURVES["main/asphalt"]  # one survey only: default kept


def test_pairs_with_works_in_between_are_left_out() -> None:
    history = {"a": [(date(2020, 1, 1), 60.0), (date(2021, 1, 1), 55.0), (date(2022, 1, 1), 95.0)]}
    assert survey_pairs(history) == {"a": [(60.0, 55.0, pytest.approx(1.0, abs=0.01))]}


def test_families_and_bad_fits() -> None:
    assert family_of(Section("a", "s", "Primary", 1, 1, 50, surface="concrete")) == "main/concrete"
    assert family_of(Section("a", "s", "weird", 1, 1, 50, surface="gravel")) == "local/asphalt"
    assert family_of(Section("a", "s", "trunk_link", 1, 1, 50)) == "main/asphalt"
    assert family_of(Section("a", "s", "tertiary", 1, 1, 50)) == "collector/asphalt"
    with pytest.raises(PlanningInputError, match="non-empty"):
        fit_curve("x", np.array([]), np.array([]), np.array([]))
    with pytest.raises(PlanningInputError, match="a day apart"):
        fit_curve("x", np.array([70.0]), np.array([60.0]), np.array([0.0]))
