"""Choose treatment × section × year with a MILP (HiGHS), per scenario kind.

Variables: one binary per candidate (``OptionSet``). Rows: at most one treatment per
section over the horizon; annual budgets (or cumulative ones when unspent budget carries
over); the minimum-PCI policy on main roads; street grouping (a street's sections are
treated in the same year). ``hold`` and ``target`` first find the least constant annual
budget (PAVER's "budget needed" mode), then maximise condition under it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from voirie.server.planning.milp import INF, MilpBuilder, MilpSolution
from voirie.server.planning.model import PlanningInputError, Scenario
from voirie.server.planning.options import OptionSet

logger = logging.getLogger(__name__)

KINDS = ("do_nothing", "budget", "hold", "target", "unconstrained")
# Tie-break: among plans of equal condition prefer the cheaper one, never trade condition for it.
COST_TIE_BREAK = 1e-9


@dataclass(frozen=True)
class Choice:
    """Chosen candidate indices and how the solver got there."""

    selected: np.ndarray
    status: str
    message: str
    annual_budget: float | None = None
    objective: float = 0.0
    gap: float = 0.0
    seconds: float = 0.0


def annual_budgets(scenario: Scenario, horizon: int) -> np.ndarray:
    """The scenario's budgets, one per year (a single value repeats); negatives refused."""
    budgets = np.asarray(scenario.annual_budgets, dtype=float)
    if budgets.size == 1:
        budgets = np.repeat(budgets, horizon)
    if budgets.size != horizon:
        raise PlanningInputError(f"scenario {scenario.name!r}: {budgets.size} annual budgets for a {horizon}-year plan")
    if np.any(~np.isfinite(budgets)) or np.any(budgets < 0):
        raise PlanningInputError(f"scenario {scenario.name!r}: budgets must be ≥ 0, got {budgets.tolist()}")
    return budgets


def _base(options: OptionSet, objective: np.ndarray, maximize: bool) -> tuple[MilpBuilder, np.ndarray]:
    model = MilpBuilder(maximize=maximize)
    x = model.add_columns(objective, 0.0, 1.0, integer=True)
    model.add_rows_grouped(options.section, x, np.ones(x.size), len(options.sections), upper=1.0)
    return model, x


def _budget_rows(model: MilpBuilder, options: OptionSet, x: np.ndarray, budgets: np.ndarray | None,
                 budget_col: int | None, carry_over: bool) -> None:
    """Spending per year ≤ budget; with carry-over, spending to date ≤ budgets to date."""
    for y in range(1, options.horizon + 1):
        spend = options.cost_by_year[:, :y].sum(axis=1) if carry_over else options.cost_by_year[:, y - 1]
        in_scope = spend > 0
        cols, coefs = x[in_scope], spend[in_scope]
        scale = float(y) if carry_over else 1.0
        if budget_col is None:
            limit = float(budgets[:y].sum() if carry_over else budgets[y - 1])
            model.add_row(cols, coefs, upper=limit)
        else:
            model.add_row(np.append(cols, budget_col), np.append(coefs, -scale), upper=0.0)


def _policy_rows(model: MilpBuilder, options: OptionSet, x: np.ndarray, min_pci: float) -> str | None:
    """Main roads stay at or above ``min_pci`` every year; returns why it cannot, if so."""
    for y in range(options.horizon):
        short = options.main_road & (options.pci_none[:, y] < min_pci)
        if not short.any():
            continue
        in_scope = short[options.section]
        best = np.full(len(options.sections), -INF)
        np.maximum.at(best, options.section[in_scope], options.trajectory[in_scope, y])
        hopeless = np.flatnonzero(short & (best < min_pci))
        if hopeless.size:
            ids = [options.sections[i].section_id for i in hopeless[:5]]
            return (f"main-road minimum PCI {min_pci:g} cannot hold in year {y + 1}: no treatment in the "
                    f"catalogue keeps section(s) {ids} above it")
        sec = options.section[in_scope]
        gain = options.trajectory[in_scope, y] - options.pci_none[sec, y]
        need = np.zeros(len(options.sections))
        need[short] = min_pci - options.pci_none[short, y]
        remap = np.cumsum(short) - 1  # row number of each short section
        model.add_rows_grouped(remap[sec], x[in_scope], gain, int(short.sum()), lower=need[short])
    return None


