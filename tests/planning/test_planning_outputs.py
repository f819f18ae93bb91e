"""End to end: plan a network, write the report, approve, the CLI and the demo step."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from voirie.server.planning.loader import write_sections_csv
from voirie.server.planning.model import PlanningInputError, Scenario, Section
from voirie.server.planning.report import write_report
from voirie.server.planning.sample import sample_network
from voirie.server.planning.scenarios import default_scenarios, plan_network
from voirie.server.planning.store import PlanStore, approve_plan


@pytest.fixture(scope="module")
def network() -> list[Section]:
    return sample_network(120, seed=5, no_data_share=0.05)


@pytest.fixture(scope="module")
def plan(network: list[Section]):
    return plan_network(network, default_scenarios([60_000.0], target_pci=99.9), horizon=3,
                        start=date(2027, 1, 1), time_limit=2)


def test_plan_compares_scenarios(plan, network: list[Section]) -> None:
    by_name = {r.scenario.name: r for r in plan.results}
    nothing, funded = by_name["do nothing"], by_name["budget 0.06 M€/yr"]
    assert [len(r.years) for r in plan.results] == [3] * len(plan.results)
    assert all(y.cost <= 60_000.0 + 1e-6 for y in funded.years)
    assert funded.years[-1].mean_pci > nothing.years[-1].mean_pci
    assert nothing.years[-1].backlog > funded.years[-1].backlog
    assert by_name["reach PCI 99.9"].status == "infeasible"
    assert "out of reach" in by_name["reach PCI 99.9"].message
    assert set(plan.sections_no_data) == {s.section_id for s in network if not s.has_data}
    assert all(abs(sum(y.distribution.values()) - 1.0) < 1e-9 for y in funded.years)


def test_report_files_and_approval(plan, network: list[Section], tmp_path: Path) -> None:
    files = write_report(plan, network, tmp_path)
    html = files.html.read_text()
    assert html.count("<svg") == 4 and "DRAFT" in html and "reach PCI 99.9" in html
    layer = json.loads(files.works_geojson.read_text())
    assert layer["name"] == "planned works by year" and layer["features"]
    assert all(f["geometry"]["type"] == "LineString" and 1 <= f["properties"]["year"] <= 3 for f in layer["features"])
    store = PlanStore(tmp_path / "plans")
    assert [p.plan_id for p in store.list()] == [plan.plan_id]
    with pytest.raises(PlanningInputError, match="infeasible"):
        store.approve(plan.plan_id, "A. Martin", "reach PCI 99.9")
    approved = store.approve(plan.plan_id, "A. Martin", "budget 0.06 M€/yr")
    assert store.get(plan.plan_id).status == "approved" == approved.status
    with pytest.raises(PlanningInputError, match="already approved"):
        approve_plan(approved, "B. Other", "do nothing")


def test_empty_and_unsurveyed_networks_are_refused() -> None:
    with pytest.raises(PlanningInputError, match="empty"):
        plan_network([], [Scenario("n", "do_nothing")])
    with pytest.raises(PlanningInputError, match="none of the 1 sections has a survey"):
        plan_network([Section("a", "s", "local", 10, 5, None)], [Scenario("n", "do_nothing")])
    with pytest.raises(PlanningInputError, match="budget must be ≥ 0"):
        default_scenarios([-1.0])


def test_cli_plan_and_approve(tmp_path: Path) -> None:
    from voirie.cli import app

    csv_path = write_sections_csv(sample_network(60, seed=6), tmp_path / "sections.csv")
    runner = CliRunner()
    out = tmp_path / "out"
    history = tmp_path / "history.csv"
    history.write_text("section_id,surveyed_at,pci\n" + "".join(
        f"S{i:05d},{2022 + k}-05-01,{90 - 6 * k - i}\n" for i in range(1, 4) for k in range(3)))
    result = runner.invoke(app, ["plan", "--sections", str(csv_path), "--years", "2", "--budget", "40000",
                                 "--history", str(history), "--time-limit", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output and (out / "report.html").is_file()
    result = runner.invoke(app, ["plan", "approve", "--out", str(out), "--scenario", "budget 0.04 M€/yr",
                                 "--by", "C. Leroy"])
    assert result.exit_code == 0, result.output
    assert "approved by C. Leroy" in result.output
    bad = runner.invoke(app, ["plan", "--sections", str(csv_path), "--budget", "-5", "--out", str(out)])
    assert bad.exit_code == 2 and "budgets must be ≥ 0" in bad.output
    unknown = runner.invoke(app, ["plan", "--sections", str(csv_path), "--budget", "5", "--treatment", "paint",
                                  "--out", str(out)])
    assert unknown.exit_code == 2 and "unknown treatment names ['paint']" in unknown.output


def test_demo_step_plans_a_sample_network_when_no_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voirie.lab.demo.runner import DemoContext
    from voirie.lab.demo import plan as demo

    ctx = DemoContext(workdir=tmp_path, console=Console(width=120, record=True))
    monkeypatch.setattr(demo, "SAMPLE_SECTIONS", 80)  # a smaller sample keeps the test quick
    monkeypatch.setattr(demo, "TIME_LIMIT_S", 1.0)
    ctx = demo.plan_step(ctx)
    report = Path(ctx.outputs["works plan report (draft)"])
    assert report.is_file() and "budget 0.25 M€/yr" in report.read_text()


def test_demo_step_uses_the_exported_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voirie.lab.demo.runner import DemoContext
    from voirie.lab.demo import plan as demo

    monkeypatch.setattr(demo, "TIME_LIMIT_S", 1.0)
    # The server's export: grade as a number, timezone-aware timestamps, an extra column.
    exported = tmp_path / "sections.csv"
    exported.write_text(
        "section_id,street,road_class,source,length_m,width_m,pci,grade,confidence,surveyed_at,model_version,geometry_wkt\n"
        "a1,Rue A,residential,network,40,5.5,62.5,3.1,0.8,2026-05-01T10:00:00+00:00,m1,\"LINESTRING (1.85 50.95, 1.8505 50.95)\"\n"
        "a2,Rue A,residential,network,40,5.5,48,2.2,0.7,2026-05-01T10:01:00+00:00,m1,\"LINESTRING (1.8505 50.95, 1.851 50.95)\"\n"
        "b1,Avenue B,primary,network,40,9,,,,,,\"LINESTRING (1.86 50.95, 1.8605 50.95)\"\n")
    ctx = DemoContext(workdir=tmp_path, console=Console(width=120, record=True), state={"sections_csv": str(exported)})
    ctx = demo.plan_step(ctx)
    html = Path(ctx.outputs["works plan report (draft)"]).read_text()
    assert "1 of 3 sections have no survey" in html and "b1" in html
    assert not (tmp_path / "plan" / "sample_sections.csv").exists()
