"""Demo step: plan 5 years of works under two budgets on a generated town around the surveyed drive.

The drive alone (0.17 km) is too small for budgets to matter, so the step first adds a
town of ≈ 250 km (``voirie.lab.demo.town``) to the map server's database; the surveyed
sections keep the grades of the survey.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import httpx

from voirie.server.planning.loader import load_sections_csv, write_sections_csv
from voirie.server.planning.model import Plan, PlanningInputError
from voirie.server.planning.report import ReportFiles, write_report
from voirie.server.planning.sample import sample_network
from voirie.server.planning.service import PlanRequest, comparison_table, plan_from_files
from voirie.server.planning.store import plan_from_dict
from voirie.lab.demo.town import add_town_to_server, town_km

logger = logging.getLogger(__name__)

DEMO_BUDGETS = (250_000.0, 600_000.0)  # euros a year: a lean and a comfortable budget
SAMPLE_SECTIONS = 600
TIME_LIMIT_S = 5.0  # solver seconds per scenario: the demo should take well under a minute
TOWN_SEED = 19
TOWN_KM = 250.0


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


def _add_town(ctx, out_dir: Path) -> Path | None:  # noqa: ANN001
    """Add the generated town to the map server's database and export the sections again
    (town and drive): the plan and its report cover both. None when no server runs."""
    server, database_url = ctx.state.get("map_server"), ctx.state.get("database_url")
    if server is None or not database_url:
        return None
    town = add_town_to_server(database_url, TOWN_SEED, TOWN_KM)
    exported = out_dir / "sections.csv"
    exported.parent.mkdir(parents=True, exist_ok=True)
    exported.write_bytes(httpx.get(server.url + "/api/v1/sections.csv", timeout=120).raise_for_status().content)
    ctx.console.print(f"added a generated town around the surveyed drive: {town_km(town):.1f} km in "
                      f"{len(town)} inspected sections (the drive keeps its survey grades)")
    ctx.outputs["town and drive sections (CSV)"] = str(exported)
    return exported


def write_scenarios_csv(plan: Plan, path: Path) -> Path:
    """One row per scenario and year: what it spends and the network it leaves, side by side."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["scenario", "status", "year", "budget_eur", "cost_eur", "network_pci", "backlog_eur",
                         "km_treated"])
        for result in plan.results:
            for y in result.years:
                writer.writerow([result.scenario.name, result.status, plan.start_year + y.year - 1,
                                 "" if y.budget is None else round(y.budget), round(y.cost), round(y.mean_pci, 1),
                                 round(y.backlog), round(y.km_treated, 2)])
    return path


def plan_step(ctx):  # noqa: ANN001, ANN201 - DemoContext lives in voirie.lab.demo.runner, which imports the stages
    """Plan on the town and the surveyed drive through the demo server when it runs (else
    offline on ``ctx.state["sections_csv"]``, or a sample network when the map has too few
    sections) and record the report and the scenarios side by side."""
    out_dir = Path(ctx.workdir) / "plan"
    exported = _add_town(ctx, out_dir) or ctx.state.get("sections_csv")
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
    ctx.outputs["scenarios side by side (CSV)"] = str(write_scenarios_csv(plan, out_dir / "scenarios.csv"))
    ctx.outputs["planned works by year (GeoJSON)"] = str(files.works_geojson)
    ctx.state.update(plan_id=plan.plan_id, plan_report=str(files.html))
    if ctx.state.get("plan_on_server"):
        _snapshot_with_works(ctx)
    return ctx