def _group_rows(model: MilpBuilder, options: OptionSet, x: np.ndarray) -> None:
    """A street's sections are all treated in the same year (those with a candidate then)."""
    streets: dict[str, list[int]] = {}
    for i, section in enumerate(options.sections):
        streets.setdefault(section.street, []).append(i)
    for members in (m for m in streets.values() if len(m) > 1):
        z = model.add_columns(np.zeros(options.horizon), 0.0, 1.0, integer=True)
        model.add_row(z, np.ones(z.size), upper=1.0)
        for y in range(1, options.horizon + 1):
            for i in members:
                cols = x[(options.section == i) & (options.year == y)]
                if cols.size:
                    model.add_row(np.append(cols, z[y - 1]), np.append(np.ones(cols.size), -1.0), 0.0, 0.0)


def _condition_rows(model: MilpBuilder, options: OptionSet, x: np.ndarray, floor: float, years: range) -> None:
    """Area-weighted network PCI ≥ ``floor`` at the end of each year in ``years`` (0-based)."""
    area = options.area[options.section]
    for y in years:
        gain = area * (options.trajectory[:, y] - options.pci_none[options.section, y])
        model.add_row(x, gain, lower=floor * options.total_area - float(options.area @ options.pci_none[:, y]))


def _constrain(model: MilpBuilder, options: OptionSet, x: np.ndarray, scenario: Scenario) -> str | None:
    if scenario.main_road_min_pci is not None:
        reason = _policy_rows(model, options, x, scenario.main_road_min_pci)
        if reason:
            return reason
    if scenario.group_streets:
        _group_rows(model, options, x)
    return None


def _choice(options: OptionSet, solution: MilpSolution, x: np.ndarray, message: str,
            annual_budget: float | None = None) -> Choice:
    feasible = solution.status in ("optimal", "time_limit")
    selected = np.flatnonzero(solution.values[x] > 0.5) if feasible else np.empty(0, int)
    if solution.status == "time_limit":
        message += f" (stopped at the time limit, optimality gap {solution.gap:.2%})"
    return Choice(selected, solution.status, message, annual_budget, solution.objective, solution.gap, solution.seconds)


def _infeasible(message: str) -> Choice:
    logger.info("scenario infeasible: %s", message)
    return Choice(np.empty(0, int), "infeasible", message)


def solve_budget(options: OptionSet, scenario: Scenario, budgets: np.ndarray | None, time_limit: float,
                 rel_gap: float, condition: tuple[float, range] | None = None, years: range | None = None) -> Choice:
    """Maximise area-weighted condition (mean over ``years``, default all) under ``budgets``."""
    benefit = options.benefit if years is None else options.benefit_over(years)
    model, x = _base(options, benefit - COST_TIE_BREAK * options.cost, maximize=True)
    reason = _constrain(model, options, x, scenario)
    if reason:
        return _infeasible(reason)
    if budgets is not None:
        _budget_rows(model, options, x, budgets, None, scenario.carry_over)
    if condition is not None:
        _condition_rows(model, options, x, *condition)
    start = None
    if budgets is not None:
        # The benefit/cost ranking is a feasible incumbent for the budget rows, so the MILP
        # can only improve on it (HiGHS drops it if a policy or grouping row rejects it).
        start = np.zeros(model.n_cols)
        start[x[greedy_plan(options, budgets, scenario.carry_over, benefit)]] = 1.0
    solution = model.solve(time_limit=time_limit, rel_gap=rel_gap, start=start)
    if solution.status == "no_solution":
        return _infeasible(f"no feasible plan found within the {time_limit:g} s time limit; allow more time")
    if solution.status == "infeasible":
        limits = "no budget limit" if budgets is None else f"annual budgets {np.round(budgets).tolist()}"
        policy = (f", main-road minimum PCI {scenario.main_road_min_pci:g}"
                  if scenario.main_road_min_pci is not None else "")
        return _infeasible(f"no plan satisfies {limits}{policy}"
                           f"{', street grouping' if scenario.group_streets else ''}: raise the budget or relax "
                           "the policy (the 'hold' and 'target' scenarios compute the budget needed)")
    return _choice(options, solution, x, "plan found")


