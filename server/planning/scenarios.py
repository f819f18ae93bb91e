"""Run a scenario set on a network and summarise each scenario year by year."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone

import numpy as np

from voirie.server.planning.catalogue import load_catalogue
from voirie.server.planning.deterioration import DEFAULT_CURVES, FamilyCurve
from voirie.server.planning.model import (Plan, PlanningInputError, Scenario, ScenarioResult, Section, SectionWork,
                                          Treatment, YearSummary)
from voirie.server.planning.optimiser import Choice, annual_budgets, solve_scenario
from voirie.server.planning.options import OptionSet, build_options

logger = logging.getLogger(__name__)

# ASTM D6433 PCI rating bands (lower bound, name), best first.
BANDS = ((86, "good"), (71, "satisfactory"), (56, "fair"), (41, "poor"), (26, "very poor"), (11, "serious"),
         (0, "failed"))
BACKLOG_PCI = 55.0  # below this a section needs structural works: its cost counts as backlog


def default_scenarios(budgets: Iterable[float], target_pci: float | None = 75.0,
                      main_road_min_pci: float | None = None, carry_over: bool = False,
                      group_streets: bool = False) -> list[Scenario]:
    """Do nothing, one scenario per budget, hold today's condition, reach a target, unconstrained."""
    common = dict(carry_over=carry_over, group_streets=group_streets, main_road_min_pci=main_road_min_pci)
    scenarios = [Scenario("do nothing", "do_nothing")]
    for budget in budgets:
        if budget < 0:
            raise PlanningInputError(f"budget must be ≥ 0, got {budget}")
        scenarios.append(Scenario(f"budget {budget / 1e6:g} M€/yr", "budget", (float(budget),), **common))
    scenarios.append(Scenario("hold today's condition", "hold", **common))
    if target_pci is not None:
        scenarios.append(Scenario(f"reach PCI {target_pci:g}", "target", target_pci=target_pci, **common))
    scenarios.append(Scenario("unconstrained", "unconstrained", **common))
    return scenarios


def band_of(pci: np.ndarray) -> np.ndarray:
    """Index into ``BANDS`` for each PCI."""
    floors = np.array([b[0] for b in BANDS])
    return np.argmax(np.asarray(pci)[:, None] >= floors[None, :], axis=1)


def _backlog_unit_cost(pci: np.ndarray, treatments: tuple[Treatment, ...]) -> np.ndarray:
    """€/m² of the cheapest major treatment applicable at each PCI (dearest one as fallback)."""
    majors = [t for t in treatments if t.major] or list(treatments)
    fallback = max(t.cost_per_m2 for t in majors)
    unit = np.full(pci.shape, fallback)
    for t in sorted(majors, key=lambda t: -t.cost_per_m2):
        unit = np.where((pci >= t.pci_min) & (pci <= t.pci_max), np.minimum(unit, t.cost_per_m2), unit)
    return unit


def condition_matrix(options: OptionSet, selected: np.ndarray) -> np.ndarray:
    """PCI of every section at the end of every year with the works ``selected``."""
    pci = options.pci_none.copy()
    pci[options.section[selected]] = options.trajectory[selected]
    return pci


def _year_summaries(options: OptionSet, selected: np.ndarray, budgets: np.ndarray | None) -> tuple[YearSummary, ...]:
    pci = condition_matrix(options, selected)
    length = np.array([s.length_m for s in options.sections])
    summaries = []
    for y in range(options.horizon):
        in_year = selected[(options.year[selected] == y + 1) | (options.second_year[selected] == y + 1)]
        bands = band_of(pci[:, y])
        share = np.bincount(bands, options.area, minlength=len(BANDS)) / options.total_area
        poor = pci[:, y] < BACKLOG_PCI
        backlog = float(options.area[poor] @ _backlog_unit_cost(pci[poor, y], options.treatments))
        summaries.append(YearSummary(
            year=y + 1, cost=float(options.cost_by_year[selected, y].sum()),
            budget=None if budgets is None else float(budgets[y]),
            mean_pci=float(options.area @ pci[:, y] / options.total_area), backlog=backlog,
            km_treated=float(length[options.section[in_year]].sum() / 1000.0),
            distribution={name: float(v) for (_, name), v in zip(BANDS, share)},
        ))
    return tuple(summaries)


def section_works(options: OptionSet, o: int) -> list[SectionWork]:
    """The works of candidate ``o``: one treatment, or preventive works then a major one."""
    i = int(options.section[o])
    s = options.sections[i]
    steps = [(int(options.treatment[o]), int(options.year[o]), float(options.pci_start[i, options.year[o] - 1]),
              float(options.pci_after[o]))]
    if options.second_treatment[o] >= 0:
        year2 = int(options.second_year[o])
        steps.append((int(options.second_treatment[o]), year2, float(options.trajectory[o, year2 - 2]),
                      float(options.second_after[o])))
    return [SectionWork(section_id=s.section_id, street=s.street, treatment=options.treatments[t].name, year=year,
                        cost=float(options.cost_by_year[o, year - 1]), area_m2=s.area_m2, length_m=s.length_m,
                        pci_before=before, pci_after=after) for t, year, before, after in steps]


def evaluate(options: OptionSet, scenario: Scenario, choice: Choice) -> ScenarioResult:
    """Turn a solver choice into works and yearly figures."""
    budgets = None
    if scenario.kind == "budget":
        budgets = annual_budgets(scenario, options.horizon)
    elif choice.annual_budget is not None:
        budgets = np.full(options.horizon, choice.annual_budget)
    works = tuple(sorted((w for o in choice.selected for w in section_works(options, int(o))),
                         key=lambda w: (w.year, w.section_id)))
    return ScenarioResult(scenario=scenario, status=choice.status, message=choice.message, works=works,
                          years=_year_summaries(options, choice.selected, budgets), annual_budget=choice.annual_budget,
                          objective=choice.objective, gap=choice.gap, solve_seconds=choice.seconds)


def plan_network(
    sections: list[Section],
    scenarios: list[Scenario],
    horizon: int = 5,
    treatments: tuple[Treatment, ...] | None = None,
    curves: dict[str, FamilyCurve] | None = None,
    start: date | None = None,
    time_limit: float = 30.0,
    rel_gap: float = 1e-3,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Solve every scenario on the surveyed sections; sections with no survey are listed apart."""
    if not sections:
        raise PlanningInputError("the network is empty: no section to plan")
    if not scenarios:
        raise PlanningInputError("no scenario to run")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise PlanningInputError(f"scenario names must be unique, got {names}")
    surveyed = [s for s in sections if s.has_data]
    no_data = tuple(s.section_id for s in sections if not s.has_data)
    if not surveyed:
        raise PlanningInputError(f"none of the {len(sections)} sections has a survey (no PCI): nothing to plan")
    treatments = treatments or load_catalogue()
    curves = curves or DEFAULT_CURVES
    latest = max((s.surveyed_at for s in surveyed if s.surveyed_at), default=date.today())
    start = start or date(latest.year + 1, 1, 1)
    options = build_options(surveyed, treatments, curves, horizon, start)
    results = []
    for scenario in scenarios:
        if progress:
            progress(scenario.name)
        results.append(evaluate(options, scenario, solve_scenario(options, scenario, time_limit, rel_gap)))
    now = datetime.now(timezone.utc)
    return Plan(plan_id=f"plan-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", created_at=now.isoformat(timespec="seconds"),
                start_year=start.year, horizon=horizon, results=tuple(results), sections_total=len(sections),
                sections_no_data=no_data,
                today_pci=float(options.area @ options.pci_start[:, 0] / options.total_area))
