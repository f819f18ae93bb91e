"""Multi-year works plan under budget scenarios (issue 6).

Sections (with their surveyed PCI) go in as plain frozen dataclasses; the engine predicts
deterioration per family, lists the catalogue's candidate works, picks treatment × section
× year with a MILP (HiGHS) per scenario, and returns results a human approves.
"""

from voirie.server.planning.model import (
    Plan,
    PlanningInputError,
    Scenario,
    ScenarioResult,
    Section,
    SectionWork,
    Treatment,
    YearSummary,
)

__all__ = [
    "Plan",
    "PlanningInputError",
    "Scenario",
    "ScenarioResult",
    "Section",
    "SectionWork",
    "Treatment",
    "YearSummary",
]
