"""The mobility page in a real headless Chromium against a real server with seeded CountBins:
it renders offline, a camera can be chosen, and its before/after numbers are the API's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from voirie.records import CountBin
from voirie.server.snapshot import wait_until

from .test_server_map_browser import _offline_page, browser  # noqa: F401 - the fixture is used by name

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHANGE_DAY = datetime(2026, 5, 11, tzinfo=timezone.utc)  # a Monday: the new cycle lane opens
DEVICE = "pole-a"
HOSTILE = '<img src=x onerror="window.pwned=1">'  # a camera name is free text: shown as text, never run


def _bins(camera_id: str, line_id: str, days: int = 3) -> list[CountBin]:
    """15-minute bins from `days` before to `days` after the change; bicycles double after it,
    and the first two hours after it are a gap (camera down)."""
    bins = []
    start = CHANGE_DAY - timedelta(days=days)
    for i in range(2 * days * 96):
        at = start + timedelta(minutes=15 * i)
        down = CHANGE_DAY <= at < CHANGE_DAY + timedelta(hours=2)
        busy = 7 <= at.hour <= 9
        for name, count in (("car", 12 + 20 * busy), ("bicycle", (2 + 3 * busy) * (2 if at >= CHANGE_DAY else 1))):
            bins.append(CountBin(record_id=CountBin.make_id(DEVICE, camera_id, line_id, "north", name, at),
                                 device_id=DEVICE, camera_id=camera_id, line_id=line_id, direction="north",
                                 class_name=name, bin_start_utc=at, count=0 if down else count,
                                 status="no_data" if down else "ok"))
    return bins


def _seed(live) -> None:
    auth = live.register(DEVICE)
    records = (_bins("rue-a", "north-line") + _bins("rue-a", "cycle-lane") + _bins("rue-b", "main", days=2)
               + _bins("rue-c", "main", days=1))  # rue-c is never placed
    for k in range(0, len(records), 2000):
        body = {"batch_id": f"bins-{k}", "device_id": DEVICE,
                "records": [{"kind": "count_bin", "record": b.to_dict()} for b in records[k:k + 2000]]}
        live.client.post("/api/v1/ingest", json=body, headers=auth).raise_for_status()
    for camera_id, name, lat, lon in (("rue-a", "Rue A", 48.853, 2.349), ("rue-b", HOSTILE, 48.857, 2.355)):
        answer = live.client.put(f"/api/v1/counts/cameras/{camera_id}", headers=live.admin,
                                 json={"name": name, "lat": lat, "lon": lon})
        assert answer.status_code == 200, answer.text


def test_cameras_api_lists_lines_and_places_and_only_admins_place(live):
    _seed(live)
    cameras = {c["camera_id"]: c for c in live.client.get("/api/v1/counts/cameras").json()}
    assert cameras["rue-a"]["lines"] == ["cycle-lane", "north-line"] and cameras["rue-b"]["lines"] == ["main"]
    assert (cameras["rue-a"]["lat"], cameras["rue-a"]["lon"], cameras["rue-a"]["name"]) == (48.853, 2.349, "Rue A")
    assert cameras["rue-b"]["first_bin_utc"].startswith("2026-05-09T00:00")
    assert cameras["rue-c"]["lat"] is None and cameras["rue-c"]["lines"] == ["main"]
    viewer = live.key("viewer")
    refused = live.client.put("/api/v1/counts/cameras/rue-a", headers=viewer, json={"lat": 1, "lon": 1})
    assert refused.status_code in (401, 403)
    bad = live.client.put("/api/v1/counts/cameras/rue-a", headers=live.admin, json={"lat": 91, "lon": 1})
    assert bad.status_code == 422


def test_mobility_page_renders_chooses_a_camera_and_matches_the_api(live, browser):  # noqa: F811
    _seed(live)
    page, outside, errors = _offline_page(browser, live.url)
    page.goto(live.url + "/mobility")
    wait_until(page, "window.voirieMobilityReady === true", 90_000)
    assert page.evaluate("window.voirieCamerasOnMap") == 2 and "rue-c" in page.inner_text("#unplaced")
    assert page.locator("#chart-15min svg path").count() == 5 and page.locator("#chart-daily svg rect").count() > 0
    page.select_option("#camera", "rue-b")
    wait_until(page, "window.voirieMobilityCamera === 'rue-b/'", 30_000)
    assert "rue-b" in page.inner_text("#status")
    page.fill("#change-day", CHANGE_DAY.date().isoformat())
    page.fill("#change-weeks", "1")
    page.click("#compare-form button")
    wait_until(page, "window.voirieCompare && window.voirieCompare.length === 2", 30_000)
    expected = live.client.get("/api/v1/counts/compare", params={
        "camera_id": "rue-b", "before_start": (CHANGE_DAY - timedelta(weeks=1)).isoformat(),
        "before_end": CHANGE_DAY.isoformat(), "after_start": CHANGE_DAY.isoformat(),
        "after_end": (CHANGE_DAY + timedelta(weeks=1)).isoformat()}).json()
    for row in expected:
        cells = page.locator(f"#compare tr[data-class='{row['class_name']}'] td")
        assert float(cells.nth(1).inner_text()) == row["before_per_day"]
        assert float(cells.nth(2).inner_text()) == row["after_per_day"]
    bicycle = next(r for r in expected if r["class_name"] == "bicycle")
    # The seeded doubling, per watched day (the gap removes two quiet hours, so a little over +100 %).
    assert bicycle["change"] == pytest.approx(1.0, abs=0.03)
    assert page.get_attribute("#csv", "href") == "/api/v1/counts/export.csv?camera_id=rue-b"
    assert HOSTILE in page.inner_text("#camera") and page.evaluate("window.pwned === undefined")
    assert outside == [] and errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mobility_page.png"), full_page=True)
