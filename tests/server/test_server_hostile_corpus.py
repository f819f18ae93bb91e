"""A hostile corpus, one request per class of bad input that once gave a 500: each must be
refused with a 4xx that names what was wrong, and leave every stored row as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from voirie.records import Detection
from voirie.server.gpkg import write_geopackage
from voirie.lab.synth.records import evidence_jpeg, frames_along

from .conftest import STREET
from .test_server_schema import stored_rows

BIG = 2**63
Y1 = "0001-01-01T00:00:00+05:00"  # valid ISO, but before year 1 in UTC
Y9999 = "9999-12-31T23:00:00-05:00"  # valid ISO, but after year 9999 in UTC


def _gpkg(tmp_path: Path, mutate: str | None) -> bytes:
    from shapely.geometry import LineString

    path = write_geopackage(tmp_path / "roads.gpkg", "roads", "LINESTRING",
                            [(LineString(STREET), {"id": "r1", "name": "Rue"})], {"id": "TEXT", "name": "TEXT"})
    if mutate:
        with sqlite3.connect(path) as conn:
            conn.executescript(mutate)
    return path.read_bytes()


def _ingest_body(record: dict, kind: str = "frame_record", batch_id: str = "hostile") -> str:
    return json.dumps({"batch_id": batch_id, "device_id": "car-1", "records": [{"kind": kind, "record": record}]})


def _surrogate(body: str, field: str) -> str:
    """``body`` with the JSON string value of ``field`` replaced by one holding a lone surrogate."""
    head, tail = body.split(f'"{field}": "', 1)
    return head + f'"{field}": "x\\ud800y' + tail[tail.index('"'):]


def corpus(tmp_path: Path, frame, detection_id: str) -> list[tuple[str, str, str, object, str, str]]:
    """(label, method, path, body, content type, role) for every hostile request."""
    rec = frame.to_dict()
    count_bin = {"record_id": "x", "device_id": "car-1", "camera_id": "cam", "line_id": "l1", "direction": "in",
                 "class_name": "car", "bin_start_utc": Y1, "count": 1}
    beat = {"device_id": "car-1", "software_version": "1.0", "disk_free_bytes": 1, "time_utc": "2026-01-01T00:00:00Z"}
    many = {**rec, "detections": [Detection(class_name="c", confidence=0.5, box_xyxy=(0, 0, 1, 1)).to_dict()] * 1001}
    jpeg = evidence_jpeg(frame)
    sof = jpeg.index(b"\xff\xc0")
    bomb = jpeg[:sof + 5] + (60000).to_bytes(2, "big") * 2 + jpeg[sof + 9:]
    items = [
        ("sections from year 1", "GET", f"/api/v1/sections.geojson?surveyed_from={Y1}", None, "", "anonymous"),
        ("sections to year 9999", "GET", f"/api/v1/sections.geojson?surveyed_to={Y9999}", None, "", "anonymous"),
        ("counts start year 1", "GET", f"/api/v1/counts/bins?start={Y1}", None, "", "anonymous"),
        ("counts end year 9999", "GET", f"/api/v1/counts/traffic?end={Y9999}", None, "", "anonymous"),
        ("counts csv year 9999", "GET", f"/api/v1/counts/export.csv?start={Y9999}", None, "", "anonymous"),
        ("compare year 9999", "GET", f"/api/v1/counts/compare?before_start={Y9999}&before_end=2020-01-02"
                                     "&after_start=2020-01-01&after_end=2020-01-02", None, "", "anonymous"),
        ("tz a folder", "GET", "/api/v1/counts/daily?tz=Europe", None, "", "anonymous"),
        ("tz a path", "GET", "/api/v1/counts/profile?tz=../../etc/passwd", None, "", "anonymous"),
        ("tz empty", "GET", "/api/v1/counts/daily?tz=", None, "", "anonymous"),
        ("bbox NaN", "GET", "/collections/detections/items?bbox=nan,nan,nan,nan", None, "", "anonymous"),
        ("ingest sequence 2^63", "POST", "/api/v1/ingest", _ingest_body({**rec, "sequence": BIG}), "json", "device"),
        ("ingest faces 2^64", "POST", "/api/v1/ingest", _ingest_body({**rec, "faces_masked": 2**64}), "json", "device"),
        ("ingest track id -2^63-1", "POST", "/api/v1/ingest", _ingest_body(
            {**rec, "detections": [{**rec["detections"][0], "track_id": -BIG - 1}]}), "json", "device"),
        ("ingest count 2^63", "POST", "/api/v1/ingest", _ingest_body(
            {**count_bin, "bin_start_utc": "2026-01-01T00:00:00Z", "count": BIG}, "count_bin"), "json", "device"),
        ("ingest time year 9999", "POST", "/api/v1/ingest", _ingest_body({**rec, "time_utc": Y9999}), "json", "device"),
        ("ingest bin year 1", "POST", "/api/v1/ingest", _ingest_body(count_bin, "count_bin"), "json", "device"),
        ("ingest surrogate", "POST", "/api/v1/ingest", _surrogate(_ingest_body(rec), "anonymizer"), "json", "device"),
        ("ingest surrogate class", "POST", "/api/v1/ingest", _surrogate(_ingest_body(rec), "class_name"), "json",
         "device"),
        ("ingest hostile record id", "POST", "/api/v1/ingest", _ingest_body({**rec, "record_id": "a\"><img src=x>"}),
         "json", "device"),
        ("ingest hostile survey id", "POST", "/api/v1/ingest", _ingest_body({**rec, "survey_id": "<b>"}), "json",
         "device"),
        ("ingest hostile batch id", "POST", "/api/v1/ingest", _ingest_body(rec, batch_id="<svg>"), "json", "device"),
        ("ingest newline in class", "POST", "/api/v1/ingest", _ingest_body(
            {**rec, "detections": [{**rec["detections"][0], "class_name": "a\nb"}]}), "json", "device"),
        ("ingest over the detection cap", "POST", "/api/v1/ingest", _ingest_body(many), "json", "device"),
        ("ingest a list", "POST", "/api/v1/ingest", "[1, 2]", "json", "device"),
        ("heartbeat surrogate", "POST", "/api/v1/heartbeat", _surrogate(json.dumps(beat, separators=(", ", ": ")),
                                                                         "software_version"), "json", "device"),
        ("heartbeat 2^63 bytes", "POST", "/api/v1/heartbeat", json.dumps({**beat, "disk_free_bytes": BIG}), "json",
         "device"),
        ("heartbeat year 1", "POST", "/api/v1/heartbeat", json.dumps({**beat, "time_utc": Y1}), "json", "device"),
        ("heartbeat pending 2^63", "POST", "/api/v1/heartbeat", json.dumps({**beat, "pending_evidence": BIG}), "json",
         "device"),
        ("review note surrogate", "POST", f"/api/v1/detections/{detection_id}/review",
         '{"action": "confirm", "note": "x\\udc00"}', "json", "inspector"),
        ("review class surrogate", "POST", f"/api/v1/detections/{detection_id}/review",
         '{"action": "relabel", "new_class": "\\ud800"}', "json", "inspector"),
        ("plan NaN budget", "POST", "/api/v1/plans", '{"budgets": [NaN]}', "json", "admin"),
        ("plan infinite budget", "POST", "/api/v1/plans", '{"budgets": [Infinity]}', "json", "admin"),
        ("plan NaN target", "POST", "/api/v1/plans", '{"target_pci": NaN}', "json", "admin"),
        ("network a list", "PUT", "/api/v1/network", "[1, 2]", "geo+json", "admin"),
        ("network features an object", "PUT", "/api/v1/network",
         '{"type": "FeatureCollection", "features": {"a": 1}}', "geo+json", "admin"),
        ("network feature a string", "PUT", "/api/v1/network",
         '{"type": "FeatureCollection", "features": ["x"]}', "geo+json", "admin"),
        ("network not UTF-8", "PUT", "/api/v1/network", b"\xff\xfe{", "geo+json", "admin"),
        ("gpkg truncated blob", "PUT", "/api/v1/network", _gpkg(tmp_path, "UPDATE roads SET geom = X'475000'"),
         "gpkg", "admin"),
        ("gpkg garbage blob", "PUT", "/api/v1/network", _gpkg(tmp_path, "UPDATE roads SET geom = X'47500003E6100000'"
                                                                         "|| randomblob(40)"), "gpkg", "admin"),
        ("gpkg unknown SRS", "PUT", "/api/v1/network", _gpkg(tmp_path, "INSERT INTO gpkg_spatial_ref_sys VALUES "
                                                                       "('x', 99999, 'EPSG', 99999, 'x', ''); "
                                                                       "UPDATE gpkg_geometry_columns SET srs_id = 99999"),
         "gpkg", "admin"),
        ("gpkg no layer", "PUT", "/api/v1/network", _gpkg(tmp_path, "DELETE FROM gpkg_geometry_columns"), "gpkg",
         "admin"),
        ("gpkg not a database", "PUT", "/api/v1/network", b"SQLite format 3\x00" + b"\x00" * 300, "gpkg", "admin"),
        ("evidence truncated", "PUT", f"/api/v1/evidence/{frame.record_id}", jpeg[:200], "jpeg", "device"),
        ("evidence bomb", "PUT", f"/api/v1/evidence/{frame.record_id}", bomb, "jpeg", "device"),
        ("evidence path", "GET", "/api/v1/evidence/..%2F..%2Fvoirie.sqlite3", None, "", "admin"),
        ("revoke key 2^63", "DELETE", f"/api/v1/api-keys/{BIG}", None, "", "admin"),
        ("device name surrogate", "POST", "/api/v1/devices", '{"device_id": "d", "name": "\\ud800"}', "json", "admin"),
        ("state not a zip", "PUT", "/api/v1/imports/state", b"PK\x03\x04broken", "zip", "admin"),
    ]
    return items


CONTENT_TYPES = {"json": "application/json", "geo+json": "application/geo+json", "jpeg": "image/jpeg",
                 "gpkg": "application/geopackage+sqlite3", "zip": "application/zip", "": None}


def test_hostile_corpus_is_refused_with_4xx_and_changes_nothing(live, tmp_path):
    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=1.5, seed=7)[:6]
    assert live.ingest(auth, frames, "seed").status_code == 200
    live.client.get("/api/v1/summary").raise_for_status()  # grades current: reads after this change nothing
    roles = {"anonymous": {}, "device": auth, "inspector": live.key("inspector"), "admin": live.admin}
    detection_id = live.sql("SELECT detection_id FROM detections LIMIT 1")[0][0]
    frame = next(f for f in frames if f.detections)
    wrong = []
    items = corpus(tmp_path, frame, detection_id)
    for label, method, path, body, kind, role in items:
        before = stored_rows(live)
        headers = dict(roles[role])
        if CONTENT_TYPES[kind]:
            headers["Content-Type"] = CONTENT_TYPES[kind]
        answer = live.client.request(method, path, content=body, headers=headers)
        detail = answer.text
        if not 400 <= answer.status_code < 500 or "detail" not in detail:
            wrong.append(f"{label}: {answer.status_code} {detail[:200]}")
        elif stored_rows(live) != before:
            wrong.append(f"{label}: refused ({answer.status_code}) but stored rows changed")
    assert wrong == [], "\n".join(wrong)
    assert len(items) >= 45


@pytest.mark.parametrize(("field", "value", "named"), [
    ("sequence", BIG, "sequence"), ("time_utc", Y9999, "records"), ("record_id", "x", "record_id")])
def test_refusals_name_the_field(live, field, value, named):
    auth = live.register("car-1")
    frame = frames_along(STREET, seed=1)[0]
    answer = live.client.post("/api/v1/ingest", content=_ingest_body({**frame.to_dict(), field: value}),
                              headers={**auth, "Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == named
