"""Demo step: plan 5 years of works on the map's sections under two budgets."""

from __future__ import annotations

import logging
from pathlib import Path

from voirie.server.planning.loader import write_sections_csv
from voirie.server.planning.sample import sample_network
from voirie.server.planning.service import PlanRequest, comparison_table, plan_from_files

logger = logging.getLogger(__name__)

DEMO_BUDGETS = (250_000.0, 600_000.0)  # euros a year: a lean and a comfortable budget
SAMPLE_SECTIONS = 600
TIME_LIMIT_S = 5.0  # solver seconds per scenario: the demo should take well under a minute


def plan_step(ctx):  # noqa: ANN001 - DemoContext lives in voirie.demo, which imports the stages
    """Plan on ``ctx.state["sections_csv"]`` (or a sample network) and record the report."""
    sections_csv = ctx.state.get("sections_csv")
    out_dir = Path(ctx.workdir) / "plan"
    if not sections_csv or not Path(sections_csv).is_file():
        sections_csv = write_sections_csv(sample_network(SAMPLE_SECTIONS, seed=7), out_dir / "sample_sections.csv")
        ctx.console.print(f"no sections exported by the map step: planning a sample network ({sections_csv})")
    request = PlanRequest(sections_csv=Path(sections_csv), budgets=DEMO_BUDGETS, years=5, time_limit=TIME_LIMIT_S,
                          out_dir=out_dir)
    plan, files = plan_from_files(request, ctx.console)
    ctx.console.print(comparison_table(plan))
    ctx.outputs["works plan report (draft)"] = str(files.html)
    ctx.outputs["planned works by year (GeoJSON)"] = str(files.works_geojson)
    ctx.state["plan_id"] = plan.plan_id
    ctx.state["plan_report"] = str(files.html)
    return ctx
