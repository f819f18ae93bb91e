"""Plain frozen records of the planning engine: sections in, plans out.

The engine never touches the database: the server (or the CLI) turns its rows into
``Section`` objects and reads back ``ScenarioResult`` objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

logger = logging.getLogger(__name__)


class PlanningInputError(ValueError):
    """Bad planning input (file, catalogue, scenario): the message names what was wrong."""


@dataclass(frozen=True)
class Section:
    """One road section with its latest surveyed condition.

    ``pci`` is None when the section was never surveyed ("no data"): such a section is
    kept on the map but left out of the optimisation and counted in the report.
    """

    section_id: str
    street: str
    road_class: str
    length_m: float
    width_m: float
    pci: float | None
    surveyed_at: date | None = None
    surface: str = "asphalt"
    grade: str = ""
    confidence: float | None = None
    geometry_wkt: str = ""

    @property
    def area_m2(self) -> float:
        """Paved area, the weight of the section in network condition and in costs."""
        return self.length_m * self.width_m

    @property
    def has_data(self) -> bool:
        """True when the section has a surveyed PCI."""
        return self.pci is not None


@dataclass(frozen=True)
class Treatment:
    """One entry of the treatment catalogue.

    The treatment applies when the section's PCI lies in ``[pci_min, pci_max]``. Right
    after the works the PCI is ``pci_after`` (or the current PCI plus ``pci_gain`` when
    ``pci_after`` is None); the surface then holds that level for
    ``life_extension_years`` before deteriorating again along its family curve.
    """

    name: str
    label: str
    pci_min: float
    pci_max: float
    cost_per_m2: float
    pci_after: float | None
    pci_gain: float
    life_extension_years: float
    major: bool

    def applies(self, pci: float) -> bool:
        """Whether the treatment's applicability window contains ``pci``."""
        return self.pci_min <= pci <= self.pci_max

    def condition_after(self, pci: float) -> float:
        """PCI right after the works on a section at ``pci``."""
        after = self.pci_after if self.pci_after is not None else pci + self.pci_gain
        return float(min(100.0, max(pci, after)))


@dataclass(frozen=True)
class Scenario:
    """One budget scenario.

    ``kind``: ``do_nothing``; ``budget`` (annual budgets given, maximise condition);
    ``hold`` (least constant annual budget keeping network PCI at today's level);
    ``target`` (least constant annual budget reaching ``target_pci`` by the last year);
    ``unconstrained`` (maximise condition without budget limit).
    """

    name: str
    kind: str
    annual_budgets: tuple[float, ...] = ()
    target_pci: float | None = None
    carry_over: bool = False
    group_streets: bool = False
    main_road_min_pci: float | None = None


@dataclass(frozen=True)
class SectionWork:
    """The treatment chosen for one section, with its year (1 = first plan year)."""

    section_id: str
    street: str
    treatment: str
    year: int
    cost: float
    area_m2: float
    length_m: float
    pci_before: float
    pci_after: float


@dataclass(frozen=True)
class YearSummary:
    """Network figures at the end of one plan year."""

    year: int
    cost: float
    budget: float | None
    mean_pci: float
    backlog: float
    km_treated: float
    distribution: dict[str, float]  # condition band -> share of network area


@dataclass(frozen=True)
class ScenarioResult:
    """What one scenario gives: status, works, per-year figures and solver facts."""

    scenario: Scenario
    status: str  # "optimal", "time_limit" (feasible, gap reported), "infeasible"
    message: str
    works: tuple[SectionWork, ...] = ()
    years: tuple[YearSummary, ...] = ()
    annual_budget: float | None = None  # the budget found by hold/target scenarios
    objective: float = 0.0
    gap: float = 0.0
    solve_seconds: float = 0.0

    @property
    def feasible(self) -> bool:
        """True when the scenario has a plan (optimal or stopped early with a gap)."""
        return self.status != "infeasible"


@dataclass(frozen=True)
class Plan:
    """A scenario set run on one network, awaiting a human decision."""

    plan_id: str
    created_at: str
    start_year: int
    horizon: int
    results: tuple[ScenarioResult, ...]
    sections_total: int
    sections_no_data: tuple[str, ...] = ()
    today_pci: float | None = None  # area-weighted network PCI at plan start
    status: str = "draft"  # draft -> approved, by a named person
    approved_by: str | None = None
    approved_at: str | None = None
    approved_scenario: str | None = None
    notes: dict[str, str] = field(default_factory=dict)
