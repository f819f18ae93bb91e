"""The map page past ``map_tiles_from_sections`` in a real headless Chromium: sections come
as vector tiles (no GeoJSON of the network is fetched), render, filter and open on click."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from shapely.geometry import LineString

from voirie.lab.synth.records import frames_along
from voirie.server.snapshot import wait_until

from .conftest import start_server
from .test_server_map_browser import ARTIFACTS, _click_section, _offline_page, browser  # noqa: F401 - fixture
from .test_server_tiles import LONG_STREET


@pytest.fixture
def tiled(tmp_path: Path, fresh_database: Callable[[], str]):
    """A server whose map page switches to tiles from the first section."""
    server, live = start_server(tmp_path, fresh_database(), map_tiles_from_sections=0)
    try:
        yield live
    finally:
        live.close()
        server.stop()


def test_a_large_network_opens_as_vector_tiles(tiled, browser):  # noqa: F811 - fixture
    car = tiled.register("car-1")
    assert tiled.ingest(car, frames_along(LONG_STREET, damage_rate=0.8, seed=5), "s1").status_code == 200
    features = tiled.client.get("/api/v1/sections.geojson").json()["features"]
    page, outside, errors = _offline_page(browser, tiled.url)
    fetched: list[tuple[str, int]] = []
    page.on("response", lambda r: fetched.append((r.url.removeprefix(tiled.url), r.status)))
    page.goto(tiled.url + "/")
    wait_until(page, "window.voirieReady === true", 90_000)
    assert page.evaluate("window.voirieTiles") is True
    wait_until(page, "window.voirieMap.queryRenderedFeatures({layers: ['sections']}).length > 0", 45_000)
    assert any(path.startswith("/tiles/") and status == 200 for path, status in fetched)
    assert not any(path.startswith("/api/v1/sections.geojson") for path, _ in fetched)
    # A click on a section (the page fitted the street: raw sections) opens its details.
    target = max(features, key=lambda f: sum(f["properties"]["damage"].values()))
    middle = list(LineString(target["geometry"]["coordinates"]).interpolate(0.5, normalized=True).coords[0])
    _click_section(page, target["id"], middle)
    assert target["id"] in page.inner_text("#details")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "server-map-tiles.png"))
    # The grade filter runs on the tiles' properties: only poor sections stay drawn.
    drawn = "window.voirieMap.queryRenderedFeatures({layers: ['sections']})"
    assert page.evaluate(f"{drawn}.some(f => f.properties.grade < 3)")
    page.select_option("select[name=grade_min]", "3")
    page.click("#filters button[type=submit]")
    wait_until(page, """() => { const drawn = window.voirieMap.queryRenderedFeatures({layers: ['sections']});
                                return drawn.length > 0 && drawn.every(f => f.properties.grade >= 3); }""", 45_000)
    assert outside == [] and errors == []


def test_a_model_version_leaves_the_tiles_for_its_geojson_and_back(tiled, browser):  # noqa: F811 - fixture
    from .test_server_reanalyse import MODEL, _archive, _run

    _archive(tiled, photos=6)
    _run(tiled)
    expected = len(tiled.client.get("/api/v1/sections.geojson", params={"model": f"{MODEL}@0.3.0"}).json()["features"])
    page, outside, errors = _offline_page(browser, tiled.url)
    page.goto(tiled.url + "/")
    wait_until(page, "window.voirieReady === true", 90_000)
    assert page.evaluate("window.voirieSectionsRendered") == "tiles" and page.is_visible("#model-choice")
    with page.expect_response(lambda r: f"model={MODEL}" in r.url):
        page.select_option("select[name=model]", f"{MODEL}@0.3.0")
    wait_until(page, f"window.voirieSectionsRendered === {expected}", 30_000)
    assert page.evaluate("window.voirieMap.getSource('sections').type") == "geojson"
    page.select_option("select[name=model]", "")
    wait_until(page, "window.voirieSectionsRendered === 'tiles'", 30_000)
    assert page.evaluate("window.voirieMap.getSource('sections').type") == "vector"
    wait_until(page, "window.voirieMap.queryRenderedFeatures({layers: ['sections']}).length > 0", 45_000)
    assert outside == [] and errors == []
