"""The MILP against brute force, the greedy baseline, budgets, policies and bad input."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from planning_networks import START, random_sections  # noqa: E402

from voirie.server.planning.catalogue import load_catalogue  # noqa: E402
from voirie.server.planning.deterioration import DEFAULT_CURVES  # noqa: E402
from voirie.server.planning.model import PlanningInputError, Scenario, Section  # noqa: E402
from voirie.server.planning.optimiser import greedy_plan, network_pci, solve_scenario  # noqa: E402
from voirie.server.planning.options import build_options  # noqa: E402


def _options(n: int, seed: int, horizon: int, streets: int | None = None):
    return build_options(random_sections(n, seed, streets), load_catalogue(), DEFAULT_CURVES, horizon, START)


def _brute_force(options, budgets: np.ndarray, carry_over: bool) -> float:
    """Best total benefit over every combination of one candidate (or none) per section."""
    per_section = [[None, *np.flatnonzero(options.section == s)] for s in range(len(options.sections))]
    best = 0.0
    for combo in itertools.product(*per_section):
        chosen = np.array([o for o in combo if o is not None], dtype=int)
        spend = options.cost_by_year[chosen].sum(axis=0)
        spent, limit = (np.cumsum(spend), np.cumsum(budgets)) if carry_over else (spend, budgets)
        if np.all(spent <= limit + 1e-6):
            best = max(best, float(options.benefit[chosen].sum()))
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("carry_over", [False, True])
def test_milp_equals_brute_force(seed: int, carry_over: bool) -> None:
    options = _options(5, seed, horizon=2)
    budget = 0.25 * options.cost.sum() / options.horizon
    budgets = np.full(options.horizon, budget)
    choice = solve_scenario(options, Scenario("b", "budget", (budget,), carry_over=carry_over), rel_gap=0.0)
    assert choice.status == "optimal"
    assert options.benefit[choice.selected].sum() == pytest.approx(_brute_force(options, budgets, carry_over),
                                                                   rel=1e-7, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_milp_never_worse_than_greedy(seed: int) -> None:
    options = _options(250, seed, horizon=5)
    budgets = np.full(5, 0.05 * options.cost.sum() / 5)
    choice = solve_scenario(options, Scenario("b", "budget", tuple(budgets)), time_limit=2)
    greedy = greedy_plan(options, budgets)
    assert choice.status in ("optimal", "time_limit")
    assert options.benefit[choice.selected].sum() >= options.benefit[greedy].sum() - 1e-6
    assert len(set(options.section[choice.selected])) == choice.selected.size  # one treatment per section


@pytest.mark.parametrize("carry_over", [False, True])
def test_budget_never_exceeded(carry_over: bool) -> None:
    options = _options(150, 11, horizon=4)
    budgets = np.array([40_000.0, 0.0, 90_000.0, 25_000.0])
    choice = solve_scenario(options, Scenario("b", "budget", tuple(budgets), carry_over=carry_over), time_limit=2)
    spend = options.cost_by_year[choice.selected].sum(axis=0)
    assert spend.sum() > 0
    if carry_over:
        assert np.all(np.cumsum(spend) <= np.cumsum(budgets) + 1e-6)
    else:
        assert np.all(spend <= budgets + 1e-6)
        assert spend[1] == 0.0


def test_unreachable_target_reported() -> None:
    options = _options(40, 3, horizon=3)
    choice = solve_scenario(options, Scenario("t", "target", target_pci=99.9))
    assert choice.status == "infeasible"
    assert "out of reach" in choice.message and "99.9" in choice.message
    assert choice.selected.size == 0


def test_target_and_hold_scenarios_meet_their_floor() -> None:
    options = _options(80, 5, horizon=4)
    today = float(options.area @ options.pci_start[:, 0] / options.total_area)
    hold = solve_scenario(options, Scenario("h", "hold"), time_limit=4)
    assert hold.annual_budget and hold.annual_budget > 0
    assert all(network_pci(options, hold.selected, y) >= today - 1e-6 for y in range(4))
    target = solve_scenario(options, Scenario("t", "target", target_pci=today + 5), time_limit=4)
    assert network_pci(options, target.selected, 3) >= today + 5 - 1e-6
    assert target.annual_budget > hold.annual_budget * 0.5


def test_main_road_policy_holds_or_is_reported() -> None:
    options = _options(60, 8, horizon=3)
    rich = solve_scenario(options, Scenario("p", "budget", (1e9,), main_road_min_pci=45), time_limit=8)
    assert rich.status in ("optimal", "time_limit")
    pci = options.pci_none.copy()
    pci[options.section[rich.selected]] = options.trajectory[rich.selected]
    assert np.all(pci[options.main_road] >= 45 - 1e-6)
    poor = solve_scenario(options, Scenario("p", "budget", (0.0,), main_road_min_pci=45), time_limit=8)
    assert poor.status == "infeasible" and "minimum PCI 45" in poor.message


def test_street_grouping_treats_a_street_in_one_year() -> None:
    options = _options(40, 9, horizon=3, streets=8)
    choice = solve_scenario(options, Scenario("g", "budget", (60_000.0,), group_streets=True), time_limit=8)
    assert choice.selected.size > 0
    years_by_street: dict[str, set[int]] = {}
    for o in choice.selected:
        years_by_street.setdefault(options.sections[options.section[o]].street, set()).add(int(options.year[o]))
    assert all(len(years) == 1 for years in years_by_street.values())


@pytest.mark.parametrize(
    ("scenario", "match"),
    [
        (Scenario("b", "budget", (-5.0,)), "≥ 0"),
        (Scenario("b", "budget", (1.0, 2.0)), "annual budgets for a 3-year plan"),
        (Scenario("x", "magic"), "unknown kind"),
        (Scenario("t", "target"), "target_pci"),
        (Scenario("p", "budget", (1.0,), main_road_min_pci=120), "main_road_min_pci"),
    ],
)
def test_bad_scenarios_raise(scenario: Scenario, match: str) -> None:
    with pytest.raises(PlanningInputError, match=match):
        solve_scenario(_options(5, 0, horizon=3), scenario)


def test_empty_network_and_bad_horizon_raise() -> None:
    with pytest.raises(PlanningInputError, match="no surveyed section"):
        build_options([], load_catalogue(), DEFAULT_CURVES, 5, START)
    with pytest.raises(PlanningInputError, match="horizon"):
        build_options(random_sections(3, 0), load_catalogue(), DEFAULT_CURVES, 11, START)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 25), horizon=st.integers(1, 4),
       budgets=st.lists(st.floats(0, 60_000), min_size=1, max_size=4), carry_over=st.booleans())
def test_property_budget_and_one_treatment(seed: int, n: int, horizon: int, budgets: list[float],
                                           carry_over: bool) -> None:
    options = _options(n, seed, horizon)
    budgets = (budgets * horizon)[:horizon]
    choice = solve_scenario(options, Scenario("b", "budget", tuple(budgets), carry_over=carry_over), time_limit=2)
    spend = options.cost_by_year[choice.selected].sum(axis=0)
    limit = np.array(budgets)
    assert np.all((np.cumsum(spend) <= np.cumsum(limit) + 1e-6) if carry_over else (spend <= limit + 1e-6))
    assert len(set(options.section[choice.selected])) == choice.selected.size
    assert options.benefit[choice.selected].sum() >= options.benefit[greedy_plan(options, limit, carry_over)].sum() - 1e-6


def test_new_network_needs_nothing_and_one_section_gets_a_budget() -> None:
    new = [Section(f"n{i}", "rue", "local", 100, 6, 100.0) for i in range(3)]
    options = build_options(new, load_catalogue(), DEFAULT_CURVES, 1, START)
    assert options.cost.size == 0
    assert solve_scenario(options, Scenario("b", "budget", (1000.0,))).status == "optimal"
    reach = solve_scenario(options, Scenario("t", "target", target_pci=75))
    assert reach.status == "optimal" and reach.annual_budget == 0.0
    single = build_options([Section("s", "rue", "local", 100, 6, 30.0)], load_catalogue(), DEFAULT_CURVES, 3, START)
    target = solve_scenario(single, Scenario("t", "target", target_pci=75), time_limit=3)
    # PCI 30 is in the mill-and-inlay window (25–60): 600 m² × 35 €/m² beats reconstruction.
    assert target.annual_budget == pytest.approx(21_000.0)
    assert single.treatments[single.treatment[target.selected[0]]].name == "mill_and_inlay"


def test_preventive_then_major_sequences() -> None:
    from voirie.server.planning.scenarios import section_works

    options = _options(60, 12, horizon=5)
    pairs = np.flatnonzero(options.second_treatment >= 0)
    assert pairs.size > 0
    majors = {t.name for t in options.treatments if t.major}
    for o in pairs[:20]:
        first, second = section_works(options, int(o))
        assert first.treatment not in majors and second.treatment in majors  # one major works at most
        assert first.year < second.year and first.cost + second.cost == pytest.approx(options.cost[o])
        assert second.pci_after > second.pci_before
    single = _options(60, 12, horizon=5).cost.size
    assert build_options(random_sections(60, 12), load_catalogue(), DEFAULT_CURVES, 5, START,
                         sequences=False).cost.size == single - pairs.size
