"""Exports: CSV columns, GeoPackage readable back, OGC API Features paging/bbox, state round trip."""

from __future__ import annotations

import csv
import io
import sqlite3

from shapely import wkt

from voirie.server.network import read_geopackage
from voirie.lab.synth.records import evidence_jpeg, frames_along

from .conftest import STREET, start_server

CSV_COLUMNS = ["section_id", "street", "road_class", "length_m", "width_m", "pci", "grade", "confidence",
               "surveyed_at", "model_version", "geometry_wkt"]


def _load(live):
    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=0.7, seed=11)
    assert live.ingest(auth, frames, "b1").status_code == 200
    for f in frames[:4]:
        live.client.put(f"/api/v1/evidence/{f.record_id}", content=evidence_jpeg(f),
                        headers={**auth, "Content-Type": "image/jpeg"}).raise_for_status()
    return frames


def test_csv_and_geojson(live):
    _load(live)
    rows = list(csv.DictReader(io.StringIO(live.client.get("/api/v1/sections.csv").text)))
    assert list(rows[0]) == CSV_COLUMNS
    geojson = live.client.get("/api/v1/sections.geojson")
    assert geojson.headers["content-type"] == "application/geo+json"
    features = geojson.json()["features"]
    assert [r["section_id"] for r in rows] == [f["id"] for f in features]
    assert all(1 <= float(r["grade"]) <= 5 and 0 <= float(r["pci"]) <= 100 for r in rows)
    assert wkt.loads(rows[0]["geometry_wkt"]).geom_type == "LineString"


def test_geopackage_opens_as_a_geopackage(live, tmp_path):
    _load(live)
    path = tmp_path / "sections.gpkg"
    path.write_bytes(live.client.get("/api/v1/exports/sections.gpkg").content)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert conn.execute("SELECT data_type, srs_id FROM gpkg_contents").fetchall() == [("features", 4326)]
    segments = read_geopackage(path)  # our reader parses the blobs our writer wrote
    sections = live.client.get("/api/v1/sections.geojson").json()["features"]
    assert sorted(s.segment_id for s in segments) == sorted(f["id"] for f in sections)
    points = tmp_path / "detections.gpkg"
    points.write_bytes(live.client.get("/api/v1/exports/detections.gpkg").content)
    with sqlite3.connect(points) as conn:
        assert conn.execute("SELECT COUNT(*) FROM detections").fetchone()[0] == live.sql("SELECT COUNT(*) FROM detections")[0][0]


def test_ogc_api_features_bbox_and_paging(live):
    _load(live)
    assert {c["id"] for c in live.client.get("/collections").json()["collections"]} == {"sections", "detections"}
    assert live.client.get("/collections/potholes").status_code == 404
    page = live.client.get("/collections/sections/items", params={"limit": 5}).json()
    total = page["numberMatched"]
    seen = [f["id"] for f in page["features"]]
    while (nxt := [link["href"] for link in page["links"] if link["rel"] == "next"]):
        page = live.client.get(nxt[0]).json()
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == len(set(seen)) == total > 5
    west = live.client.get("/collections/sections/items", params={"bbox": "2.3499,48.8499,2.3505,48.8504"}).json()
    assert 0 < west["numberMatched"] < total
    assert live.client.get("/collections/sections/items", params={"bbox": "1,2,3"}).status_code == 400
    dets = live.client.get("/collections/detections/items", params={"limit": 3}).json()
    assert dets["numberReturned"] <= 3 and dets["features"][0]["geometry"]["type"] == "Point"


def test_state_export_import_round_trip(live, tmp_path, fresh_database):
    _load(live)
    archive = live.client.get("/api/v1/exports/state.zip", headers=live.admin)
    assert archive.status_code == 200
    assert live.client.get("/api/v1/exports/state.zip").status_code == 401
    server, other = start_server(tmp_path / "restored", fresh_database())
    try:
        bad = other.client.put("/api/v1/imports/state", content=b"not a zip", headers=other.admin)
        assert bad.status_code == 400 and "not a voirie state archive" in bad.text
        answer = other.client.put("/api/v1/imports/state", content=archive.content,
                                  headers={**other.admin, "Content-Type": "application/zip"})
        assert answer.status_code == 200, answer.text
        for table in ("frames", "detections", "sections", "devices", "section_history"):
            assert other.sql(f"SELECT COUNT(*) FROM {table}") == live.sql(f"SELECT COUNT(*) FROM {table}")
        assert other.client.get("/api/v1/sections.csv").text == live.client.get("/api/v1/sections.csv").text
        record_id = live.sql("SELECT record_id FROM frames WHERE has_evidence")[0][0]
        restored = other.client.get(f"/api/v1/evidence/{record_id}", headers=other.admin)
        assert restored.status_code == 200
        assert restored.content == live.client.get(f"/api/v1/evidence/{record_id}", headers=live.admin).content
    finally:
        other.close()
        server.stop()
