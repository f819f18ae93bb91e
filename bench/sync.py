"""Sync benchmark: outbox writes with durability on, drain over loopback into the SQLite
server, and a short kill -9 run of a writer+sync process.

Run: ``nice -n 10 .venv/bin/python bench/sync.py`` (``--quick`` for a smaller run).
Baselines measured in the same run: a bare SQLite insert-and-commit per row with
``synchronous=FULL`` (the fsync floor a durable single put cannot beat), and the same
records POSTed to the server as pre-built gzip bodies (the server's own ceiling, no outbox).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "sync"))

from sync_records import frame_records, jpeg_bytes, run_sync_child  # noqa: E402

from voirie.edge.sync.outbox import Outbox  # noqa: E402
from voirie.edge.sync.worker import SyncSettings, SyncWorker  # noqa: E402
from voirie.server.runner import served_process  # noqa: E402

console = Console(stderr=True)
ADMIN = "bench-admin-key-0123456789abcdefgh"


@contextlib.contextmanager
def served(data_dir: Path) -> Iterator[tuple[str, str, int]]:
    """``voirie serve`` in its own process with device ``car-1``; yields (url, token, pid)."""
    with served_process(data_dir, ADMIN) as (url, process):
        answer = httpx.post(url + "/api/v1/devices", json={"device_id": "car-1"},
                            headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
        yield url, answer.raise_for_status().json()["token"], process.pid


def fsync_floor(folder: Path, rows: int) -> float:
    """Rows per second of one INSERT + COMMIT each, WAL and synchronous=FULL (no outbox logic)."""
    conn = sqlite3.connect(folder / "floor.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE r (id TEXT PRIMARY KEY, payload TEXT)")
    payloads = [(r.record_id, r.to_json()) for r in frame_records(rows)]
    started = time.perf_counter()
    for row in payloads:
        conn.execute("INSERT INTO r VALUES (?, ?)", row)
    conn.close()
    return rows / (time.perf_counter() - started)


def outbox_writes(folder: Path, rows: int, chunk: int) -> float:
    """Records per second into a fresh outbox, ``chunk`` per transaction (1 = single put)."""
    records, jpeg = frame_records(rows), jpeg_bytes(2_000)
    with Outbox(folder / f"outbox-{chunk}.sqlite3") as outbox:
        started = time.perf_counter()
        for start in range(0, rows, chunk):
            items = [(r, jpeg if r.sequence % 10 == 0 else None) for r in records[start:start + chunk]]
            if chunk == 1:
                outbox.put(*items[0])
            else:
                outbox.put_many(items)
        return rows / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_rate(folder: Path, url: str, token: str, rows: int, batch: int, pid: int) -> tuple[float, float]:
    """A full outbox drained by ``SyncWorker.sync_once`` over loopback: records per wall second,
    and per CPU second of server + worker (what the wall rate becomes with the cores to itself:
    the two alternate, so their CPU times add up)."""
    records = frame_records(rows, survey_id=f"drain-{batch}")
    with Outbox(folder / f"drain-{batch}.sqlite3") as outbox:
        for start in range(0, rows, 1000):
            outbox.put_many([(r, None) for r in records[start:start + 1000]])
        worker = SyncWorker(outbox, SyncSettings(server_url=url, device_id="car-1", token=token,
                                                 batch_records=batch, batch_bytes=8_000_000))
        started, client_cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(pid)
        report = worker.sync_once()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - client_cpu + cpu_seconds(pid) - server_cpu
        worker.close()
    if report.accepted != rows:
        raise RuntimeError(f"drain accepted {report.accepted} of {rows}: {report}")
    return rows / elapsed, rows / cpu


def server_ceiling(url: str, token: str, rows: int, batch: int) -> float:
    """Records per second of pre-built gzip batches POSTed back to back (no outbox, no worker)."""
    records = frame_records(rows, survey_id=f"ceiling-{rows}")
    bodies = [gzip.compress(json.dumps({"batch_id": f"ceiling-{rows}-{i}", "device_id": "car-1", "records": [
        {"kind": "frame_record", "record": r.to_dict()} for r in records[i:i + batch]]}).encode())
        for i in range(0, rows, batch)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            client.post("/api/v1/ingest", content=body, headers=headers).raise_for_status()
        return rows / (time.perf_counter() - started)


def kill_run(folder: Path, url: str, data_dir: Path, token: str, kills: int) -> dict[str, int]:
    """``kills`` kill -9 of a writer+sync process, then a clean run; lost/duplicated counted
    from the server's SQLite file against every id the device acknowledged."""
    rng, outbox = random.Random(11), folder / "kill-outbox.sqlite3"
    sequence_of = {r.record_id: r.sequence for r in frame_records(kills * 800 + 800)}
    acknowledged, first, sound = set(), 0, 0
    for _ in range(kills):
        printed = [rid for rid in run_sync_child(outbox, url, token, first, 800, rng.uniform(0.05, 1.0)) if rid in sequence_of]
        acknowledged.update(printed)
        first = max([first] + [sequence_of[rid] - 5 for rid in printed])  # restart a few frames back
        with sqlite3.connect(outbox) as conn:
            sound += conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    acknowledged.update(rid for rid in run_sync_child(outbox, url, token, first, 800, None, timeout_s=300) if rid in sequence_of)
    with sqlite3.connect(data_dir / "voirie.sqlite3") as conn:
        stored = [row[0] for row in conn.execute("SELECT record_id FROM frames WHERE survey_id = 'day-1'")]
        keys = conn.execute("SELECT COUNT(DISTINCT camera_id || '/' || sequence) FROM frames "
                            "WHERE survey_id = 'day-1'").fetchone()[0]
    return {"acknowledged": len(acknowledged), "stored": len(stored), "lost": len(acknowledged - set(stored)),
            "duplicated": len(stored) - keys, "kills": kills, "outbox_sound_after_kill": sound}


