"""Stored XSS, tried as an attacker would: hostile names and labels reach the database
through a device and the network import, an inspector opens them in real Chromium, and
no script runs. The page is served with a Content-Security-Policy that a test proves the
browser enforces (an inline handler injected on purpose is blocked)."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import LineString

from voirie.records import Detection
from voirie.server.snapshot import wait_until
from voirie.lab.synth.records import evidence_jpeg, frames_along

from .conftest import STREET
from .test_server_map_browser import _click_section, _offline_page, browser  # noqa: F401 - the fixture

# Each payload sets window.__xss to its number if it ever runs.
PAYLOADS = ['<img src=x onerror="window.__xss=1">', '"><svg onload="window.__xss=2">',
            "</script><script>window.__xss=3</script>", "<img src=x onerror=window.__xss=4>"]
HOSTILE_SEGMENT = 'r1"><img src=x onerror=window.__xss=5>'


def _hostile_frames() -> list:
    """Frames whose detections carry markup as class names and whose model version is markup."""
    frames = frames_along(STREET, damage_rate=2.0, seed=11, model_version=PAYLOADS[1])
    hostile = []
    for frame in frames:
        detections = tuple(Detection(class_name=PAYLOADS[i % 4], confidence=0.9, box_xyxy=d.box_xyxy)
                           for i, d in enumerate(frame.detections))
        hostile.append(frame.model_copy(update={"detections": detections}))
    return hostile


def test_hostile_ids_are_refused_at_ingest(live):
    auth = live.register("car-1")
    frame = frames_along(STREET, seed=1)[0]
    body = {"batch_id": "b1", "device_id": "car-1",
            "records": [{"kind": "frame_record", "record": {**frame.to_dict(), "record_id": 'a"><img src=x>'}}]}
    answer = live.client.post("/api/v1/ingest", json=body, headers=auth)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "record_id"
    for field in ("survey_id", "camera_id"):
        bad = {**frame.to_dict(), field: "<svg onload=alert(1)>"}
        body["records"] = [{"kind": "frame_record", "record": bad}]
        answer = live.client.post("/api/v1/ingest", json=body, headers=auth)
        assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == field
    body = {"batch_id": "<img src=x>", "device_id": "car-1", "records": []}
    assert live.client.post("/api/v1/ingest", json=body, headers=auth).status_code == 422
    assert live.sql("SELECT COUNT(*) FROM frames") == [(0,)]


def test_security_headers_on_page_and_api(live):
    for path in ("/", "/api/v1/sections.geojson", "/static/app.js", "/no-such-page"):
        headers = live.client.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert live.client.get("/docs").status_code == 404  # Swagger UI (CDN scripts) is off by default


def test_inspector_opens_hostile_records_and_no_script_runs(live, browser):  # noqa: F811 - fixture
    network = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
        "type": "LineString", "coordinates": STREET}, "properties": {
        "id": HOSTILE_SEGMENT, "name": PAYLOADS[0], "highway": PAYLOADS[3]}}]}
    answer = live.client.put("/api/v1/network", content=json.dumps(network),
                             headers={**live.admin, "Content-Type": "application/geo+json"})
    assert answer.status_code == 200, answer.text
    auth = live.register("car-1")
    frames = _hostile_frames()
    assert live.ingest(auth, frames, "hostile").status_code == 200
    for frame in frames:
        live.client.put(f"/api/v1/evidence/{frame.record_id}", content=evidence_jpeg(frame),
                        headers={**auth, "Content-Type": "image/jpeg"}).raise_for_status()
    features = live.client.get("/api/v1/sections.geojson").json()["features"]
    target = max(features, key=lambda f: sum(f["properties"]["damage"].values()))
    assert target["id"].startswith(HOSTILE_SEGMENT) and set(target["properties"]["damage"]) & set(PAYLOADS)

    page, outside, errors = _offline_page(browser, live.url)
    response = page.goto(live.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    wait_until(page, "window.voirieReady === true", 90_000)
    page.fill("#apikey", live.key("inspector")["Authorization"].split()[1])
    middle = list(LineString(target["geometry"]["coordinates"]).interpolate(0.5, normalized=True).coords[0])
    _click_section(page, target["id"], middle)
    wait_until(page, "[...document.querySelectorAll('#details img')].every(i => i.complete && i.naturalWidth > 0)",
               45_000)
    page.select_option("select[name=damage_class]", PAYLOADS[0])  # hostile names are filter options too
    page.wait_for_timeout(500)  # time for any injected onerror/onload to fire

    details = page.inner_text("#details")
    for payload in (PAYLOADS[0], PAYLOADS[1], PAYLOADS[3], HOSTILE_SEGMENT):
        assert payload in details, payload  # shown as text, exactly as stored
    assert page.evaluate("window.__xss") is None
    # Every <img> on the page is a photo from a blob: URL (none made by a payload), no <svg>/<script> crept in.
    sources = page.evaluate("[...document.querySelectorAll('img')].map(i => i.src)")
    assert sources and all(src.startswith("blob:") for src in sources)
    assert page.evaluate("document.querySelectorAll('aside svg, aside script, #details iframe').length") == 0
    assert outside == [] and errors == []


def test_browser_enforces_the_policy(live, browser):  # noqa: F811 - fixture
    """The CSP is the wall behind the escaping: an inline handler planted in the page is blocked."""
    page, _, errors = _offline_page(browser, live.url)
    page.goto(live.url + "/")
    wait_until(page, "document.readyState === 'complete'", 30_000)
    page.evaluate("""() => { window.__violations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));
        document.body.insertAdjacentHTML('beforeend', '<img src=\"/missing.png\" onerror=\"window.__xss=9\">'); }""")
    wait_until(page, "window.__violations.length > 0", 10_000)
    assert page.evaluate("window.__xss") is None
    assert any(d.startswith("script-src") for d in page.evaluate("window.__violations"))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_standalone_snapshot_inlines_no_markup(tmp_path, payload):
    from voirie.server.snapshot import _inline

    html = _inline("<script src=\"/vendor/maplibre-gl.js\"></script>", {"/x": {"name": payload}})
    embedded = html.split("window.VOIRIE_EMBED = ", 1)[1]
    assert "<" not in embedded.split(";</script>", 1)[0]
