"""Counts and works plans through the full app: real uvicorn on 127.0.0.1, real SQLite."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from rich.console import Console

from voirie.lab.demo.runner import DemoContext, serve_until_interrupted
from voirie.records import CountBin
from voirie.server.snapshot import wait_until
from voirie.lab.synth.records import frames_along

from .conftest import STREET, start_server
from .test_server_map_browser import _offline_page, browser  # noqa: F401 - the browser fixture

START = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
LONG_STREET = STREET + [(2.3580, 48.8505), (2.3610, 48.8500)]


def _bins() -> list[CountBin]:
    bins = []
    for slot in range(4):
        start = START + timedelta(minutes=15 * slot)
        for name, count in (("car", 40 + slot), ("bicycle", 5)):
            bins.append(CountBin(record_id=CountBin.make_id("pole-7", "cam", "l1", "in", name, start),
                                 device_id="pole-7", camera_id="cam", line_id="l1", direction="in",
                                 class_name=name, bin_start_utc=start, count=count))
    return bins


def _ingest_bins(live) -> None:
    auth = live.register("pole-7")
    body = {"batch_id": "c1", "device_id": "pole-7",
            "records": [{"kind": "count_bin", "record": b.to_dict()} for b in _bins()]}
    answer = live.client.post("/api/v1/ingest", json=body, headers=auth)
    assert answer.status_code == 200 and len(answer.json()["accepted"]) == 8, answer.text


def test_counts_reachable_through_the_app(live):
    _ingest_bins(live)
    bins = live.client.get("/api/v1/counts/bins", params={"camera_id": "cam"})
    assert bins.status_code == 200, bins.text
    assert sorted(b["count"] for b in bins.json() if b["class_name"] == "car") == [40, 41, 42, 43]
    daily = live.client.get("/api/v1/counts/daily").json()
    assert daily and daily[0]["day"] == "2026-05-04"
    csv_text = live.client.get("/api/v1/counts/export.csv").text
    assert len(csv_text.strip().splitlines()) == 1 + 8
    assert live.client.get("/api/v1/counts/bins", params={"camera_id": "other"}).json() == []


def test_counts_need_a_viewer_key_when_reads_are_private(tmp_path, fresh_database):
    server, live = start_server(tmp_path, fresh_database(), public_read=False)
    try:
        _ingest_bins(live)
        assert live.client.get("/api/v1/counts/bins").status_code == 401
        answer = live.client.get("/api/v1/counts/bins", headers=live.key("viewer"))
        assert answer.status_code == 200 and len(answer.json()) == 8
        assert live.client.get("/api/v1/plans").status_code == 401
    finally:
        live.close()
        server.stop()


def _create_plan(live, headers: dict[str, str]):
    body = {"years": 2, "budgets": [20_000], "time_limit": 5}
    return live.client.post("/api/v1/plans", json=body, headers=headers)


def test_plan_from_ingested_survey_is_created_and_approved_by_an_admin(live):
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, damage_rate=0.6, seed=3), "s1").status_code == 200
    n_sections = len(live.client.get("/api/v1/sections.geojson").json()["features"])
    assert n_sections >= 5
    assert _create_plan(live, {}).status_code == 401  # no anonymous writes
    assert _create_plan(live, live.key("inspector")).status_code == 403
    created = _create_plan(live, live.admin)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["status"] == "draft" and len(live.client.get("/api/v1/plans").json()) == 1
    funded = next(r["scenario"]["name"] for r in plan["results"] if r["scenario"]["kind"] == "budget")
    path = f"/api/v1/plans/{plan['plan_id']}/approve"
    assert live.client.post(path, json={"scenario": funded}).status_code == 401
    # The approver is the key's name, whatever the body claims.
    approved = live.client.post(path, json={"scenario": funded, "approved_by": "someone else"}, headers=live.admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "bootstrap-admin"
    works = live.client.get(f"/api/v1/plans/{plan['plan_id']}/works.geojson")
    assert works.status_code == 200 and works.json()["type"] == "FeatureCollection"
    section_ids = {f["id"] for f in live.client.get("/api/v1/sections.geojson").json()["features"]}
    assert {f["properties"]["section_id"] for f in works.json()["features"]} <= section_ids


def test_keep_serving_blocks_until_stopped_then_stops_the_server(tmp_path, fresh_database):
    server, live = start_server(tmp_path, fresh_database())
    live.close()
    ctx = DemoContext(workdir=tmp_path, console=Console(quiet=True), keep_serving=True)
    ctx.state["map_server"] = server
    stop = threading.Event()
    waiter = threading.Thread(target=serve_until_interrupted, args=(ctx, stop))
    waiter.start()
    import httpx

    assert httpx.get(f"{server.url}/api/v1/counts/bins", timeout=10).status_code == 200
    assert waiter.is_alive()  # still serving
    stop.set()
    waiter.join(timeout=15)
    assert not waiter.is_alive() and "map_server" not in ctx.state
    try:
        httpx.get(f"{server.url}/", timeout=2)
        raise AssertionError("server still answers after stop")
    except httpx.TransportError:
        pass


def test_map_toggles_the_planned_works_layer(live, browser):  # noqa: F811 - fixture
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, damage_rate=0.6, seed=3), "s1").status_code == 200
    plan = _create_plan(live, live.admin).json()
    funded = next(r for r in plan["results"] if r["scenario"]["kind"] == "budget" and r["works_count"])
    live.client.post(f"/api/v1/plans/{plan['plan_id']}/approve", json={"scenario": funded["scenario"]["name"]},
                     headers=live.admin).raise_for_status()
    page, outside, errors = _offline_page(browser, live.url)
    page.goto(live.url + "/")
    wait_until(page, "window.voirieReady === true && window.voirieWorksRendered !== undefined", 90_000)
    assert page.evaluate("window.voirieWorksRendered") == funded["works_count"]
    assert page.is_hidden("#works-legend") and "approved" in page.inner_text("#works-toggle")
    page.check("#show-works")
    wait_until(page, "window.voirieMap.queryRenderedFeatures({layers: ['works']}).length > 0", 45_000)
    assert "works" in page.inner_text("#works-legend")
    assert outside == [] and errors == []


def test_map_legend_and_filter_name_the_damage_types(live, browser):  # noqa: F811 - fixture
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, damage_rate=0.8, seed=5), "s1").status_code == 200
    page, outside, errors = _offline_page(browser, live.url)
    page.goto(live.url + "/")
    wait_until(page, "window.voirieReady === true && window.voirieSectionsRendered > 0", 90_000)
    legend = page.inner_text("#damage-legend")
    assert "pothole (D40) · count" in legend  # the type and how the PCI counts it
    labels = page.eval_on_selector_all("select[name=damage_class] option", "els => els.map(e => e.textContent)")
    assert "pothole (D40) · count" in labels
    assert outside == [] and errors == []
