"""Demo step: plan 5 years of works on the map's sections under two budgets."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from voirie.server.planning.loader import load_sections_csv, write_sections_csv
from voirie.server.planning.model import Plan, PlanningInputError
from voirie.server.planning.report import ReportFiles, write_report
from voirie.server.planning.sample import sample_network
from voirie.server.planning.service import PlanRequest, comparison_table, plan_from_files
from voirie.server.planning.store import plan_from_dict

logger = logging.getLogger(__name__)

DEMO_BUDGETS = (250_000.0, 600_000.0)  # euros a year: a lean and a comfortable budget
SAMPLE_SECTIONS = 600
TIME_LIMIT_S = 5.0  # solver seconds per scenario: the demo should take well under a minute


def _request(sections_csv: Path, out_dir: Path) -> PlanRequest:
    return PlanRequest(sections_csv=sections_csv, budgets=DEMO_BUDGETS, years=5, time_limit=TIME_LIMIT_S,
                       out_dir=out_dir)


def plan_via_api(server_url: str, admin_key: str, sections_csv: Path, out_dir: Path) -> tuple[Plan, ReportFiles]:
    """Create the plan through the running server's ``POST /api/v1/plans`` (so the map shows it),
    then write the same report files from the stored plan."""
    auth = {"Authorization": f"Bearer {admin_key}"}
    body = {"budgets": list(DEMO_BUDGETS), "years": 5, "time_limit": TIME_LIMIT_S}
    with httpx.Client(base_url=server_url, timeout=300) as client:
        answer = client.post("/api/v1/plans", json=body, headers=auth)
        if answer.status_code == 422:  # too few graded sections: the caller falls back to a sample
            raise PlanningInputError(answer.json().get("detail", answer.text))
        plan_id = answer.raise_for_status().json()["plan_id"]
        plan = plan_from_dict(client.get(f"/api/v1/plans/{plan_id}", headers=auth).raise_for_status().json())
    return plan, write_report(plan, load_sections_csv(sections_csv), out_dir)


def _plan_map_sections(ctx, exported: Path, out_dir: Path) -> tuple[Plan, ReportFiles]:  # noqa: ANN001
    server = ctx.state.get("map_server")
    if server is not None and ctx.state.get("admin_key"):
        try:
            plan, files = plan_via_api(server.url, ctx.state["admin_key"], exported, out_dir)
        except httpx.HTTPError as error:  # the map will lack the plan; the report is still made
            ctx.console.print(f"[yellow]the map server could not plan ({error}): planning offline")
        else:
            ctx.console.print(f"plan {plan.plan_id} stored by the map server ({server.url}/api/v1/plans)")
            ctx.state["plan_on_server"] = True
            return plan, files
    return plan_from_files(_request(exported, out_dir), ctx.console)  # steps run alone: offline


def _snapshot_with_works(ctx) -> None:  # noqa: ANN001
    """Retake the map PNG with the "planned works by year" layer ticked."""
    from voirie.server.snapshot import screenshot

    try:
        path = screenshot(ctx.state["map_server"].url + "/", Path(ctx.workdir) / "server" / "map_plan.png",
                          check=("#show-works",))
    except (ImportError, RuntimeError) as error:  # playwright or chromium missing: the report is there
        ctx.console.print(f"[yellow]map PNG with planned works skipped: {error}")
        return
    ctx.outputs["map with planned works (PNG)"] = str(path)


def plan_step(ctx):  # noqa: ANN001, ANN201 - DemoContext lives in voirie.lab.demo.runner, which imports the stages
    """Plan on ``ctx.state["sections_csv"]`` (through the demo server when it runs, else offline;
    a sample network when the map has too few sections) and record the report."""
    out_dir = Path(ctx.workdir) / "plan"
    exported = ctx.state.get("sections_csv")
    plan = files = None
    if exported and Path(exported).is_file():
        try:
            plan, files = _plan_map_sections(ctx, Path(exported), out_dir)
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
    if ctx.state.get("plan_on_server"):
        _snapshot_with_works(ctx)
    return ctx
