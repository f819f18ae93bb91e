"""The demo's generated town: its shape, its place in the server next to the surveyed drive,
and the plan a council would compare on it."""

from __future__ import annotations

import csv
from datetime import date

import httpx
import numpy as np
import pytest
import shapely
import shapely.geometry
from rich.console import Console

from voirie.lab.demo.runner import DemoContext, stop_map_server
from voirie.lab.demo.server import map_step, synthetic_survey
from voirie.lab.demo.town import DRIVE_CLEARANCE_M, ROAD_TYPES, add_town_to_server, generate_town, town_km
from voirie.server.geo import projector_for
from voirie.server.planning.model import Scenario, Section
from voirie.server.planning.scenarios import plan_network

DRIVE = ([(-0.0780, 47.2595), (-0.0755, 47.2597), (-0.0730, 47.2590)],)


@pytest.fixture(scope="module")
def town():
    return generate_town(seed=19)


def test_town_is_about_250_km_and_the_same_for_a_seed(town):
    assert 245.0 <= town_km(town) <= 250.0
    assert 1100 <= len(town) <= 1400  # block sides of about 200 m
    assert generate_town(seed=19) == town
    other = generate_town(seed=20)
    assert [s.pci for s in other] != [s.pci for s in town]


def test_town_has_every_family_and_a_spread_of_ages_and_grades(town):
    assert {s.road_type for s in town} == set(ROAD_TYPES)
    assert {s.family for s in town} == {"main", "collector", "local"}
    ages = np.array([s.age_years for s in town])
    pci = np.array([s.pci for s in town])
    assert ages.min() < 2.0 and ages.max() > 25.0
    assert pci.std() > 15.0 and len({int(s.grade) for s in town}) >= 4
    for family in ("main", "collector", "local"):  # older surfaces are worse: drawn from the family curve
        members = [s for s in town if s.family == family]
        assert np.corrcoef([s.age_years for s in members], [s.pci for s in members])[0, 1] < -0.8


@pytest.mark.parametrize("kwargs", [{"target_km": 0.0}, {"target_km": float("nan")},
                                    {"centre": (200.0, 47.0)}, {"centre": (0.0, 89.0)}])
def test_bad_town_parameters_are_refused(kwargs):
    with pytest.raises(ValueError, match="target_km|centre"):
        generate_town(**kwargs)


def _map_sections(url: str) -> dict[str, dict]:
    """The map's sections: properties with the geometry, by id."""
    features = httpx.get(url + "/api/v1/sections.geojson", timeout=120).raise_for_status().json()["features"]
    return {f["properties"]["section_id"]: {**f["properties"], "line": shapely.geometry.shape(f["geometry"])}
            for f in features}


def test_town_joins_the_server_and_the_drive_keeps_its_survey_grades(tmp_path):
    survey = synthetic_survey(tmp_path / "survey", streets=DRIVE)
    ctx = map_step(DemoContext(workdir=tmp_path / "demo", console=Console(quiet=True),
                               state={"survey_dir": str(survey)}))
    try:
        before = _map_sections(ctx.state["server_url"])
        town = add_town_to_server(ctx.state["database_url"])
        after = _map_sections(ctx.state["server_url"])  # the first read after the insert regrades
    finally:
        stop_map_server(ctx)
    assert before and all(row["pci"] is not None and row["frames"] > 0 for row in before.values())
    drive_keys = ("pci", "grade", "frames", "surveyed_at", "survey_id", "source")
    assert {sid: [after[sid][k] for k in drive_keys] for sid in before} == \
        {sid: [row[k] for k in drive_keys] for sid, row in before.items()}
    assert {sid: (row["pci"], row["grade"], row["source"]) for sid, row in after.items() if sid not in before} == \
        {s.section_id: (s.pci, s.grade, "inventory") for s in town}
    projector = projector_for(*DRIVE[0][0])
    drive = projector.to_metric(shapely.union_all([row["line"] for row in before.values()]))
    nearest = min(drive.distance(projector.to_metric(s.line)) for s in town)
    assert nearest >= DRIVE_CLEARANCE_M


BUDGETS = (250_000.0, 600_000.0)


@pytest.fixture(scope="module")
def town_plan(town):
    sections = [Section(section_id=s.section_id, street=s.street, road_class=s.road_type, length_m=s.length_m,
                        width_m=s.width_m, pci=s.pci, surveyed_at=date(2025, 9, 15)) for s in town]
    scenarios = [Scenario("do nothing", "do_nothing"),
                 *(Scenario(f"budget {b:g}", "budget", (b,)) for b in BUDGETS),
                 Scenario("unconstrained", "unconstrained")]
    return plan_network(sections, scenarios, horizon=5, time_limit=3.0)


def test_more_budget_buys_a_better_town_within_each_year_s_budget(town_plan):
    results = town_plan.results
    assert all(r.feasible for r in results)
    horizon_mean = [np.mean([y.mean_pci for y in r.years]) for r in results]
    final = [r.years[-1].mean_pci for r in results]
    assert horizon_mean == sorted(horizon_mean) and final == sorted(final)
    for result, budget in zip(results[1:3], BUDGETS):
        assert all(y.cost <= budget + 1.0 for y in result.years)
        assert sum(y.cost for y in result.years) > 0.9 * 5 * budget  # the town needs more than either buys
    assert final[2] - final[1] > 2.0  # 0.25 and 0.6 M€/yr are different plans on a town


def test_scenarios_csv_puts_every_scenario_year_side_by_side(town_plan, tmp_path):
    from voirie.lab.demo.plan import write_scenarios_csv

    with open(write_scenarios_csv(town_plan, tmp_path / "plan" / "scenarios.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [(r.scenario.name, str(town_plan.start_year + y.year - 1), f"{y.mean_pci:.1f}")
                for r in town_plan.results for y in r.years]
    assert [(row["scenario"], row["year"], f"{float(row['network_pci']):.1f}") for row in rows] == expected
    assert {row["budget_eur"] for row in rows if row["scenario"] == "budget 250000"} == {"250000"}
