"""``voirie reanalyse`` on a real server database (SQLite and PostgreSQL) with real road photos,
the real ONNX Runtime and a real local Ray instance started here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import cv2
import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

from voirie.lab.sample.photos import FIRST_ROAD, photo_path
from voirie.lab.synth.records import frames_along
from voirie.models import load_detector
from voirie.reanalyse.errors import ReanalyseError
from voirie.reanalyse.job import ReanalyseOptions, run_reanalysis
from voirie.server.core.config import Settings
from voirie.server.core.db import make_engine, make_session_factory
from voirie.server.core.schema import prepare_schema
from voirie.server.models import Base
from voirie.server.snapshot import CHROMIUM_ARGS, chromium_path, wait_until

from .conftest import ADMIN_KEY, STREET

MODEL = "damage-yolo11n"  # the devices below ran "rdd-yolo"; the sample photos are real cracked roads
FRAME_SIZE = (2048, 1280)  # the photos are 1024×640: evidence as a half-size thumbnail, as devices send it


def _archive(live, photos: int, seed: int = 3) -> list:
    """Frames with the devices' own detections and a real road photo each as evidence."""
    auth = live.register("car-1")
    frames = frames_along(STREET, damage_rate=1.0, seed=seed, size=FRAME_SIZE)[:photos]
    assert live.ingest(auth, frames, "b1").status_code == 200
    for frame, sample_id in zip(frames, FIRST_ROAD):
        answer = live.client.put(f"/api/v1/evidence/{frame.record_id}", content=photo_path(sample_id).read_bytes(),
                                 headers={**auth, "Content-Type": "image/jpeg"})
        assert answer.status_code == 204, answer.text
    return frames


def _server_settings(live) -> Settings:
    return Settings(data_dir=live.data_dir, database_url=live.database_url, bootstrap_admin_key=ADMIN_KEY)


def _run(live, **options):
    settings = _server_settings(live)
    engine = make_engine(settings)
    try:
        return run_reanalysis(settings, make_session_factory(engine), ReanalyseOptions(model=MODEL, **options))
    finally:
        engine.dispose()