def best_possible_pci(options: OptionSet, year: int) -> float:
    """Network PCI at the end of ``year`` (0-based) with unlimited budget, one treatment each."""
    best = options.pci_none[:, year].copy()
    np.maximum.at(best, options.section, options.trajectory[:, year])
    return float(options.area @ best / options.total_area)


def network_pci(options: OptionSet, selected: np.ndarray, year: int) -> float:
    """Area-weighted network PCI at the end of ``year`` (0-based) with the works ``selected``."""
    pci = options.pci_none[:, year].copy()
    pci[options.section[selected]] = options.trajectory[selected, year]
    return float(options.area @ pci / options.total_area)


def _budget_bound(options: OptionSet, scenario: Scenario, floor: float, years: range, time_limit: float) -> float:
    """LP lower bound on the constant annual budget that keeps network PCI ≥ ``floor``."""
    model, x = _base(options, np.zeros(options.cost.size), maximize=False)
    budget_col = int(model.add_columns(np.ones(1), 0.0, INF, integer=False)[0])
    _budget_rows(model, options, x, None, budget_col, scenario.carry_over)
    _condition_rows(model, options, x, floor, years)
    bound = model.solve(time_limit=time_limit, relax=True)
    return float(bound.values[budget_col]) if bound.status == "optimal" else 0.0


# Budgets tried above the LP bound, in order, then doubling up to a budget that funds every
# section's dearest works; the first whose best plan meets the floor is then narrowed by
# bisection against the last one that did not.
BUDGET_LADDER = (1.0, 1.01, 1.03, 1.07, 1.15, 1.3)
MAX_BISECTIONS = 6


def _meets(options: OptionSet, scenario: Scenario, budget: float, floor: float, years: range,
           time_limit: float, rel_gap: float) -> Choice | None:
    """The best plan under ``budget`` if it keeps network PCI ≥ ``floor`` in ``years``."""
    choice = solve_budget(options, scenario, np.full(options.horizon, budget), time_limit, rel_gap, years=years)
    if choice.status == "infeasible" or any(network_pci(options, choice.selected, y) < floor - 1e-6 for y in years):
        return None
    return choice


def _ladder(bound: float, ceiling: float) -> list[float]:
    """Budgets to try, increasing, ending at ``ceiling`` (> 0)."""
    base = max(bound, ceiling * 1e-3)  # a zero LP bound must not stall the doubling
    budgets = [base * f for f in BUDGET_LADDER if base * f < ceiling]
    while budgets and budgets[-1] * 2 < ceiling:
        budgets.append(budgets[-1] * 2)
    return [*budgets, ceiling]


