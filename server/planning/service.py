"""From files to a report: what the CLI, the demo and the API share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from voirie.server.planning.catalogue import load_catalogue, select_treatments
from voirie.server.planning.deterioration import DEFAULT_CURVES, recalibrate
from voirie.server.planning.loader import load_history_csv, load_sections_csv
from voirie.server.planning.model import Plan, PlanningInputError, Section
from voirie.server.planning.report import ReportFiles, summary_rows, write_report
from voirie.server.planning.scenarios import default_scenarios, plan_network

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanRequest:
    """Everything ``voirie plan`` asks for."""

    sections_csv: Path
    budgets: tuple[float, ...]
    years: int = 5
    catalogue: Path | None = None
    history_csv: Path | None = None
    target_pci: float | None = 75.0
    main_road_min_pci: float | None = None
    carry_over: bool = False
    group_streets: bool = False
    time_limit: float = 30.0
    out_dir: Path = Path("data/plan")
    treatments: tuple[str, ...] | None = None  # catalogue names to use; None: all


def plan_sections(sections: list[Section], request: PlanRequest, console: Console | None = None) -> Plan:
    """Run the default scenario set on ``sections`` with a progress display."""
    if any(b < 0 for b in request.budgets):
        raise PlanningInputError(f"budgets must be ≥ 0, got {list(request.budgets)}")
    treatments = select_treatments(load_catalogue(request.catalogue), request.treatments)
    curves = DEFAULT_CURVES
    if request.history_csv is not None:
        curves = recalibrate(sections, load_history_csv(request.history_csv))
    scenarios = default_scenarios(request.budgets, request.target_pci, request.main_road_min_pci,
                                  request.carry_over, request.group_streets)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console or Console(), transient=True) as progress:
        task = progress.add_task("planning", total=len(scenarios))

        def advance(name: str) -> None:
            """Show which scenario is being solved."""
            progress.update(task, description=f"scenario: {name}", advance=1)

        return plan_network(sections, scenarios, request.years, treatments, curves,
                            time_limit=request.time_limit, progress=advance)


def plan_from_files(request: PlanRequest, console: Console | None = None) -> tuple[Plan, ReportFiles]:
    """Load, plan, write the report; returns the plan and where its files are."""
    sections = load_sections_csv(request.sections_csv)
    plan = plan_sections(sections, request, console)
    return plan, write_report(plan, sections, request.out_dir)


def comparison_table(plan: Plan) -> Table:
    """The scenario comparison as a rich table (the report's first table)."""
    rows = summary_rows(plan)
    table = Table(title=f"Works plan {plan.start_year}–{plan.start_year + plan.horizon - 1} ({plan.status})",
                  caption="notes: " + " | ".join(f"{r['scenario']}: {r['note']}" for r in rows))
    columns = [c for c in rows[0] if c != "note"]
    for column in columns:
        table.add_column(column, overflow="fold", justify="left" if column == "scenario" else "right")
    for row in rows:
        style = "red" if row["status"] == "infeasible" else None
        table.add_row(*(row[c] for c in columns), style=style)
    return table
