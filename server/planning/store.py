"""Plans on disk (one JSON file each) and the human approval step: draft → approved."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from voirie.server.planning.model import Plan, PlanningInputError, Scenario, ScenarioResult, SectionWork, YearSummary

logger = logging.getLogger(__name__)

_PLAN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


class PlanNotFoundError(PlanningInputError):
    """No plan with that id."""


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """JSON-ready dict of a plan (infinite gaps become None)."""
    data = dataclasses.asdict(plan)
    for result in data["results"]:
        if result["gap"] is not None and result["gap"] == float("inf"):
            result["gap"] = None
    return data


def _result_from_dict(data: dict[str, Any]) -> ScenarioResult:
    scenario = dict(data["scenario"])
    scenario["annual_budgets"] = tuple(scenario.get("annual_budgets", ()))
    return ScenarioResult(
        scenario=Scenario(**scenario), status=data["status"], message=data["message"],
        works=tuple(SectionWork(**w) for w in data["works"]), years=tuple(YearSummary(**y) for y in data["years"]),
        annual_budget=data["annual_budget"], objective=data["objective"],
        gap=float("inf") if data["gap"] is None else data["gap"], solve_seconds=data["solve_seconds"],
    )


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """Inverse of :func:`plan_to_dict`."""
    fields = {k: v for k, v in data.items() if k not in ("results", "sections_no_data")}
    return Plan(results=tuple(_result_from_dict(r) for r in data["results"]),
                sections_no_data=tuple(data.get("sections_no_data", ())), **fields)


def approve_plan(plan: Plan, approved_by: str, scenario: str) -> Plan:
    """The approved copy of a draft plan: a named person adopts one feasible scenario."""
    if plan.status != "draft":
        raise PlanningInputError(f"plan {plan.plan_id} is already {plan.status} (by {plan.approved_by})")
    if not approved_by.strip():
        raise PlanningInputError("approval needs the name of the person approving")
    by_name = {r.scenario.name: r for r in plan.results}
    if scenario not in by_name:
        raise PlanningInputError(f"plan {plan.plan_id} has no scenario {scenario!r}; it has {sorted(by_name)}")
    if not by_name[scenario].feasible:
        raise PlanningInputError(f"scenario {scenario!r} is infeasible ({by_name[scenario].message}); it cannot be approved")
    return dataclasses.replace(plan, status="approved", approved_by=approved_by.strip(), approved_scenario=scenario,
                               approved_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


class PlanStore:
    """A folder of ``<plan_id>.json`` files; writes are atomic (temp file then rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, plan_id: str) -> Path:
        if not _PLAN_ID.match(plan_id):
            raise PlanNotFoundError(f"invalid plan id {plan_id!r}")
        return self.directory / f"{plan_id}.json"

    def save(self, plan: Plan) -> Path:
        """Write (or overwrite) a plan; returns its file."""
        path = self._path(plan.plan_id)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(plan_to_dict(plan), indent=1, ensure_ascii=False))
        os.replace(temporary, path)
        return path

    def get(self, plan_id: str) -> Plan:
        """The stored plan ``plan_id``."""
        path = self._path(plan_id)
        if not path.is_file():
            raise PlanNotFoundError(f"no plan {plan_id!r} in {self.directory}")
        return plan_from_dict(json.loads(path.read_text()))

    def list(self) -> list[Plan]:
        """Every stored plan, newest first; unreadable files are skipped with a warning."""
        plans = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                plans.append(plan_from_dict(json.loads(path.read_text())))
            except (ValueError, KeyError, TypeError) as error:
                logger.warning("skipping unreadable plan file %s: %s", path, error)
        return sorted(plans, key=lambda p: p.created_at, reverse=True)

    def approve(self, plan_id: str, approved_by: str, scenario: str) -> Plan:
        """Approve a stored draft and save it."""
        plan = approve_plan(self.get(plan_id), approved_by, scenario)
        self.save(plan)
        return plan
