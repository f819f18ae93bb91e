"""The map page in a real headless Chromium (Playwright driving /usr/bin/chromium):
loads with every non-local request blocked, renders sections, a click shows details."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from shapely.geometry import LineString

from voirie.server.snapshot import CHROMIUM_ARGS, chromium_path, wait_until
from voirie.lab.synth.records import evidence_jpeg, frames_along

from .conftest import STREET

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) not installed")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser():
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium not installed (Debian package 'chromium')")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _offline_page(browser, base_url: str):
    """A page where anything not served by our 127.0.0.1 server is refused and recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    outside: list[str] = []
    errors: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(base_url) or urlparse(url).scheme in ("data", "blob"):
            return request_route.continue_()
        outside.append(url)
        return request_route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return page, outside, errors


def _click_section(page, section_id: str, coordinate: list[float]) -> None:
    point = page.evaluate("""([lon, lat]) => {
        const p = window.voirieMap.project([lon, lat]);
        const r = document.getElementById('map').getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""", coordinate)
    page.mouse.click(*point)
    wait_until(page, "id => window.voirieSelectedSection === id", 45_000, arg=section_id)


def test_map_page_offline_renders_and_shows_details(live, browser):
    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=1.2, seed=4)
    assert live.ingest(auth, frames, "b1").status_code == 200
    for frame in frames:
        live.client.put(f"/api/v1/evidence/{frame.record_id}", content=evidence_jpeg(frame),
                        headers={**auth, "Content-Type": "image/jpeg"}).raise_for_status()
    features = live.client.get("/api/v1/sections.geojson").json()["features"]
    target = max(features, key=lambda f: sum(f["properties"]["damage"].values()))
    page, outside, errors = _offline_page(browser, live.url)
    page.goto(live.url + "/")
    wait_until(page, "window.voirieReady === true", 90_000)
    assert page.evaluate("window.voirieSectionsRendered") == len(features)
    rendered = page.evaluate("window.voirieMap.queryRenderedFeatures({layers: ['sections']}).length")
    assert rendered > 0  # drawn on the WebGL canvas, not only loaded
    middle = list(LineString(target["geometry"]["coordinates"]).interpolate(0.5, normalized=True).coords[0])
    # Photos need a viewer key (public_photos is off): the inspector's key fetches them.
    page.fill("#apikey", live.key("inspector")["Authorization"].split()[1])
    _click_section(page, target["id"], middle)
    details = page.inner_text("#details")
    assert target["id"] in details and f"PCI {target['properties']['pci']}" in details
    assert f"({target['properties']['frames']} frames)" in details
    assert f"model\t{target['properties']['model_version']}" in details  # the model behind the grade
    assert page.locator("#details .photo .box").count() == sum(target["properties"]["damage"].values())
    wait_until(page, "[...document.querySelectorAll('#details img')].every(i => i.complete && i.naturalWidth > 0)", 45_000)
    assert "km per grade" in page.inner_text("#summary")
    assert "(unnamed)" in page.inner_text("#streets")  # derived sections have no street name
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "server-map.png"))
    # An inspector rejects a detection from the page: it is marked and the grade recomputes.
    page.click("#details button[data-action=reject] >> nth=0")
    wait_until(page, "document.querySelector('#details').innerText.includes('rejected')", 45_000)
    assert live.sql("SELECT COUNT(*) FROM reviews WHERE action = 'reject'") == [(1,)]
    assert outside == [] and errors == []


def test_map_filters_by_grade(live, browser):
    auth = live.register("car-1")
    assert live.ingest(auth, frames_along(STREET, damage_rate=0.8, seed=9), "b1").status_code == 200
    features = live.client.get("/api/v1/sections.geojson").json()["features"]
    poor = [f for f in features if f["properties"]["grade"] >= 3.0]
    assert 0 < len(poor) < len(features)
    page, outside, errors = _offline_page(browser, live.url)
    page.goto(live.url + "/")
    wait_until(page, "window.voirieReady === true", 90_000)
    page.select_option("select[name=grade_min]", "3")
    page.click("#filters button[type=submit]")
    wait_until(page, f"window.voirieSectionsRendered === {len(poor)}", 45_000)
    assert outside == [] and errors == []
