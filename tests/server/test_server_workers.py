"""``voirie serve --workers 2`` on both backends: two worker processes share one database
(schema upgraded once, grades recomputed once) and answer ingest and reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from voirie.lab.synth.records import frames_along
from voirie.server.runner import served_process

from .conftest import ADMIN_KEY, STREET


def _workers(pid: int) -> list[int]:
    """Worker processes uvicorn spawned under ``pid`` (not multiprocessing's resource tracker)."""
    return [child for child in _children(pid)
            if b"spawn_main" in (Path("/proc") / str(child) / "cmdline").read_bytes()]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_two_workers_serve_one_database(tmp_path: Path, fresh_database: Callable[[], str]):
    env = {"DATABASE_URL": url} if (url := fresh_database()) else {}
    with served_process(tmp_path / "data", ADMIN_KEY, env=env, workers=2) as (base, process), \
            httpx.Client(base_url=base, timeout=60) as client:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        token = client.post("/api/v1/devices", json={"device_id": "car-1"}, headers=admin).json()["token"]
        frames = frames_along(STREET, seed=3)
        body = {"batch_id": "b1", "device_id": "car-1",
                "records": [{"kind": "frame_record", "record": f.to_dict()} for f in frames]}
        answer = client.post("/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and len(answer.json()["accepted"]) == len(frames)
        # Several reads land on both workers: every one sees the same grades (one generation).
        generations = {client.get("/api/v1/sections.geojson").headers["x-voirie-generation"] for _ in range(8)}
        assert len(generations) == 1
        assert len(_workers(process.pid)) == 2
