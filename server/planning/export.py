"""Works list as CSV and as a GeoJSON layer "planned works by year" for the map."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import shapely.wkt
from shapely.errors import ShapelyError
from shapely.geometry import mapping

from voirie.server.csvsafe import SafeDictWriter
from voirie.server.planning.model import Plan, PlanningInputError, ScenarioResult, Section

logger = logging.getLogger(__name__)

WORK_COLUMNS = ("scenario", "year", "calendar_year", "section_id", "street", "treatment", "cost_eur", "area_m2",
                "length_m", "pci_before", "pci_after")


def scenario_result(plan: Plan, scenario: str | None = None) -> ScenarioResult:
    """The named scenario, else the approved one, else the first funded feasible one."""
    name = scenario or plan.approved_scenario
    if name is not None:
        for result in plan.results:
            if result.scenario.name == name:
                return result
        raise PlanningInputError(f"plan {plan.plan_id} has no scenario {name!r}")
    funded = [r for r in plan.results if r.feasible and r.scenario.kind == "budget"]
    return (funded or list(plan.results))[0]


def _rows(plan: Plan, result: ScenarioResult) -> list[dict[str, Any]]:
    return [{"scenario": result.scenario.name, "year": w.year, "calendar_year": plan.start_year + w.year - 1,
             "section_id": w.section_id, "street": w.street, "treatment": w.treatment, "cost_eur": round(w.cost, 2),
             "area_m2": round(w.area_m2, 1), "length_m": round(w.length_m, 1), "pci_before": round(w.pci_before, 1),
             "pci_after": round(w.pci_after, 1)} for w in result.works]


def write_works_csv(plan: Plan, path: Path, scenarios: list[str] | None = None) -> Path:
    """Works of every scenario (or those named), one row per section treated."""
    path = Path(path)
    with open(path, "w", newline="") as handle:
        writer = SafeDictWriter(handle, fieldnames=WORK_COLUMNS)
        writer.writeheader()
        for result in plan.results:
            if scenarios is None or result.scenario.name in scenarios:
                writer.writerows(_rows(plan, result))
    return path


def _geometry(section: Section | None) -> dict[str, Any] | None:
    if section is None or not section.geometry_wkt:
        return None
    try:
        return mapping(shapely.wkt.loads(section.geometry_wkt))
    except (ShapelyError, ValueError) as error:
        logger.warning("section %s: unreadable geometry (%s); exported without it", section.section_id, error)
        return None


def works_geojson(plan: Plan, sections: list[Section], scenario: str | None = None) -> dict[str, Any]:
    """FeatureCollection of one scenario's works; ``year``/``calendar_year`` drive the map's colours."""
    result = scenario_result(plan, scenario)
    by_id = {s.section_id: s for s in sections}
    features = [{"type": "Feature", "geometry": _geometry(by_id.get(row["section_id"])), "properties": row}
                for row in _rows(plan, result)]
    return {"type": "FeatureCollection", "name": "planned works by year",
            "properties": {"plan_id": plan.plan_id, "status": plan.status, "scenario": result.scenario.name,
                           "start_year": plan.start_year, "horizon": plan.horizon},
            "features": features}
