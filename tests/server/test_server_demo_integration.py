"""The demo steps share one map server: the plan and the counts reach it through its HTTP API."""

from __future__ import annotations

import httpx
from rich.console import Console

from voirie.lab.demo.runner import DemoContext, stop_map_server
from voirie.edge.count.demo import count_step
from voirie.lab.demo import plan as demo_plan
from voirie.lab.demo.plan import plan_step
from voirie.lab.demo.server import map_step, mobility_step, synthetic_survey


def test_plan_and_counts_reach_the_demo_server(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_plan, "TOWN_KM", 20.0)  # the town's own tests plan the full 250 km
    monkeypatch.setattr(demo_plan, "TIME_LIMIT_S", 1.0)
    survey = synthetic_survey(tmp_path / "survey", streets=([(1.8520, 50.9490), (1.8545, 50.9502), (1.8580, 50.9510)],))
    ctx = DemoContext(workdir=tmp_path / "demo", console=Console(quiet=True), state={"survey_dir": str(survey)})
    ctx = map_step(ctx)
    try:
        ctx = mobility_step(count_step(plan_step(ctx)))
        url = ctx.state["server_url"]
        cameras = httpx.get(f"{url}/api/v1/counts/cameras", timeout=30).raise_for_status().json()
        plans = httpx.get(f"{url}/api/v1/plans", timeout=30).raise_for_status().json()
        bins = httpx.get(f"{url}/api/v1/counts/bins", params={"camera_id": "demo-pole"}, timeout=30).raise_for_status().json()
        traffic = httpx.get(ctx.outputs["count: Telraam-style traffic (API)"], timeout=30).raise_for_status().json()
    finally:
        stop_map_server(ctx)
    assert [p["plan_id"] for p in plans] == [ctx.state["plan_id"]]  # the report is of the server's plan
    assert "town and drive sections (CSV)" in ctx.outputs and "scenarios side by side (CSV)" in ctx.outputs
    assert plans[0]["status"] == "draft"
    assert len(bins) > 0 and {b["device_id"] for b in bins} == {"pole-1"}
    assert sum(b["count"] for b in bins) > 0
    assert len(traffic["report"]) > 0
    assert [(c["camera_id"], c["lines"], c["lat"] is not None) for c in cameras] == [("demo-pole", ["main"], True)]
    mobility = ctx.outputs.get("mobility dashboard (PNG)")
    if mobility is not None:  # taken when playwright and chromium are there
        assert open(mobility, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "map_server" not in ctx.state and "(stopped" in ctx.outputs["road-condition map"]
    png = ctx.outputs.get("map with planned works (PNG)")
    if png is not None:  # taken when playwright and chromium are there
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_plan_step_falls_back_offline_when_the_server_refuses(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_plan, "TOWN_KM", 20.0)
    monkeypatch.setattr(demo_plan, "TIME_LIMIT_S", 1.0)
    survey = synthetic_survey(tmp_path / "survey", streets=([(1.8520, 50.9490), (1.8545, 50.9502), (1.8580, 50.9510)],))
    ctx = DemoContext(workdir=tmp_path / "demo", console=Console(quiet=True), state={"survey_dir": str(survey)})
    ctx = map_step(ctx)
    try:
        ctx.state["admin_key"] = "not-the-admin-key"  # 401: the demo must still produce its report
        ctx = plan_step(ctx)
        plans = httpx.get(f"{ctx.state['server_url']}/api/v1/plans", timeout=30).raise_for_status().json()
    finally:
        stop_map_server(ctx)
    assert plans == []
    assert "map with planned works (PNG)" not in ctx.outputs
    assert (tmp_path / "demo" / "plan" / "report.html").is_file() and ctx.state["plan_id"]
