"""Server hardening: record squatting, the detection cap and export memory, evidence
re-encoding, decompression bombs. Real HTTP on 127.0.0.1, real SQLite; the memory test
runs ``voirie serve`` in its own process and reads its peak RSS from /proc."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import httpx
import pytest
from PIL import ExifTags, Image

from voirie.records import Detection, FrameRecord
from voirie.server.runner import served_process
from voirie.lab.synth.records import evidence_jpeg, frames_along

from .conftest import ADMIN_KEY, STREET, start_server

CAP = 1000  # Settings.max_detections_per_record default


def _with_detections(frame: FrameRecord, count: int) -> FrameRecord:
    boxes = tuple(Detection(class_name="transverse_crack", confidence=0.5,
                            box_xyxy=(i % 1000, 400.0, i % 1000 + 40.0, 440.0)) for i in range(count))
    return frame.model_copy(update={"detections": boxes})


def test_a_device_cannot_squat_another_devices_record_ids(live):
    car1, car2 = live.register("car-1"), live.register("car-2")
    theirs = frames_along(STREET, device_id="car-2", seed=2)[:3]
    # car-1 sends records under its own name but with car-2's ids: refused, nothing stored.
    squat = [f.model_copy(update={"device_id": "car-1"}) for f in theirs]
    answer = live.ingest(car1, squat, "squat")
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "record_id"
    assert live.sql("SELECT COUNT(*) FROM frames") == [(0,)]
    # car-2's real upload is accepted, not answered "duplicate" (its outbox would prune it).
    answer = live.ingest(car2, theirs, "real")
    assert answer.status_code == 200 and answer.json()["accepted"] == [f.record_id for f in theirs]


def test_ids_squatted_before_the_check_are_refused_not_called_duplicates(live):
    car2 = live.register("car-2")
    live.register("car-1")
    theirs = frames_along(STREET, device_id="car-2", seed=2)[:2]
    live.sql("INSERT INTO frames (record_id, device_id, survey_id, camera_id, sequence, time_utc, lat, lon, "  # a row from an older server
             "image_width, image_height, has_evidence, record_json, received_at) VALUES "
             f"('{theirs[0].record_id}', 'car-1', 's', 'c', 0, '2026-01-01 00:00:00', 0, 0, 1, 1, FALSE, '{{}}', "
             "'2026-01-01 00:00:00')")
    answer = live.ingest(car2, theirs, "b1")
    assert answer.status_code == 409 and theirs[0].record_id in answer.text
    assert live.sql("SELECT device_id FROM frames") == [("car-1",)]  # nothing else written


def test_detections_per_record_are_capped(live):
    auth = live.register("car-1")
    frame = frames_along(STREET, seed=5)[0]
    answer = live.ingest(auth, [_with_detections(frame, CAP + 1)], "over")
    assert answer.status_code == 422
    assert answer.json()["detail"] == [{"index": 0, "field": "detections",
                                        "message": f"{CAP + 1} detections; at most {CAP} per frame record"}]
    assert live.ingest(auth, [_with_detections(frame, CAP)], "at-cap").status_code == 200
    assert live.sql("SELECT COUNT(*) FROM detections") == [(CAP,)]


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


# 10 frames at the cap = 10,000 detections whose frames' JSON is ~170 kB each. Loading that
# JSON per detection (the old exports) peaked at ~1.7 GB here; streaming stays far below.
EXPORT_PEAK_BOUND_MIB = 80


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the server's peak RSS")
def test_exports_at_the_detection_cap_stay_in_bounded_memory(tmp_path):
    with served_process(tmp_path / "data", ADMIN_KEY) as (url, process), httpx.Client(base_url=url, timeout=120) as client:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        token = client.post("/api/v1/devices", json={"device_id": "car-1"}, headers=admin).json()["token"]
        frames = [_with_detections(f, CAP) for f in frames_along(STREET, seed=6)[:10]]
        body = {"batch_id": "cap", "device_id": "car-1",
                "records": [{"kind": "frame_record", "record": f.to_dict()} for f in frames]}
        client.post("/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        client.get("/api/v1/summary").raise_for_status()  # grades computed before measuring
        before = _rss_kib(process.pid, "VmRSS")
        Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        gpkg = client.get("/api/v1/exports/detections.gpkg")
        items = client.get("/collections/detections/items", params={"limit": 10_000})
        peak = _rss_kib(process.pid, "VmHWM")
    assert gpkg.status_code == 200 and gpkg.content[:15] == b"SQLite format 3"
    assert items.status_code == 200 and items.json()["numberReturned"] == 10 * CAP
    grown_mib = (peak - before) / 1024
    print(f"exports of {10 * CAP} detections at the cap: peak +{grown_mib:.1f} MiB over {before / 1024:.0f} MiB")
    assert grown_mib < EXPORT_PEAK_BOUND_MIB, f"exports grew the server by {grown_mib:.0f} MiB"


def _jpeg_with_extras(frame: FrameRecord) -> bytes:
    """The frame's evidence with GPS and maker tags, a comment, and a second file after the end marker."""
    image = Image.open(io.BytesIO(evidence_jpeg(frame)))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SECRET-MAKER"
    exif[ExifTags.Base.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (48.0, 51.0, 3.6),
                                   ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (2.0, 21.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    comment = b"HIDDEN-COMMENT"
    com_segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return out.getvalue()[:2] + com_segment + out.getvalue()[2:] + b"PK\x03\x04HIDDEN-ZIP-AFTER-EOI"


def test_evidence_is_reencoded_keeping_only_gps(live):
    auth = live.register("car-1")
    frame = frames_along(STREET, damage_rate=1, seed=3)[0]
    assert live.ingest(auth, [frame], "b1").status_code == 200
    url = f"/api/v1/evidence/{frame.record_id}"
    sent = _jpeg_with_extras(frame)
    assert live.client.put(url, content=sent, headers={**auth, "Content-Type": "image/jpeg"}).status_code == 204
    stored = live.client.get(url, headers=live.key("viewer")).content
    for hidden in (b"SECRET-MAKER", b"HIDDEN-COMMENT", b"HIDDEN-ZIP-AFTER-EOI"):
        assert hidden in sent and hidden not in stored
    image = Image.open(io.BytesIO(stored))
    gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert gps[ExifTags.GPS.GPSLatitudeRef] == "N" and float(gps[ExifTags.GPS.GPSLatitude][0]) == 48.0
    assert image.size == Image.open(io.BytesIO(sent)).size


def _claims_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0) rewritten to claim ``width`` x ``height`` pixels."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[:at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[at + 9:]


def test_evidence_that_does_not_decode_or_is_a_bomb_is_refused(live):
    auth = live.register("car-1")
    frame = frames_along(STREET, damage_rate=1, seed=3)[0]
    assert live.ingest(auth, [frame], "b1").status_code == 200
    url = f"/api/v1/evidence/{frame.record_id}"
    put = lambda body: live.client.put(url, content=body, headers={**auth, "Content-Type": "image/jpeg"})  # noqa: E731
    jpeg = evidence_jpeg(frame)
    truncated = put(jpeg[: len(jpeg) // 2])
    assert truncated.status_code == 422 and "does not decode" in truncated.text
    assert put(b"\xff\xd8\xff\xe0" + b"\x00" * 200).status_code == 422
    bomb = put(_claims_size(jpeg, 60_000, 60_000))  # 3.6 gigapixels in a few kB
    assert bomb.status_code == 413 and "pixels" in bomb.text
    over = put(_claims_size(jpeg, 8000, 6000))  # 48 MP: over our 40 MP bound, under Pillow's own
    assert over.status_code == 413 and "at most 40000000 pixels" in over.text
    assert live.sql("SELECT has_evidence FROM frames") == [(0,)]
    assert not (live.data_dir / "evidence" / f"{frame.record_id}.jpg").exists()


def test_photos_open_to_the_public_only_when_configured(tmp_path, fresh_database):
    server, live = start_server(tmp_path, fresh_database(), public_photos=True)
    try:
        auth = live.register("car-1")
        frame = frames_along(STREET, damage_rate=1, seed=3)[0]
        assert live.ingest(auth, [frame], "b1").status_code == 200
        url = f"/api/v1/evidence/{frame.record_id}"
        live.client.put(url, content=evidence_jpeg(frame), headers={**auth, "Content-Type": "image/jpeg"}).raise_for_status()
        assert live.client.get(url).status_code == 200
        assert live.client.get("/api/v1/map-config").json()["photos_public"] is True
    finally:
        live.close()
        server.stop()