def main() -> None:
    """Run every measurement, print a table, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the bench)")
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    writes, drains = (300, 5_000) if args.quick else (1_000, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        console.print("outbox writes (synchronous=FULL)…")
        floor = fsync_floor(folder, writes)
        single = outbox_writes(folder, writes, 1)
        many = outbox_writes(folder, writes * 5, 50)
        with served(folder / "server") as (url, token, pid):
            console.print("drain over loopback…")
            server_ceiling(url, token, 2000, 500)  # warm-up: imports, caches, first pages of the file
            drain_default = drain_rate(folder, url, token, drains, 500, pid)
            drain_big = drain_rate(folder, url, token, drains, 2000, pid)
            ceiling = server_ceiling(url, token, drains, 2000)
            console.print(f"{args.kills} kill -9 of a writer+sync process…")
            kills = kill_run(folder, url, folder / "server", token, args.kills)
    _print_table(floor, single, many, ceiling, drain_default, drain_big, kills)
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs (shared machine: rates scale with it)")
    print(json.dumps({"load_avg_1min": round(load, 1), "drain_records_per_s": round(drain_big[0]),
                      "drain_records_per_cpu_s": round(drain_big[1]), "outbox_write_per_s": round(many),
                      "outbox_single_put_per_s": round(single), "lost": kills["lost"],
                      "duplicated": kills["duplicated"], "kills": kills["kills"]}))


def _print_table(floor: float, single: float, many: float, ceiling: float, drain_default: tuple[float, float],
                 drain_big: tuple[float, float], kills: dict[str, int]) -> None:
    print(f"fsync floor (bare INSERT+COMMIT, FULL)   {floor:9.0f} rows/s")
    print(f"outbox put (one record per commit)       {single:9.0f} rec/s  ({single / floor:.2f}x floor)")
    print(f"outbox put_many (50 per commit)          {many:9.0f} rec/s  ({many / floor:.2f}x floor, target >= 1000)")
    print(f"server ceiling (pre-built gzip, 2000)    {ceiling:9.0f} rec/s")
    for name, (wall, cpu) in (("500 (default)", drain_default), ("2000", drain_big)):
        print(f"drain, batch_records={name:14s}     {wall:9.0f} rec/s  ({wall / ceiling:.2f}x ceiling; "
              f"{cpu:.0f} rec per CPU-s of server+worker; target >= 5000)")
    print("kill -9 run: " + ", ".join(f"{k}={v}" for k, v in kills.items()))


if __name__ == "__main__":
    main()
