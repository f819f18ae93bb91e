"""The planning API over real HTTP on 127.0.0.1 (uvicorn), with an injected section source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from voirie.server.planning.routes import create_planning_router
from voirie.server.planning.sample import sample_network
from voirie.server.planning.store import PlanStore
from voirie.server.runner import ServerThread


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sections = sample_network(80, seed=8)
    app = FastAPI()
    app.include_router(create_planning_router(lambda: sections, PlanStore(tmp_path_factory.mktemp("plans"))))
    with ServerThread(app) as server:
        yield server.url


def test_post_list_approve(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        created = client.post("/plans", json={"years": 2, "budgets": [50_000], "time_limit": 2})
        assert created.status_code == 201, created.text
        plan = created.json()
        assert plan["status"] == "draft"
        assert [r["scenario"]["kind"] for r in plan["results"]] == ["do_nothing", "budget", "hold", "target",
                                                                     "unconstrained"]
        assert [p["plan_id"] for p in client.get("/plans").json()] == [plan["plan_id"]]
        layer = client.get(f"/plans/{plan['plan_id']}/works.geojson").json()
        assert layer["features"] and layer["properties"]["scenario"] == "budget 0.05 M€/yr"
        approved = client.post(f"/plans/{plan['plan_id']}/approve",
                               json={"approved_by": "D. Roux", "scenario": "budget 0.05 M€/yr"})
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        again = client.post(f"/plans/{plan['plan_id']}/approve", json={"approved_by": "D. Roux", "scenario": "x"})
        assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"budgets": [-10]}, 422),
        ({"budgets": [10], "treatments": ["gold_plating"]}, 422),
        ({"scenarios": [{"name": "t", "kind": "target"}], "time_limit": 1}, 422),
        ({"scenarios": [{"name": "x", "kind": "magic"}]}, 422),
    ],
)
def test_bad_requests(base_url: str, body: dict, status: int) -> None:
    response = httpx.post(f"{base_url}/plans", json=body, timeout=60)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_unknown_plan_is_404(base_url: str) -> None:
    assert httpx.get(f"{base_url}/plans/plan-nope").status_code == 404
    assert httpx.post(f"{base_url}/plans/plan-nope/approve", json={"approved_by": "x", "scenario": "y"}).status_code == 404
