"""Vector tiles from a real server on both backends (SQLite: Python encoder; PostgreSQL with
PostGIS: ST_AsMVT), decoded with mapbox-vector-tile and compared with the sections GeoJSON."""

from __future__ import annotations

import json
import math

import mapbox_vector_tile
import pytest
from shapely.geometry import LineString, box

from voirie.lab.synth.records import frames_along
from voirie.server.tiles import TileAddress

from .conftest import STREET

LONG_STREET = [(2.3500, 48.8500), (2.3560, 48.8530), (2.3620, 48.8530), (2.3650, 48.8560)]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding a point (the usual slippy-map formula)."""
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def decoded(answer) -> dict:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(answer.content)


def test_a_street_tile_holds_its_sections_with_their_condition(live):
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, damage_rate=0.8, seed=5), "s1").status_code == 200
    features = live.client.get("/api/v1/sections.geojson").json()["features"]
    z, x, y = tile_of(*LONG_STREET[1], 16)
    tile_box = box(*TileAddress(z, x, y).lonlat_bounds())
    expected = {f["id"]: f["properties"] for f in features
                if LineString(f["geometry"]["coordinates"]).intersects(tile_box)}
    layer = decoded(live.client.get(f"/tiles/{z}/{x}/{y}.mvt"))["sections"]
    got = {f["properties"]["section_id"]: f["properties"] for f in layer["features"]}
    assert set(got) == set(expected) and 0 < len(got) < len(features)
    for section_id, props in got.items():
        want = expected[section_id]
        assert props["grade"] == pytest.approx(want["grade"]) and props["pci"] == pytest.approx(want["pci"])
        assert json.loads(props["damage"]) == {k: v for k, v in want["damage"].items() if v}
        assert props["damage_total"] == sum(want["damage"].values())
        assert props["surveyed_at"][:19] == want["surveyed_at"][:19]
    assert any(p["damage_total"] for p in got.values())


def test_low_zooms_serve_merged_pieces_covering_every_section(live):
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, damage_rate=0.8, seed=6), "s1").status_code == 200
    features = live.client.get("/api/v1/sections.geojson").json()["features"]
    pieces = decoded(live.client.get("/tiles/{}/{}/{}.mvt".format(*tile_of(*LONG_STREET[1], 11))))["sections"]
    pieces = [f["properties"] for f in pieces["features"]]
    assert 1 <= len(pieces) < len(features) and all("section_id" not in p for p in pieces)
    assert sum(p["sections"] for p in pieces) == len(features)
    assert sum(p["damage_total"] for p in pieces) == sum(sum(f["properties"]["damage"].values()) for f in features)
    assert max(p["grade_max"] for p in pieces) == pytest.approx(max(f["properties"]["grade"] for f in features))
    classes = {name for p in pieces for name in p["damage_classes"].split("|") if name}
    assert classes == {name for f in features for name, n in f["properties"]["damage"].items() if n}
    # The stored overview: per level, every section once; pieces reach the level's length.
    for level, min_length in ((1, 100.0), (2, 400.0)):
        rows = live.sql(f"SELECT sections, length_m FROM section_overview WHERE level = {level}")
        assert sum(r[0] for r in rows) == len(features)
        assert len(rows) == 1 or all(length >= min_length for _, length in rows)


def test_an_empty_tile_is_204_and_an_unchanged_one_304(live):
    car = live.register("car-1")
    assert live.ingest(car, frames_along(STREET, damage_rate=0.5, seed=7), "s1").status_code == 200
    far = live.client.get("/tiles/{}/{}/{}.mvt".format(*tile_of(-70.0, -30.0, 14)))
    assert far.status_code == 204 and far.content == b""
    path = "/tiles/{}/{}/{}.mvt".format(*tile_of(*STREET[1], 15))
    first = live.client.get(path)
    assert first.status_code == 200 and first.headers["etag"]
    again = live.client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # A new survey regrades: the version changes and the tile is sent again.
    later = frames_along(STREET, damage_rate=2.0, seed=8, survey_id="survey-2")
    assert live.ingest(car, later, "s2").status_code == 200
    changed = live.client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize(("path", "message"), [
    ("/tiles/25/0/0.mvt", "zoom 25 is out of range"),
    ("/tiles/3/8/0.mvt", "x and y must be 0-7 at zoom 3"),
    ("/tiles/3/0/-1.mvt", "x and y must be 0-7 at zoom 3"),
    ("/tiles/a/0/0.mvt", "z"),
])
def test_a_tile_that_does_not_exist_is_422_naming_the_range(live, path, message):
    answer = live.client.get(path)
    assert answer.status_code == 422 and message in answer.text


def test_the_works_layer_holds_the_adopted_plans_works(live):
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, damage_rate=0.6, seed=3), "s1").status_code == 200
    z, x, y = tile_of(*LONG_STREET[1], 14)
    path, tile_box = f"/tiles/{z}/{x}/{y}.mvt", box(*TileAddress(z, x, y).lonlat_bounds())
    before = live.client.get(path)
    assert "works" not in decoded(before)
    plan = live.client.post("/api/v1/plans", json={"years": 2, "budgets": [20_000], "time_limit": 5},
                            headers=live.admin).json()
    funded = next(r for r in plan["results"] if r["scenario"]["kind"] == "budget" and r["works_count"])
    live.client.post(f"/api/v1/plans/{plan['plan_id']}/approve", json={"scenario": funded["scenario"]["name"]},
                     headers=live.admin).raise_for_status()
    after = live.client.get(path, headers={"If-None-Match": before.headers["etag"]})
    works = decoded(after)["works"]["features"]
    expected = [f for f in live.client.get(f"/api/v1/plans/{plan['plan_id']}/works.geojson").json()["features"]
                if LineString(f["geometry"]["coordinates"]).intersects(tile_box)]
    assert expected and sorted(f["properties"]["section_id"] for f in works) == sorted(f["properties"]["section_id"] for f in expected)
    assert {f["properties"]["scenario"] for f in works} == {funded["scenario"]["name"]}


def test_map_extent_tells_the_page_when_to_use_tiles(live):
    assert live.client.get("/api/v1/map-extent").json()["sections"] == 0
    car = live.register("car-1")
    assert live.ingest(car, frames_along(STREET, seed=1), "s1").status_code == 200
    extent = live.client.get("/api/v1/map-extent").json()
    assert extent["sections"] == len(live.client.get("/api/v1/sections.geojson").json()["features"])
    minx, miny, maxx, maxy = extent["bbox"]
    assert minx <= STREET[0][0] <= maxx and miny <= STREET[0][1] <= maxy
    assert extent["tiles_from_sections"] == 10_000 and extent["tiles"] == "/tiles/{z}/{x}/{y}.mvt"


def test_postgresql_serves_tiles_from_postgis_geometry(live, postgres_cluster):
    if not live.database_url.startswith("postgresql") or not postgres_cluster.postgis:
        pytest.skip("PostGIS runs only on the PostgreSQL backend with the extension installed")
    car = live.register("car-1")
    assert live.ingest(car, frames_along(STREET, seed=2), "s1").status_code == 200
    live.client.get("/tiles/{}/{}/{}.mvt".format(*tile_of(*STREET[1], 16))).raise_for_status()
    indexed = live.sql("SELECT indexdef FROM pg_indexes WHERE indexname IN ('ix_sections_geom', 'ix_section_overview_geom')")
    assert len(indexed) == 2 and all("gist (geom)" in i[0] for i in indexed)
    # The generated column follows the WKT the server wrote.
    assert live.sql("SELECT COUNT(*) FROM sections WHERE ST_SRID(geom) = 3857 AND "
                    "ST_DWithin(ST_Transform(geom, 4326), ST_GeomFromText(geometry_wkt, 4326), 1e-9)") == \
        live.sql("SELECT COUNT(*) FROM sections")


def test_sections_geojson_filters_by_bbox_on_both_backends(live):
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, seed=4), "s1").status_code == 200
    everything = live.client.get("/api/v1/sections.geojson").json()["features"]
    west = (2.3495, 48.8495, 2.3530, 48.8520)
    inside = live.client.get("/api/v1/sections.geojson", params={"bbox": ",".join(map(str, west))}).json()["features"]
    expected = {f["id"] for f in everything if box(*LineString(f["geometry"]["coordinates"]).bounds).intersects(box(*west))}
    assert {f["id"] for f in inside} == expected and 0 < len(expected) < len(everything)
    bad = live.client.get("/api/v1/sections.geojson", params={"bbox": "2.36,48.85,2.35,48.86"})
    assert bad.status_code == 400 and "minLon,minLat,maxLon,maxLat" in bad.text


@pytest.mark.parametrize(("z", "x", "y", "error"), [
    (0, 0, 0, None), (24, 2**24 - 1, 0, None), (-1, 0, 0, "zoom -1"), (2, 4, 0, "0-3 at zoom 2"), (2, 0, 4, "0-3"),
])
def test_tile_addresses_are_checked(z, x, y, error):
    if error is None:
        assert TileAddress.verify(z, x, y) == TileAddress(z, x, y)
    else:
        with pytest.raises(ValueError, match=error):
            TileAddress.verify(z, x, y)


def test_a_tile_holds_the_points_the_slippy_map_formula_puts_in_it():
    for lon, lat in [(2.35, 48.85), (-70.6, -33.4), (151.2, -33.9), (0.0, 0.0)]:
        for z in (0, 5, 13, 20):
            minx, miny, maxx, maxy = TileAddress(*tile_of(lon, lat, z)).lonlat_bounds()
            assert minx <= lon < maxx and miny < lat <= maxy


@pytest.mark.parametrize(("zoom", "level"), [(16, None), (13, None), (12, 1), (11, 2), (10, 3), (9, 4), (0, 4)])
def test_each_low_zoom_reads_the_level_with_as_many_features_per_tile(zoom, level):
    from voirie.server.overview import overview_level

    assert overview_level(zoom) == level
