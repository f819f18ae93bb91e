"""Demo step: plan 5 years of works on the map's sections under two budgets."""

from __future__ import annotations

import logging
from pathlib import Path

from voirie.server.planning.loader import write_sections_csv
from voirie.server.planning.model import PlanningInputError
from voirie.server.planning.sample import sample_network
from voirie.server.planning.service import PlanRequest, comparison_table, plan_from_files

logger = logging.getLogger(__name__)

DEMO_BUDGETS = (250_000.0, 600_000.0)  # euros a year: a lean and a comfortable budget
SAMPLE_SECTIONS = 600
TIME_LIMIT_S = 5.0  # solver seconds per scenario: the demo should take well under a minute


def _request(sections_csv: Path, out_dir: Path) -> PlanRequest:
    return PlanRequest(sections_csv=sections_csv, budgets=DEMO_BUDGETS, years=5, time_limit=TIME_LIMIT_S,
                       out_dir=out_dir)


def plan_step(ctx):  # noqa: ANN001, ANN201 - DemoContext lives in voirie.demo, which imports the stages
    """Plan on ``ctx.state["sections_csv"]`` (or a sample network) and record the report."""
    out_dir = Path(ctx.workdir) / "plan"
    exported = ctx.state.get("sections_csv")
    plan = files = None
    if exported and Path(exported).is_file():
        try:
            plan, files = plan_from_files(_request(Path(exported), out_dir), ctx.console)
        except PlanningInputError as error:
            # The short demo drive may grade too few sections to plan: say so, then show the
            # planner on a sample network rather than stopping the demo.
            ctx.console.print(f"[yellow]cannot plan the map's sections: {error}")
    if plan is None:
        sample = write_sections_csv(sample_network(SAMPLE_SECTIONS, seed=7), out_dir / "sample_sections.csv")
        ctx.console.print(f"planning a sample network of {SAMPLE_SECTIONS} sections ({sample})")
        plan, files = plan_from_files(_request(sample, out_dir), ctx.console)
    ctx.console.print(comparison_table(plan))
    ctx.outputs["works plan report (draft)"] = str(files.html)
    ctx.outputs["planned works by year (GeoJSON)"] = str(files.works_geojson)
    ctx.state.update(plan_id=plan.plan_id, plan_report=str(files.html))
    return ctx
