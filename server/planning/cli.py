"""``voirie plan``: plan works under budget scenarios; ``voirie plan approve``: adopt one."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

from voirie.server.planning.export import scenario_result
from voirie.server.planning.model import PlanningInputError
from voirie.server.planning.report import render_html
from voirie.server.planning.service import PlanRequest, comparison_table, plan_from_files
from voirie.server.planning.store import PlanStore

logger = logging.getLogger(__name__)

plan_app = typer.Typer(help="Multi-year works plan under budget scenarios.", invoke_without_command=True)


@plan_app.callback(invoke_without_command=True)
def plan(
    ctx: typer.Context,
    sections: Path = typer.Option(None, "--sections", help="Sections CSV exported by the server."),
    years: int = typer.Option(5, "--years", min=1, max=10, help="Plan horizon in years."),
    budget: list[float] = typer.Option([], "--budget", help="Annual budget in euros (repeat for more scenarios)."),
    catalogue: Path = typer.Option(None, "--catalogue", help="Treatment catalogue TOML (default: shipped one)."),
    history: Path = typer.Option(None, "--history", help="Survey history CSV to recalibrate the curves."),
    treatment: list[str] = typer.Option([], "--treatment", help="Use only these catalogue treatments (repeat)."),
    target: float = typer.Option(75.0, "--target", min=0, max=100, help="Network PCI of the 'reach' scenario."),
    main_road_min_pci: float = typer.Option(None, "--main-road-min-pci", min=0, max=100,
                                            help="Policy: main roads never below this PCI."),
    carry_over: bool = typer.Option(False, "--carry-over", help="Unspent budget carries over to next year."),
    group_streets: bool = typer.Option(False, "--group-streets", help="Treat a street's sections the same year."),
    time_limit: float = typer.Option(30.0, "--time-limit", min=1, help="Solver seconds per scenario."),
    out: Path = typer.Option(Path("data/plan"), "--out", help="Where the report and plans go."),
) -> None:
    """Plan works on the sections for each budget and print the scenario comparison."""
    if ctx.invoked_subcommand is not None:
        return
    if sections is None:
        raise typer.BadParameter("give the sections CSV with --sections FILE.csv", param_hint="--sections")
    console = Console()
    request = PlanRequest(sections_csv=sections, budgets=tuple(budget), years=years, catalogue=catalogue,
                          history_csv=history, target_pci=target, main_road_min_pci=main_road_min_pci,
                          carry_over=carry_over, group_streets=group_streets, time_limit=time_limit, out_dir=out,
                          treatments=tuple(treatment) or None)
    try:
        result, files = plan_from_files(request, console)
    except PlanningInputError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    console.print(comparison_table(result))
    if result.sections_no_data:
        console.print(f"[yellow]{len(result.sections_no_data)} section(s) have no survey and were not planned.")
    console.print(f"report: {files.html}\nworks: {files.works_csv}, {files.works_geojson}\nplan (draft): {files.plan_json}")
    console.print(f"approve with: voirie plan approve --out {out} --plan-id {result.plan_id} --scenario NAME --by NAME")


@plan_app.command("approve")
def approve(
    scenario: str = typer.Option(..., "--scenario", help="Name of the scenario adopted."),
    by: str = typer.Option(..., "--by", help="Name of the person approving."),
    plan_id: str = typer.Option(None, "--plan-id", help="Plan to approve (default: the newest)."),
    out: Path = typer.Option(Path("data/plan"), "--out", help="Folder given to `voirie plan --out`."),
) -> None:
    """Approve a draft plan: a named person adopts one of its scenarios."""
    console = Console()
    store = PlanStore(out / "plans")
    try:
        if plan_id is None:
            drafts = store.list()
            if not drafts:
                raise PlanningInputError(f"no plan in {store.directory}")
            plan_id = drafts[0].plan_id
        approved = store.approve(plan_id, by, scenario)
    except PlanningInputError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    page = out / f"approved-{approved.plan_id}.html"
    page.write_text(render_html(approved, scenario_result(approved)), encoding="utf-8")
    console.print(f"report of the approved plan: {page}")
    console.print(f"plan {approved.plan_id}: approved by {approved.approved_by}, scenario {approved.approved_scenario!r}")


def register(app: typer.Typer) -> None:
    """Add ``voirie plan`` to the main command."""
    app.add_typer(plan_app, name="plan")
