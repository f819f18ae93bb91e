"""The low-severity items of the hardening: CSV cells a spreadsheet would run, zip entry
names, token masking that keeps uvicorn's access log working, body size before auth."""

from __future__ import annotations

import csv
import io
import logging
import socket
import zipfile

from uvicorn.logging import AccessFormatter

from voirie.records import CountBin, Detection
from voirie.server.core.logs import install_secret_redaction
from voirie.server.csvsafe import spreadsheet_safe
from voirie.server.review import zip_entry_stem
from voirie.lab.synth.records import frames_along

from .conftest import STREET


def test_spreadsheet_safe_cells():
    for text in ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(text) == "'" + text
    assert spreadsheet_safe("Rue Royale") == "Rue Royale"
    assert spreadsheet_safe(-3.5) == -3.5  # numbers are values, not formulas


def test_csv_exports_neutralise_formulas(live):
    network = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
        "type": "LineString", "coordinates": STREET}, "properties": {"id": "r1", "name": "=cmd|' /C calc'!A0",
                                                                     "highway": "@SUM(1)"}}]}
    assert live.client.put("/api/v1/network", json=network, headers=live.admin).status_code == 200
    rows = list(csv.DictReader(io.StringIO(live.client.get("/api/v1/sections.csv").text)))
    assert rows and all(r["street"] == "'=cmd|' /C calc'!A0" and r["road_class"] == "'@SUM(1)" for r in rows)
    auth = live.register("pole-7")
    from datetime import datetime, timezone

    start = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)
    hostile = CountBin(record_id=CountBin.make_id("pole-7", "cam", "l1", "in", "=1+1", start), device_id="pole-7",
                       camera_id="cam", line_id="l1", direction="in", class_name="=1+1", bin_start_utc=start, count=3)
    body = {"batch_id": "b1", "device_id": "pole-7", "records": [{"kind": "count_bin", "record": hostile.to_dict()}]}
    assert live.client.post("/api/v1/ingest", json=body, headers=auth).status_code == 200
    exported = list(csv.DictReader(io.StringIO(live.client.get("/api/v1/counts/export.csv").text)))
    assert [r["class_name"] for r in exported] == ["'=1+1"]


def test_yolo_zip_entry_names_stay_in_their_folder(live):
    assert zip_entry_stem("../../etc/passwd") == "_.._etc_passwd"
    assert zip_entry_stem("..") == "_" and zip_entry_stem("") == "_"
    auth = live.register("car-1")
    frame = frames_along(STREET, seed=2)[0]
    frame = frame.model_copy(update={"detections": (Detection(class_name="crack", confidence=0.9,
                                                              box_xyxy=(1, 2, 30, 40)),)})
    assert live.ingest(auth, [frame], "b1").status_code == 200
    detection_id = live.sql("SELECT detection_id FROM detections")[0][0]
    inspector = live.key("inspector")
    live.client.post(f"/api/v1/detections/{detection_id}/review", json={"action": "confirm"},
                     headers=inspector).raise_for_status()
    archive = zipfile.ZipFile(io.BytesIO(live.client.get("/api/v1/exports/yolo-corrections.zip",
                                                         headers=inspector).content))
    assert sorted(archive.namelist()) == ["classes.txt", "images.txt", f"labels/{frame.record_id}.txt"]


def test_masked_tokens_keep_uvicorns_access_log_working():
    install_secret_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    access = logging.getLogger("voirie-test.uvicorn.access")
    access.addHandler(handler)
    access.propagate = False
    access.setLevel(logging.INFO)
    try:
        secret = "vdt_" + "A" * 43
        # Exactly how uvicorn's h11/httptools protocols log a request.
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/api/v1/models/x?token={secret}", "1.1", 200)
    finally:
        access.removeHandler(handler)
    line = stream.getvalue()
    assert secret not in line and "vdt_***" in line
    assert line.startswith('127.0.0.1:5000 - "GET /api/v1/models/x?token=vdt_*** HTTP/1.1" 200')


def test_an_oversized_body_is_refused_before_authentication(live):
    # Declared length over the ingest cap, no token: 413 at once, before any body byte is sent.
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 200000000\r\n\r\n")
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_swagger_ui_only_when_asked_for_with_its_own_policy(tmp_path, fresh_database):
    from .conftest import start_server

    server, live = start_server(tmp_path, fresh_database(), api_docs=True)
    try:
        docs = live.client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
        page_policy = live.client.get("/").headers["content-security-policy"]
        assert "cdn.jsdelivr.net" not in page_policy and "'unsafe-inline'" not in page_policy.split(";")[1]
        assert live.client.get("/openapi.json").status_code == 200
    finally:
        live.close()
        server.stop()
