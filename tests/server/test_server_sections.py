"""Network import, derived sections, newer survey supersedes, history, review → regrade."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import datetime, timezone

from voirie.lab.synth.records import frames_along

from .conftest import STREET

OTHER = [(2.3550, 48.8510), (2.3550, 48.8530)]


def network_geojson() -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "r1", "name": "Rue Royale", "highway": "residential", "width": 7},
         "geometry": {"type": "LineString", "coordinates": STREET}},
        {"type": "Feature", "properties": {"id": "r2", "name": "Rue du Nord", "highway": "tertiary"},
         "geometry": {"type": "LineString", "coordinates": OTHER}}]}


def test_network_import_sections_and_matching(live):
    answer = live.client.put("/api/v1/network", content=json.dumps(network_geojson()),
                             headers={**live.admin, "Content-Type": "application/geo+json"})
    assert answer.status_code == 200, answer.text
    lengths = dict(live.sql("SELECT segment_id, SUM(length_m) FROM sections GROUP BY segment_id"))
    per_section = live.sql("SELECT MIN(length_m), MAX(length_m), COUNT(*) FROM sections")[0]
    assert 18 <= per_section[0] and per_section[1] <= 22  # default ~20 m sections
    assert per_section[2] == sum(round(v / 20) for v in lengths.values())
    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=0.5) + frames_along(OTHER, first_sequence=500, seed=2)
    assert live.ingest(auth, frames, "b1").status_code == 200
    features = live.client.get("/api/v1/sections.geojson").json()["features"]
    assert {f["properties"]["source"] for f in features} == {"network"}
    assert all(f["properties"]["grade"] is not None for f in features)  # every section driven
    streets = {s["street"]: s for s in live.client.get("/api/v1/streets").json()}
    assert set(streets) == {"Rue Royale", "Rue du Nord"}
    assert live.sql("SELECT COUNT(*) FROM frames WHERE section_id LIKE 'r1-%'")[0][0] == len(frames_along(STREET))
    assert live.sql("SELECT DISTINCT width_m FROM sections WHERE segment_id = 'r1'") == [(7.0,)]


def test_bad_network_file_is_refused_with_reason(live):
    answer = live.client.put("/api/v1/network", content=b'{"type": "Feature"}',
                             headers={**live.admin, "Content-Type": "application/geo+json"})
    assert answer.status_code == 400 and "FeatureCollection" in answer.text


def test_cli_network_import(tmp_path, fresh_database):
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps(network_geojson()))
    env = {"DATABASE_URL": fresh_database() or f"sqlite:///{tmp_path / 'cli.sqlite3'}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "voirie.cli", "network", "import", str(path)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "imported 2 roads as" in result.stdout


def test_derived_sections_newer_survey_supersedes_and_history(live):
    auth = live.register("car-1")
    old = frames_along(STREET, survey_id="2025", damage_rate=0.0, start=datetime(2025, 5, 1, tzinfo=timezone.utc))
    new = frames_along(STREET, survey_id="2026", damage_rate=2.0, seed=5,
                       start=datetime(2026, 5, 1, tzinfo=timezone.utc))
    assert live.ingest(auth, old, "b-2025").status_code == 200
    first = live.client.get("/api/v1/sections.geojson").json()["features"]
    assert first and {f["properties"]["source"] for f in first} == {"derived"}
    assert {f["properties"]["grade"] for f in first} == {1.0}
    assert live.ingest(auth, new, "b-2026").status_code == 200
    second = live.client.get("/api/v1/sections.geojson").json()["features"]
    assert [f["id"] for f in second] == [f["id"] for f in first]  # the second pass reuses sections
    assert {f["properties"]["survey_id"] for f in second} == {"2026"}
    assert all(f["properties"]["model_version"] == "rdd-yolo@1.0" for f in second)
    worse = live.client.get("/api/v1/changes").json()
    assert worse and all(w["grade"] - w["previous_grade"] >= 0.5 for w in worse)
    detail = live.client.get(f"/api/v1/sections/{worse[0]['section_id']}").json()
    assert [h["survey_id"] for h in detail["history"]] == ["2025", "2026"]
    old_only = live.client.get("/api/v1/sections.geojson", params={"surveyed_to": "2025-12-31T00:00:00Z"}).json()
    assert old_only["features"] == []


def test_review_regrades_and_exports_yolo_labels(live):
    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=1.5, seed=7)
    assert live.ingest(auth, frames, "b1").status_code == 200
    worst = max(live.client.get("/api/v1/sections.geojson").json()["features"], key=lambda f: f["properties"]["grade"])
    detail = live.client.get(f"/api/v1/sections/{worst['id']}").json()
    detections = [d for f in detail["frame_records"] for d in f["detections"]]
    inspector = live.key("inspector")
    url = "/api/v1/detections/{}/review"
    assert live.client.post(url.format(detections[0]["detection_id"]), json={"action": "reject"},
                            headers=live.key("viewer")).status_code == 403
    assert live.client.post(url.format("nope:0"), json={"action": "confirm"}, headers=inspector).status_code == 404
    assert live.client.post(url.format(detections[0]["detection_id"]), json={"action": "relabel"},
                            headers=inspector).status_code == 422
    relabel = live.client.post(url.format(detections[0]["detection_id"]),
                               json={"action": "relabel", "new_class": "pothole"}, headers=inspector)
    assert relabel.status_code == 201 and relabel.json()["old_class"] == detections[0]["class_name"]
    for d in detections[1:]:
        assert live.client.post(url.format(d["detection_id"]), json={"action": "reject"}, headers=inspector).status_code == 201
    after = live.client.get(f"/api/v1/sections/{worst['id']}").json()
    assert after["grade"] < worst["properties"]["grade"]
    regraded = {f["id"]: f for f in live.client.get("/api/v1/sections.geojson").json()["features"]}
    assert regraded[worst["id"]]["properties"]["grade"] == after["grade"]  # the cached map was renewed
    assert after["damage"] == {"pothole": 1} and after["confidence"] > 0
    archive = zipfile.ZipFile(io.BytesIO(live.client.get("/api/v1/exports/yolo-corrections.zip", headers=inspector).content))
    assert "pothole" in archive.read("classes.txt").decode().split()
    record_id, _ = detections[0]["detection_id"].split(":")
    label = archive.read(f"labels/{record_id}.txt").decode().splitlines()
    cls = archive.read("classes.txt").decode().split().index("pothole")
    assert any(line.split()[0] == str(cls) and all(0 <= float(v) <= 1 for v in line.split()[1:]) for line in label)


def test_geopackage_in_a_projected_crs_is_reprojected(tmp_path):
    import sqlite3

    import shapely
    from pyproj import Transformer
    from shapely.geometry import LineString

    from voirie.server.gpkg import write_geopackage
    from voirie.server.network import read_network

    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    line = LineString([to_l93.transform(lon, lat) for lon, lat in STREET])
    path = write_geopackage(tmp_path / "roads.gpkg", "troncons", "LINESTRING",
                            [(line, {"nom_voie": "Rue Royale", "nature": "Route à 1 chaussée", "largeur": 6.5})],
                            {"nom_voie": "TEXT", "nature": "TEXT", "largeur": "REAL"})
    with sqlite3.connect(path) as conn:  # declare the layer as Lambert-93, as IGN BD TOPO ships it
        conn.execute("INSERT INTO gpkg_spatial_ref_sys VALUES ('RGF93 / Lambert-93', 2154, 'EPSG', 2154, 'x', '')")
        conn.execute("UPDATE gpkg_geometry_columns SET srs_id = 2154")
    (segment,) = read_network(path)
    assert (segment.name, segment.road_class, segment.width_m) == ("Rue Royale", "Route à 1 chaussée", 6.5)
    assert shapely.equals_exact(segment.line, LineString(STREET), tolerance=1e-6)
