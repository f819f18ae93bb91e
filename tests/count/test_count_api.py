"""The counts router on a real SQLite database, served over real HTTP on 127.0.0.1."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, create_engine, insert
from sqlalchemy.orm import Session

from voirie.records import CountBin
from voirie.server.runner import ServerThread
from voirie.server.api.routes.counts import create_counts_router

MONDAY = datetime(2026, 5, 4, tzinfo=timezone.utc)


def make_db(path):
    engine = create_engine(f"sqlite:///{path}")
    metadata = MetaData()
    table = Table("count_bins", metadata, Column("record_id", String, primary_key=True),
                  *(Column(n, String) for n in ("device_id", "camera_id", "line_id", "direction", "class_name")),
                  Column("bin_start_utc", DateTime), Column("bin_seconds", Integer), Column("count", Integer),
                  Column("mean_speed_kmh", Float), Column("status", String), Column("received_at", DateTime))
    metadata.create_all(engine)
    rows = []
    for q in range(2 * 96):
        start = MONDAY + timedelta(minutes=15 * q)
        for cls, n in (("car", 8 if start.hour == 17 else 2), ("bicycle", 1)):
            b = CountBin(record_id=CountBin.make_id("d", "cam", "main", "in", cls, start), device_id="d",
                         camera_id="cam", line_id="main", direction="in", class_name=cls, bin_start_utc=start,
                         count=n, mean_speed_kmh=30.0)
            rows.append(b.model_dump() | {"bin_start_utc": start.replace(tzinfo=None), "received_at": None})
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
    return engine


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    engine = make_db(tmp_path_factory.mktemp("db") / "counts.sqlite")

    def get_db():
        with Session(engine) as session:
            yield session

    app = FastAPI()
    app.include_router(create_counts_router(get_db))
    with ServerThread(app) as server:
        yield server.url


def test_telraam_shaped_traffic(base_url):
    reply = httpx.get(f"{base_url}/counts/traffic", params={"camera_id": "cam", "start": "2026-05-04T17:00:00Z",
                                                            "end": "2026-05-04T18:00:00Z"})
    assert reply.status_code == 200
    report = reply.json()["report"]
    assert len(report) == 4 and all(r["car"] == 8 and r["bike"] == 1 and r["uptime"] == 1.0 for r in report)


def test_profile_daily_compare_and_csv(base_url):
    profile = httpx.get(f"{base_url}/counts/profile", params={"class_name": "car"}).json()
    assert profile["peak_hour"]["weekday"] == [17, 32.0] and profile["bike_share"] == pytest.approx(192 / (192 + 2 * 216), abs=1e-3)
    daily = httpx.get(f"{base_url}/counts/daily").json()
    assert {(d["day"], d["class_name"], d["count"]) for d in daily} >= {("2026-05-04", "car", 216)}
    compare = httpx.get(f"{base_url}/counts/compare", params={
        "before_start": "2026-05-04T00:00:00", "before_end": "2026-05-05T00:00:00",
        "after_start": "2026-05-05T00:00:00", "after_end": "2026-05-06T00:00:00"}).json()
    assert {c["class_name"]: c["change"] for c in compare} == {"bicycle": 0.0, "car": 0.0}
    csv_reply = httpx.get(f"{base_url}/counts/export.csv", params={"line_id": "main"})
    assert csv_reply.headers["content-type"].startswith("text/csv") and len(csv_reply.text.splitlines()) == 385


def test_bad_queries_are_clear_errors(base_url):
    reply = httpx.get(f"{base_url}/counts/bins", params={"start": "2026-05-05", "end": "2026-05-04"})
    assert reply.status_code == 422 and "after start" in reply.json()["detail"]
    assert httpx.get(f"{base_url}/counts/profile", params={"tz": "Mars/Olympus"}).status_code == 422
    assert httpx.get(f"{base_url}/counts/bins", params={"start": "yesterday"}).status_code == 422