def _cli_env(live) -> dict[str, str]:
    """The environment ``voirie reanalyse`` reads the live server's database from."""
    return {**os.environ, "VOIRIE_DATA_DIR": str(live.data_dir), "DATABASE_URL": live.database_url,
            "VOIRIE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}


def _reanalysed(live) -> dict[str, list[tuple]]:
    rows = live.sql("SELECT record_id, class_name, confidence, x1, y1, x2, y2 FROM detections "
                    "WHERE reanalysed ORDER BY detection_id")
    found: dict[str, list[tuple]] = {}
    for record_id, *values in rows:
        found.setdefault(record_id, []).append(tuple(values))
    return found


def _same(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> None:
    assert a.keys() == b.keys()
    for record_id in a:
        assert [d[0] for d in a[record_id]] == [d[0] for d in b[record_id]], record_id
        assert np.allclose([d[1:] for d in a[record_id]], [d[1:] for d in b[record_id]], atol=1e-3), record_id


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Callable[[], str]]:
    """A real Ray instance on this machine, started by the test and shut down after it; gives its address."""
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'voirie[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data not installed (pip install 'voirie[ray]')")
    # "local": a new instance of our own, never a cluster someone else started on this machine.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield lambda: ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_ray_finds_what_local_finds_and_the_device_detections_stay(live, local_ray):
    frames = _archive(live, photos=6)
    device_before = live.sql("SELECT detection_id, class_name, confidence FROM detections ORDER BY detection_id")
    assert live.client.get("/api/v1/summary").json()["surveyed_sections"] > 0  # grades the devices' detections
    grades_before = live.sql("SELECT section_id, pci FROM sections ORDER BY section_id")
    report = _run(live, engine="local")
    assert (report.analysed, report.failed, report.pending) == (6, 0, 6)
    local = _reanalysed(live)
    assert sum(map(len, local.values())) == report.detections > 0
    # Boxes are in the frame's pixels: twice what the model finds on the stored 1024×640 photo.
    direct = load_detector(MODEL).detect(cv2.imread(str(live.data_dir / "evidence" / f"{frames[0].record_id}.jpg")))
    first = sorted(local[frames[0].record_id], key=lambda d: d[2:])
    expected = sorted((2 * np.asarray(direct.xyxy, float)).round(3).tolist())
    assert np.allclose(expected, [d[2:] for d in first], atol=0.05)
    live.sql("DELETE FROM analyses")
    live.sql("DELETE FROM detections WHERE reanalysed")
    # The command line, joining the Ray instance this test started (--address).
    done = subprocess.run([sys.executable, "-m", "voirie.cli", "reanalyse", "--model", MODEL, "--engine", "ray",
                           "--address", local_ray(), "--workers", "2", "--batch-size", "2"], env=_cli_env(live),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["analysed"] == 6
    _same(local, _reanalysed(live))
    device_after = live.sql("SELECT detection_id, class_name, confidence FROM detections WHERE NOT reanalysed "
                            "ORDER BY detection_id")
    assert device_after == device_before and len(device_before) > 0
    assert live.sql("SELECT section_id, pci FROM sections ORDER BY section_id") == grades_before


def test_the_map_and_history_compare_model_versions(live):
    _archive(live, photos=6)
    _run(live)
    versions = live.client.get("/api/v1/model-versions").json()
    reanalysis = [v for v in versions if v["source"] == "reanalysis"]
    assert [v["model"] for v in reanalysis] == [f"{MODEL}@0.3.0"] and reanalysis[0]["photos"] == 6
    assert [v["model_version"] for v in versions if v["source"] == "device"] == ["rdd-yolo@1.0"]
    surveyed = live.client.get("/api/v1/sections.geojson").json()["features"]
    by_model = live.client.get("/api/v1/sections.geojson", params={"model": f"{MODEL}@0.3.0"}).json()["features"]
    assert 0 < len(by_model) <= len([f for f in surveyed if f["properties"]["grade"] is not None])
    assert {f["properties"]["model_version"] for f in by_model} == {f"{MODEL}@0.3.0"}
    assert {f["properties"]["model_version"] for f in surveyed if f["properties"]["grade"]} == {"rdd-yolo@1.0"}
    detail = live.client.get(f"/api/v1/sections/{by_model[0]['id']}").json()
    assert detail["model_grades"][0]["model"] == f"{MODEL}@0.3.0"
    assert detail["model_grades"][0]["pci"] == by_model[0]["properties"]["pci"]
    assert all(not d["detection_id"].count(":") > 1 for f in detail["frame_records"] for d in f["detections"])
    assert live.client.get("/api/v1/sections.geojson", params={"model": "nothing@1"}).status_code == 404
    assert live.client.get("/api/v1/sections.geojson", params={"model": "no-version"}).status_code == 422


def _ledger(live) -> list[tuple]:
    return live.sql("SELECT record_id, count(*) FROM analyses GROUP BY record_id")


def test_a_killed_job_resumes_and_never_analyses_a_photo_twice(live):
    frames = _archive(live, photos=16)
    job = subprocess.Popen([sys.executable, "-m", "voirie.cli", "reanalyse", "--model", MODEL, "--batch-size", "1"],
                           env=_cli_env(live), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not _ledger(live) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)  # mid-job: between or inside a batch's transaction
    job.wait(timeout=30)
    done = len(_ledger(live))
    assert 0 < done < len(frames), f"the job was not killed midway ({done} photos done)"
    report = _run(live)
    assert report.analysed == len(frames) - done
    ledger = _ledger(live)
    assert len(ledger) == len(frames) and all(count == 1 for _, count in ledger)
    per_photo = dict(live.sql("SELECT record_id, detections FROM analyses"))
    stored = dict(live.sql("SELECT record_id, count(*) FROM detections WHERE reanalysed GROUP BY record_id"))
    assert {k: v for k, v in per_photo.items() if v} == stored  # no photo's detections stored twice
    assert _run(live).analysed == 0


def test_since_takes_only_the_newer_photos(live):
    frames = _archive(live, photos=8)
    cut = frames[5].time_utc
    report = _run(live, since=cut)
    assert report.analysed == 3
    analysed = {r for (r,) in live.sql("SELECT record_id FROM analyses")}
    assert analysed == {f.record_id for f in frames if f.time_utc >= cut}
    assert _run(live, since=cut + timedelta(days=1)).analysed == 0


@pytest.mark.parametrize("arguments, message", [
    (["--model", "no-such-model"], "no registered model named 'no-such-model'; known models"),
    (["--model", MODEL, "--since", "May 2024"], "--since must be a date"),
    (["--model", MODEL, "--since", "2024-05-01T10:00"], "has no time zone"),
    (["--model", MODEL, "--engine", "spark"], "engine must be 'local' or 'ray'"),
])
def test_bad_input_is_refused_with_a_clear_error(tmp_path, arguments, message):
    env = {**os.environ, "VOIRIE_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": ""}
    done = subprocess.run([sys.executable, "-m", "voirie.cli", "reanalyse", *arguments], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.split()), done.stderr


def test_options_refuse_bad_numbers():
    with pytest.raises(ReanalyseError, match="workers, batch size"):
        ReanalyseOptions(model=MODEL, batch_size=0)


def test_a_sqlite_file_from_an_older_server_gets_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as connection:  # the detections table as servers before model versions made it
        connection.execute(text("DROP INDEX ix_detections_model"))
        for column in ("reanalysed", "model_version", "model_id"):
            connection.execute(text(f"ALTER TABLE detections DROP COLUMN {column}"))
        connection.execute(text("INSERT INTO frames (record_id, device_id, survey_id, camera_id, sequence, time_utc, "
                                "lat, lon, image_width, image_height, has_evidence, record_json, received_at) "
                                "VALUES ('r', 'd', 's', 'c', 0, '2026-01-01', 0, 0, 1, 1, 0, '{}', '2026-01-01')"))
        connection.execute(text("INSERT INTO detections (detection_id, record_id, class_name, confidence, "
                                "x1, y1, x2, y2, review_status) VALUES ('r:0', 'r', 'pothole', 0.5, 0, 0, 1, 1, 'x')"))
    prepare_schema(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("detections")}
    assert {"model_id", "model_version", "reanalysed"} <= columns
    assert "ix_detections_model" in {i["name"] for i in inspect(engine).get_indexes("detections")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT reanalysed FROM detections")).scalar_one() == 0
    engine.dispose()


def test_the_map_page_switches_to_a_model_version(live):
    """The model selector appears once a re-analysis exists and reloads the sections with it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) not installed")
    if chromium_path() is None:
        pytest.skip("chromium not installed (Debian package 'chromium')")
    from .test_server_map_browser import _offline_page

    _archive(live, photos=6)
    _run(live)
    expected = len(live.client.get("/api/v1/sections.geojson", params={"model": f"{MODEL}@0.3.0"}).json()["features"])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page, outside, errors = _offline_page(browser, live.url)
        page.goto(live.url + "/")
        wait_until(page, "window.voirieReady === true", 90_000)
        assert page.is_visible("#model-choice")
        surveyed = page.evaluate("window.voirieSectionsRendered")
        with page.expect_response(lambda r: "model=damage-yolo11n" in r.url):
            page.select_option("select[name=model]", f"{MODEL}@0.3.0")
        wait_until(page, f"window.voirieSectionsRendered === {expected}", 30_000)
        # The source is re-tiled in a worker after setData: wait until the drawn data is the model's.
        wait_until(page, "(m => m.length > 0 && m.every(f => f.properties.model_version === '%s@0.3.0'))"
                         "(window.voirieMap.querySourceFeatures('sections'))" % MODEL, 30_000)
        browser.close()
    assert surveyed >= expected > 0
    assert not outside and not errors, (outside, errors)