def solve_needed(options: OptionSet, scenario: Scenario, floor: float, years: range,
                 time_limit: float, rel_gap: float) -> Choice:
    """Least constant annual budget keeping network PCI ≥ ``floor`` in ``years``, and its plan.

    The LP relaxation bounds the budget from below (PAVER's "budget needed"); the plan
    maximising condition in ``years`` under a budget is kept once it meets the floor.
    The gap reported is how far above the bound the budget found is.
    """
    for y in years:
        best = best_possible_pci(options, y)
        if best < floor - 1e-9:
            return _infeasible(f"network PCI {floor:.1f} is out of reach in year {y + 1}: even with unlimited "
                               f"budget the catalogue gets it to {best:.1f} at most")
    dearest = np.zeros(len(options.sections))
    np.maximum.at(dearest, options.section, options.cost)
    bound = _budget_bound(options, scenario, floor, years, time_limit / 4)
    step = max(0.5, time_limit / 10)
    low, high, found = 0.0, 0.0, None
    for budget in _ladder(bound, max(float(dearest.sum()), bound, 1.0)):
        found = _meets(options, scenario, budget, floor, years, step, rel_gap)
        if found is not None:
            high = budget
            break
        low = budget
    if found is None:
        return _infeasible(f"no plan keeps network PCI ≥ {floor:.1f} with the scenario's policies")
    for _ in range(MAX_BISECTIONS):
        if high - low <= 0.01 * high:
            break
        middle = (low + high) / 2
        better = _meets(options, scenario, middle, floor, years, step, rel_gap)
        low, high, found = (low, middle, better) if better is not None else (middle, high, found)
    # The plan's own largest annual spend is a budget that works too, and never a larger one.
    high = min(high, float(options.cost_by_year[found.selected].sum(axis=0).max(initial=0.0)))
    gap = 1.0 - bound / high if high > 0 else 0.0
    return Choice(found.selected, "optimal" if gap <= rel_gap else "time_limit",
                  f"least annual budget {high:,.0f} € (at most {gap:.1%} above the lower bound)",
                  high, found.objective, gap, found.seconds)


def solve_scenario(options: OptionSet, scenario: Scenario, time_limit: float = 60.0,
                   rel_gap: float = 1e-4) -> Choice:
    """Dispatch on ``scenario.kind``; see the module docstring."""
    if scenario.kind not in KINDS:
        raise PlanningInputError(f"scenario {scenario.name!r}: unknown kind {scenario.kind!r}; expected one of {KINDS}")
    if scenario.main_road_min_pci is not None and not 0 <= scenario.main_road_min_pci <= 100:
        raise PlanningInputError(f"scenario {scenario.name!r}: main_road_min_pci must be 0–100")
    horizon = options.horizon
    if scenario.kind == "do_nothing":
        return Choice(np.empty(0, int), "optimal", "no works")
    if options.cost.size == 0 and scenario.kind in ("budget", "unconstrained"):
        return Choice(np.empty(0, int), "optimal", "no treatment of the catalogue applies in the horizon")
    if scenario.kind == "budget":
        return solve_budget(options, scenario, annual_budgets(scenario, horizon), time_limit, rel_gap)
    if scenario.kind == "unconstrained":
        return solve_budget(options, scenario, None, time_limit, rel_gap)
    if scenario.kind == "hold":
        today = float(options.area @ options.pci_start[:, 0] / options.total_area)
        return solve_needed(options, scenario, today, range(horizon), time_limit, rel_gap)
    if scenario.target_pci is None or not 0 <= scenario.target_pci <= 100:
        raise PlanningInputError(f"scenario {scenario.name!r}: target_pci must be 0–100, got {scenario.target_pci}")
    return solve_needed(options, scenario, scenario.target_pci, range(horizon - 1, horizon), time_limit, rel_gap)


def greedy_plan(options: OptionSet, budgets: np.ndarray, carry_over: bool = False,
                benefit: np.ndarray | None = None) -> np.ndarray:
    """Benefit/cost ranking (HDM-4's incremental ratio, simplified): the baseline to beat."""
    benefit = options.benefit if benefit is None else benefit
    order = np.argsort(-(benefit / options.cost), kind="stable")
    spent = np.zeros(options.horizon)
    taken = np.zeros(len(options.sections), dtype=bool)
    chosen = []
    for o in order:
        s = options.section[o]
        if taken[s] or benefit[o] <= 0:
            continue
        trial = spent + options.cost_by_year[o]
        fits = (np.cumsum(trial) <= np.cumsum(budgets) + 1e-6).all() if carry_over else (trial <= budgets + 1e-6).all()
        if fits:
            spent, taken[s] = trial, True
            chosen.append(o)
    return np.array(sorted(chosen), dtype=int)
