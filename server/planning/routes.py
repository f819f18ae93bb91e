"""HTTP API of the works plan, written against an injected section source.

The server wires it with ``create_planning_router(get_sections=..., store=PlanStore(dir))``
where ``get_sections`` reads its database and returns ``Section`` objects; the planner
never sees the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from voirie.server.planning.catalogue import load_catalogue, select_treatments
from voirie.server.planning.export import scenario_result, works_geojson
from voirie.server.planning.model import Plan, PlanningInputError, Scenario, Section
from voirie.server.planning.scenarios import default_scenarios, plan_network
from voirie.server.planning.store import PlanNotFoundError, PlanStore, plan_to_dict

logger = logging.getLogger(__name__)


class ScenarioIn(BaseModel):
    """One scenario of a request (see ``Scenario``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN budgets would poison the plan
    name: str = Field(min_length=1, max_length=80)
    kind: Literal["do_nothing", "budget", "hold", "target", "unconstrained"]
    annual_budgets: list[Annotated[float, Field(ge=0)]] = Field(default_factory=list, max_length=10)
    target_pci: float | None = Field(default=None, ge=0, le=100)
    carry_over: bool = False
    group_streets: bool = False
    main_road_min_pci: float | None = Field(default=None, ge=0, le=100)


class PlanCreate(BaseModel):
    """A scenario set: explicit ``scenarios``, or the default set built from ``budgets``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN budgets would poison the plan
    years: int = Field(default=5, ge=1, le=10)
    budgets: list[Annotated[float, Field(ge=0)]] = Field(default_factory=list, max_length=10)
    scenarios: list[ScenarioIn] | None = Field(default=None, min_length=1, max_length=12)
    target_pci: float | None = Field(default=75.0, ge=0, le=100)
    treatments: list[str] | None = Field(default=None, description="Catalogue names to use (default: all).")
    time_limit: float = Field(default=30.0, gt=0, le=600)


class Approval(BaseModel):
    """A person adopts one scenario of a draft plan."""

    model_config = ConfigDict(extra="forbid")
    approved_by: str | None = Field(default=None, min_length=1, max_length=120,
                                    description="Ignored when the server names the approver from its credential.")
    scenario: str = Field(min_length=1)


def plan_summary(plan: Plan) -> dict[str, Any]:
    """A plan without its works lists (for listings)."""
    data = plan_to_dict(plan)
    for result in data["results"]:
        result["works_count"] = len(result.pop("works"))
    return data


def _scenarios(body: PlanCreate) -> list[Scenario]:
    if body.scenarios is None:
        return default_scenarios(body.budgets, body.target_pci)
    return [Scenario(**{**s.model_dump(), "annual_budgets": tuple(s.annual_budgets)}) for s in body.scenarios]


def _anyone() -> None:
    """No writer check (standalone use); the server passes its own credential check."""
    return None


def create_planning_router(get_sections: Callable[[], list[Section]], store: PlanStore,
                           catalogue: Path | None = None, writer: Callable[..., str | None] = _anyone) -> APIRouter:
    """Routes under ``/plans``: POST a scenario set, GET plans, POST ``/{id}/approve``.

    ``writer`` is a FastAPI dependency guarding the POST routes; when it returns a name,
    approvals record that name (who really approved) rather than the body's ``approved_by``."""
    router = APIRouter(prefix="/plans", tags=["plans"])

    def stored_plan(plan_id: str) -> Plan:
        """The plan of the path, or 404."""
        try:
            return store.get(plan_id)
        except PlanNotFoundError as error:
            raise HTTPException(status_code=404, detail=str(error)) from None

    # FastAPI resolves string annotations in module globals, where a local Annotated alias
    # is invisible; the dependency goes in the parameter default instead.
    plan_dep = Depends(stored_plan)
    _add_write_routes(router, get_sections, store, catalogue, plan_dep, Depends(writer))
    _add_read_routes(router, get_sections, store, plan_dep)
    return router


def _add_write_routes(router: APIRouter, get_sections: Callable[[], list[Section]], store: PlanStore,
                      catalogue: Path | None, plan_dep: Any, writer_dep: Any) -> None:
    @router.post("", status_code=201, dependencies=[writer_dep])
    def create_plan(body: PlanCreate) -> dict[str, Any]:
        """Run the scenario set on the current sections and store a draft plan."""
        try:
            treatments = select_treatments(load_catalogue(catalogue), body.treatments)
            plan = plan_network(get_sections(), _scenarios(body), body.years, treatments, time_limit=body.time_limit)
        except PlanningInputError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        store.save(plan)
        return plan_summary(plan)

    @router.post("/{plan_id}/approve")
    def approve(body: Approval, plan: Plan = plan_dep, writer_name: str | None = writer_dep) -> dict[str, Any]:
        """Draft → approved, by a named person, for one feasible scenario."""
        if plan.status != "draft":
            raise HTTPException(status_code=409, detail=f"plan {plan.plan_id} is already {plan.status}")
        approved_by = writer_name or body.approved_by
        if not approved_by:
            raise HTTPException(status_code=422, detail="approved_by: the name of the person approving is required")
        try:
            approved = store.approve(plan.plan_id, approved_by, body.scenario)
        except PlanningInputError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return plan_summary(approved)


def _add_read_routes(router: APIRouter, get_sections: Callable[[], list[Section]], store: PlanStore,
                     plan_dep: Any) -> None:
    @router.get("")
    def list_plans() -> list[dict[str, Any]]:
        """Every stored plan, newest first, without works lists."""
        return [plan_summary(p) for p in store.list()]

    @router.get("/{plan_id}")
    def get_plan(plan: Plan = plan_dep) -> dict[str, Any]:
        """One plan with its works."""
        return plan_to_dict(plan)

    @router.get("/{plan_id}/works.geojson")
    def get_works(plan: Plan = plan_dep, scenario: str | None = Query(default=None)) -> dict[str, Any]:
        """Map layer "planned works by year" for a scenario (default: adopted, else first funded)."""
        try:
            scenario_result(plan, scenario)
            return works_geojson(plan, get_sections(), scenario)
        except PlanningInputError as error:
            raise HTTPException(status_code=404, detail=str(error)) from None
